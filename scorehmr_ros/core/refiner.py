"""refine(): ScoreHMR's loop — K × [DDIM inversion 0→τ ; guided DDIM τ→0] — re-entrant.

No state is kept between calls and inputs are never edited in place. At each guided step:

    ε̂ = ε_φ(x_t, t, c)                       (no gradient through ε_φ unless configured)
    x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t  → body model (keypoints only) → projection
    L = Σ w_i term_i(x̂0, ...) ;  g = ∂L/∂x_t ;  ε̂ ← ε̂ + s·√(1−ᾱ_t)·g ;  DDIM update
    one Adam step on the camera translation.

Samples stop early when the relative change of their guidance loss between iterations falls
below ``early_stop_rel``; their result is then frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat
from scorehmr_ros.core.camera import PinholeCameras
from scorehmr_ros.core.diffusion import Schedule, ddim_step, predict_x0, step_ladder
from scorehmr_ros.core.guidance import BodyState, Observations, WeightedTerm, total_loss

DenoiseFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RefineConfig:
    """tau/step: inversion depth and stride on the 1000-step schedule; iterations: K."""

    tau: int = 50
    step: int = 2
    iterations: int = 10
    guidance_scale: float = 1.0
    transl_lr: float = 1e-2
    early_stop_rel: float = 1e-3
    grad_through_denoiser: bool = False
    layout: str = "blazepose33"


# The paper's multi-view schedule (used by scripts/bench_speed.py); eval/variants.py has the tuned ones.
MULTI_VIEW = RefineConfig(tau=100, step=10, iterations=2)


@dataclass
class RefineResult:
    """x0: (B, 144) refined pose; rotations (B, 24, 3, 3); transl (B, 3); loss (B,) final guidance loss.

    iterations_run: (B,) iterations each sample took before stopping. Counters: denoiser/body calls
    (batched calls, and sample-evaluations).
    """

    x0: torch.Tensor
    rotations: torch.Tensor
    transl: torch.Tensor
    loss: torch.Tensor
    iterations_run: torch.Tensor
    denoiser_calls: int = 0
    body_calls: int = 0
    loss_history: list[torch.Tensor] = field(default_factory=list)


def body_state(
    body_model, x0: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor, layout: str
) -> BodyState:
    """Keypoints of pose x0 (B, 144) in the camera frame, without the mesh."""
    rot = pose6d_to_rotmat(x0.reshape(-1, 24, 6))
    kp = body_model.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl, layout)
    return BodyState(rot, kp, transl)


def refine(
    x_init: torch.Tensor,
    cond: torch.Tensor,
    betas: torch.Tensor,
    transl_init: torch.Tensor,
    cameras: PinholeCameras,
    obs: Observations,
    terms: Sequence[WeightedTerm],
    config: RefineConfig,
    denoiser: DenoiseFn,
    body_model,
    schedule: Schedule,
) -> RefineResult:
    """Refine a batch of pose estimates (B, 144) with conditioning (B, C) toward the observations.

    betas (B, nb) are held fixed; transl_init (B, 3) camera-frame translations are optimised.
    """
    levels = step_ladder(config.tau, config.step)
    B = x_init.shape[0]
    x = x_init.detach().clone()
    transl = transl_init.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([transl], lr=config.transl_lr)
    cond = cond.detach()
    active = torch.ones(B, dtype=torch.bool)
    iterations_run = torch.zeros(B, dtype=torch.long)
    prev_loss = torch.full((B,), float("inf"))
    transl_final = transl.detach().clone()  # last translation of each sample while it was active
    history: list[torch.Tensor] = []
    counts = {"denoiser": 0, "body": 0}

    def eps_at(x_t: torch.Tensor, level: int) -> torch.Tensor:
        counts["denoiser"] += 1
        return denoiser(x_t, torch.full((B,), level, dtype=torch.long), cond)

    def level_index(level: int) -> int:  # level 0 is the clean sample (ᾱ = 1)
        return level if level > 0 else -1

    for _ in range(config.iterations):
        if not active.any():
            break
        # 1) deterministic DDIM inversion of the current estimate, 0 → τ (denoiser only).
        x_t = x
        with torch.no_grad():
            for cur, nxt in pairwise(levels):
                x_t = ddim_step(schedule, x_t, eps_at(x_t, cur), level_index(cur), nxt)
        # 2) guided deterministic DDIM, τ → 0, with one translation step per guided step.
        for prv, cur in reversed(list(pairwise(levels))):
            x_req = x_t.detach().requires_grad_(True)
            if config.grad_through_denoiser:
                eps = eps_at(x_req, cur)
            else:
                with torch.no_grad():
                    eps = eps_at(x_req.detach(), cur)
            x0_hat = predict_x0(schedule, x_req, eps, cur)
            counts["body"] += 1
            loss, _ = total_loss(
                terms, x0_hat, body_state(body_model, x0_hat, betas, transl, config.layout), cameras, obs
            )
            if loss.requires_grad:
                grad_x, grad_t = torch.autograd.grad(loss.sum(), [x_req, transl], allow_unused=True)
            else:  # no guidance terms: plain DDIM inversion + sampling
                grad_x, grad_t = None, None
            grad_x = torch.nan_to_num(grad_x) if grad_x is not None else torch.zeros_like(x_t)
            abar = schedule.alpha_bar(cur, x_t)
            eps_guided = eps.detach() + config.guidance_scale * (1 - abar).sqrt() * grad_x
            x_t = ddim_step(schedule, x_t.detach(), eps_guided, cur, level_index(prv))
            opt.zero_grad(set_to_none=True)
            transl.grad = None if grad_t is None else torch.nan_to_num(grad_t) * active.unsqueeze(-1)
            opt.step()
            with torch.no_grad():  # Adam's momentum must not move stopped samples
                transl.copy_(torch.where(active.unsqueeze(-1), transl, transl_final))
        x = torch.where(active.unsqueeze(-1), x_t.detach(), x)
        iterations_run += active.long()
        transl_final = torch.where(active.unsqueeze(-1), transl.detach(), transl_final)
        # 3) per-sample early stopping on the relative change of the guidance loss.
        with torch.no_grad():
            counts["body"] += 1
            loss, _ = total_loss(
                terms, x, body_state(body_model, x, betas, transl, config.layout), cameras, obs
            )
        history.append(loss.detach().clone())
        rel = (prev_loss - loss).abs() / prev_loss.abs().clamp(min=1e-9)
        active &= ~(rel < config.early_stop_rel)
        prev_loss = loss
    rotations = pose6d_to_rotmat(x.reshape(-1, 24, 6))
    return RefineResult(
        x0=x,
        rotations=rotations,
        transl=transl_final,
        loss=prev_loss,
        iterations_run=iterations_run,
        denoiser_calls=counts["denoiser"],
        body_calls=counts["body"],
        loss_history=history,
    )
