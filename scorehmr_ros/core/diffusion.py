"""Diffusion schedule and deterministic DDIM steps (sampling and inversion).

Notation: ``abar[t]`` = ᾱ_t, the cumulative product of (1 - β) for integer t in [0, T).
A DDIM step from t to s (s < t: sampling, s > t: inversion) with ε̂ and η = 0:

    x̂0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t ,   x_s = √ᾱ_s x̂0 + √(1-ᾱ_s) ε̂

with ᾱ_{-1} := 1 (the "final alpha" of diffusers' DDIMScheduler with set_alpha_to_one=True).
Checked against diffusers' DDIMScheduler / DDIMInverseScheduler in test/test_diffusion.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def cosine_betas(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine β schedule (Nichol & Dhariwal 2021), (T,) float64, as diffusers' "squaredcos_cap_v2"."""

    def f(t: float) -> float:
        return math.cos((t + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f((i + 1) / num_steps) / f(i / num_steps), max_beta) for i in range(num_steps)]
    return torch.tensor(betas, dtype=torch.float64)


@dataclass(frozen=True)
class Schedule:
    """ᾱ table for T steps. ``abar``: (T,) float64."""

    abar: torch.Tensor

    @classmethod
    def cosine(cls, num_steps: int = 1000) -> Schedule:
        return cls(torch.cumprod(1.0 - cosine_betas(num_steps), dim=0))

    @property
    def num_steps(self) -> int:
        return self.abar.shape[0]

    def alpha_bar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_t broadcast as a column for ``like`` (B, D); t = -1 gives 1."""
        if isinstance(t, int):  # the refiner's common case: one step for the whole batch
            value = float(self.abar[t]) if t >= 0 else 1.0
            return like.new_full((like.shape[0], 1), value)
        t = torch.as_tensor(t).long()
        abar = torch.where(t >= 0, self.abar[t.clamp(min=0)], torch.ones((), dtype=torch.float64))
        return abar.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1))).expand(like.shape[0], 1)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward process q(x_t | x_0) for per-sample integer steps t (B,)."""
        a = self.alpha_bar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


def predict_x0(schedule: Schedule, x_t: torch.Tensor, eps: torch.Tensor, t) -> torch.Tensor:
    """x̂0 from x_t and ε̂ at step t. Shapes (B, D)."""
    a = schedule.alpha_bar(t, x_t)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def ddim_step(schedule: Schedule, x_t: torch.Tensor, eps: torch.Tensor, t, s) -> torch.Tensor:
    """Deterministic DDIM move from step t to step s (either direction), given ε̂ at t. (B, D)."""
    x0 = predict_x0(schedule, x_t, eps, t)
    a_s = schedule.alpha_bar(s, x_t)
    return a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps


def step_ladder(tau: int, step: int) -> list[int]:
    """Timesteps visited between 0 and τ: [0, step, 2·step, ..., τ] (τ a multiple of step)."""
    if tau <= 0 or step <= 0 or tau % step:
        raise ValueError(f"tau ({tau}) must be a positive multiple of step ({step})")
    return list(range(0, tau + 1, step))
