"""Random single-view training/evaluation samples: a posed body seen by a random camera.

Used to train the per-view regressor and the diffusion prior (training clips only, augmented),
and to evaluate them on held-out clips. Everything is in the camera's optical frame: the
global orientation target is ``R_cam @ R_global`` and the translation is camera-frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scorehmr_ros.core.camera import PinholeCameras, project, world_to_camera
from scorehmr_ros.sim.scene import (
    HEAVY_TRAINING,
    KeypointCorruption,
    corrupt_keypoints,
    interpolate_corruption,
    random_cameras,
)

LAYOUT = "blazepose33"
# Where sampled bodies stand in the world: pelvis about 0.95 m above the floor, near the origin.
PELVIS_HEIGHT = 0.95


@dataclass(frozen=True)
class CorruptionRange:
    """Corruption drawn per chunk of a batch: each of ``chunks`` equal parts gets a random level
    ``max(0, u)`` with ``u ~ U(-zero_share / (1 - zero_share), 1)`` between ``mild`` (0) and ``heavy``
    (1), so ``zero_share`` of the chunks see the mild detector exactly and the rest spread evenly up
    to the heavy one (:func:`~scorehmr_ros.sim.scene.interpolate_corruption`)."""

    mild: KeypointCorruption = field(default_factory=KeypointCorruption)
    heavy: KeypointCorruption = HEAVY_TRAINING
    chunks: int = 8
    zero_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.zero_share < 1.0 or self.chunks < 1:
            raise ValueError(f"CorruptionRange: zero_share in [0, 1) and chunks >= 1, got {self}")

    def levels(self, generator: torch.Generator) -> torch.Tensor:
        """(chunks,) corruption levels in [0, 1]."""
        low = -self.zero_share / (1.0 - self.zero_share)
        u = low + (1.0 - low) * torch.rand(self.chunks, generator=generator, dtype=torch.float64)
        return u.clamp(min=0.0)


def _corrupt(uv, depth, image_size, generator, corruption) -> tuple[torch.Tensor, ...]:
    """corrupt_keypoints with one KeypointCorruption, or chunk by chunk with a CorruptionRange.
    Returns (uv (B, K, 2), confidence (B, K), level (B,) or None)."""
    if isinstance(corruption, KeypointCorruption):
        return (*corrupt_keypoints(uv, depth, image_size, generator, corruption), None)
    levels = corruption.levels(generator)
    parts = torch.arange(uv.shape[0]).chunk(corruption.chunks)
    per_sample = torch.cat([level.expand(len(idx)) for idx, level in zip(parts, levels, strict=False)])
    out = [
        corrupt_keypoints(
            uv[idx], depth[idx], image_size[idx], generator,
            interpolate_corruption(corruption.mild, corruption.heavy, float(level)),
        )
        for idx, level in zip(parts, levels, strict=False)
    ]  # fmt: skip
    return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out]), per_sample.float()


@dataclass
class ViewBatch:
    """B single-view samples.

    keypoints: (B, K, 2) px; confidence: (B, K); cameras: B cameras (K, image_size used).
    rotations: (B, 24, 3, 3) ground truth, index 0 = global orientation in the camera frame.
    betas: (B, 10). transl: (B, 3) smplx transl in the camera frame. joints: (B, 24, 3) camera frame.
    corruption_level: (B,) level in [0, 1] of a :class:`CorruptionRange` (None: one fixed model).
    """

    keypoints: torch.Tensor
    confidence: torch.Tensor
    cameras: PinholeCameras
    rotations: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    joints: torch.Tensor
    corruption_level: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.keypoints.shape[0]


def sample_views(
    body_model,
    poses: torch.Tensor,
    generator: torch.Generator,
    corruption: KeypointCorruption | CorruptionRange | None = None,
    betas_std: float = 1.0,
) -> ViewBatch:
    """One random camera per pose. ``poses``: (B, 24, 3, 3) world-frame SMPL rotations.

    ``corruption``: one detector model for the whole batch (default: the mild one), or a
    :class:`CorruptionRange` drawing a level per chunk of the batch."""
    B = poses.shape[0]
    corruption = corruption or KeypointCorruption()
    betas = (torch.randn(B, body_model.num_betas, generator=generator) * betas_std).clamp(-2.5, 2.5)
    cams = random_cameras(B, generator)
    jitter = (torch.rand(B, 3, generator=generator) - 0.5) * torch.tensor([0.6, 0.3, 0.6])
    transl_world = torch.tensor([0.0, PELVIS_HEIGHT, 0.0]) + jitter
    # Express the body directly in each camera frame: rotate the global orientation and move the
    # translation; the body model's pelvis offset makes transl and pelvis differ, handled exactly
    # by rotating about the model origin (SMPL rotates the body about its pelvis joint).
    global_cam = cams.R @ poses[:, 0]
    with torch.no_grad():
        # (B, 3) pelvis of the unposed body (depends on betas only)
        rest = body_model.skeleton(torch.eye(3).expand(B, 3, 3), poses[:, 1:], betas)[:, 0]
        pelvis_world = transl_world + rest
        pelvis_cam = world_to_camera(pelvis_world.unsqueeze(1), cams.R, cams.t)[:, 0]
        transl_cam = pelvis_cam - rest
        kp3d = body_model.pose_keypoints(global_cam, poses[:, 1:], betas, transl_cam, LAYOUT)
        joints = body_model.skeleton(global_cam, poses[:, 1:], betas, transl_cam)
        uv = project(kp3d, cams.K)
        noisy, conf, level = _corrupt(uv, kp3d[..., 2], cams.image_size, generator, corruption)
    rotations = torch.cat([global_cam.unsqueeze(1), poses[:, 1:]], dim=1)
    return ViewBatch(noisy, conf, cams, rotations, betas, transl_cam, joints, level)
