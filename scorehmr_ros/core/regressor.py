"""Per-view regressor g: one view's 2D keypoints + intrinsics → (features c, θ_init, β, t_cam).

HMR 2.0 / PARE weights cannot be obtained here, so the first estimate comes from keypoints.
Input: BlazePose-33 keypoints normalised to the person's box (x, y in about [-1, 1]) with their
confidences, plus the box's focal-normalised size and centre ray (so perspective is known).
Output: c (used to condition the diffusion prior), the pose as 24 × 6D (global orientation in the
camera frame first) and betas; :func:`solve_translation` then places the predicted body in the
camera frame with full perspective and the view's real intrinsics (least squares on the keypoints).

Interface kept generic — ``features, init = regressor(observation)`` — so an image backbone can
replace it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scorehmr_ros.core.body_model import pose6d_to_rotmat
from scorehmr_ros.core.camera import estimate_translation
from scorehmr_ros.core.checkpoint import build_from_checkpoint

NUM_KEYPOINTS = 33
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "regressor.pt"


@dataclass(frozen=True)
class RegressorConfig:
    num_keypoints: int = NUM_KEYPOINTS
    width: int = 512
    num_blocks: int = 3
    feature_dim: int = 128
    num_betas: int = 10


@dataclass
class RegressorOutput:
    """features: (B, C). pose6d: (B, 144). rotations: (B, 24, 3, 3). betas: (B, 10)."""

    features: torch.Tensor
    pose6d: torch.Tensor
    rotations: torch.Tensor
    betas: torch.Tensor


def normalise_keypoints(
    keypoints: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor, min_conf: float = 0.2
) -> torch.Tensor:
    """(B, K, 2) px, (B, K), (B, 3, 3) → (B, 3K + 3) network input.

    The box is the confident keypoints' extent (square, 1.2× margin). Features: normalised xy,
    confidence per keypoint; box size / focal; box centre ray ((c - principal point) / focal).
    """
    w = (confidence > min_conf).float()
    big = 1e6
    lo = torch.where(w.bool().unsqueeze(-1), keypoints, torch.full_like(keypoints, big)).amin(1)
    hi = torch.where(w.bool().unsqueeze(-1), keypoints, torch.full_like(keypoints, -big)).amax(1)
    valid = w.sum(1, keepdim=True) >= 2
    centre = torch.where(valid, (lo + hi) / 2, K[:, :2, 2])
    size = torch.where(valid, (hi - lo).amax(-1, keepdim=True) * 1.2, torch.full_like(centre[:, :1], 100.0))
    size = size.clamp(min=20.0)
    xy = (keypoints - centre.unsqueeze(1)) / size.unsqueeze(1) * 2
    xy = torch.where(w.unsqueeze(-1).bool(), xy.clamp(-3, 3), torch.zeros_like(xy))
    focal = K[:, 0, 0:1]
    ray = (centre - K[:, :2, 2]) / focal
    conf = confidence.clamp(0, 1) * (confidence > min_conf)
    return torch.cat([xy.flatten(1), conf, size / focal, ray], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width)
        )

    def forward(self, h):
        return h + self.net(h)


class KeypointRegressor(nn.Module):
    """g(keypoints, confidence, K) → RegressorOutput (translation solved separately)."""

    def __init__(self, cfg: RegressorConfig = RegressorConfig()):
        super().__init__()
        self.cfg = cfg
        in_dim = 3 * cfg.num_keypoints + 3
        self.stem = nn.Linear(in_dim, cfg.width)
        self.blocks = nn.Sequential(*[_ResBlock(cfg.width) for _ in range(cfg.num_blocks)])
        self.to_features = nn.Sequential(nn.LayerNorm(cfg.width), nn.Linear(cfg.width, cfg.feature_dim))
        self.head = nn.Sequential(nn.GELU(), nn.Linear(cfg.feature_dim, 144 + cfg.num_betas))
        identity6d = torch.tensor([1.0, 0, 0, 0, 1.0, 0]).repeat(24)
        self.register_buffer("pose_bias", identity6d)

    def forward(self, keypoints: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor) -> RegressorOutput:
        h = self.blocks(self.stem(normalise_keypoints(keypoints, confidence, K)))
        features = self.to_features(h)
        out = self.head(features)
        pose6d = out[:, :144] + self.pose_bias
        betas = out[:, 144:]
        return RegressorOutput(features, pose6d, pose6d_to_rotmat(pose6d), betas)


def solve_translation(
    body_model, out: RegressorOutput, keypoints: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor
) -> torch.Tensor:
    """Camera-frame smplx transl (B, 3) placing the predicted body on the keypoints (full perspective)."""
    rot = out.rotations
    kp3d = body_model.pose_keypoints(rot[:, 0], rot[:, 1:], out.betas, layout="blazepose33")
    w = confidence.clamp(0, 1) * (confidence > 0.2)
    t = estimate_translation(kp3d, keypoints, w, K)
    # Too few keypoints for a stable solve: a body 3 m in front of the camera.
    enough = (w > 0).sum(1) >= 4
    fallback = torch.tensor([0.0, 0.0, 3.0], dtype=t.dtype).expand_as(t)
    return torch.where(enough.unsqueeze(-1), t, fallback)


def load_regressor(path: str | Path | None = None) -> KeypointRegressor:
    """The packaged (or given) trained regressor, in eval mode (``weights_only=True`` loading)."""
    model, _ = build_from_checkpoint(path or DEFAULT_WEIGHTS, KeypointRegressor, RegressorConfig)
    return model
