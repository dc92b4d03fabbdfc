"""ε_φ(x_t, t, c): the residual-MLP denoiser over SMPL pose (24 × 6D = 144-D), as in ScoreHMR.

Timestep t (integer) → sinusoidal embedding → small MLP. Each residual block scales and shifts
the 144-D state with the time embedding, concatenates the conditioning c, then
LayerNorm → Linear(→width) → GELU → LayerNorm → Linear(→144), and adds the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scorehmr_ros.core.checkpoint import build_from_checkpoint

POSE_DIM = 24 * 6
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "denoiser.pt"


@dataclass(frozen=True)
class DenoiserConfig:
    cond_dim: int = 128
    width: int = 512
    num_blocks: int = 3
    time_embed_dim: int = 128
    x_dim: int = POSE_DIM


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) integer or float timesteps → (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class _Block(nn.Module):
    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.film = nn.Linear(cfg.time_embed_dim, 2 * cfg.x_dim)
        self.net = nn.Sequential(
            nn.LayerNorm(cfg.x_dim + cfg.cond_dim),
            nn.Linear(cfg.x_dim + cfg.cond_dim, cfg.width),
            nn.GELU(),
            nn.LayerNorm(cfg.width),
            nn.Linear(cfg.width, cfg.x_dim),
        )

    def forward(self, h: torch.Tensor, temb: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(temb).chunk(2, dim=-1)
        z = h * (1 + scale) + shift
        return h + self.net(torch.cat([z, c], dim=-1))


class Denoiser(nn.Module):
    """ε̂ = f(x_t (B,144), t (B,) int, c (B,cond_dim)) → (B,144)."""

    def __init__(self, cfg: DenoiserConfig = DenoiserConfig()):
        super().__init__()
        self.cfg = cfg
        self.time_mlp = nn.Sequential(
            nn.Linear(cfg.time_embed_dim, cfg.time_embed_dim),
            nn.SiLU(),
            nn.Linear(cfg.time_embed_dim, cfg.time_embed_dim),
        )
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.num_blocks))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device).expand(x_t.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.cfg.time_embed_dim))
        h = x_t
        for block in self.blocks:
            h = block(h, temb, c)
        return h

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_denoiser(path: str | Path | None = None) -> Denoiser:
    """The packaged (or given) EMA denoiser in eval mode (``weights_only=True`` loading)."""
    model, _ = build_from_checkpoint(path or DEFAULT_WEIGHTS, Denoiser, DenoiserConfig)
    return model
