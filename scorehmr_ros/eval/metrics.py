"""Accuracy metrics (no ROS): MPJPE, PA-MPJPE (Procrustes via roma), 2D error, acceleration error."""

from __future__ import annotations

import roma
import torch

from scorehmr_ros.core.skeleton import JOINT_INDEX


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, root: str = "pelvis") -> torch.Tensor:
    """Mean per-joint position error (B,) in the input units after aligning the ``root`` joints.

    pred, gt: (B, J, 3).
    """
    r = JOINT_INDEX[root]
    return ((pred - pred[:, r : r + 1]) - (gt - gt[:, r : r + 1])).norm(dim=-1).mean(-1)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """MPJPE (B,) after the similarity transform (rotation, translation, scale) best aligning pred to gt."""
    R, t, s = roma.rigid_points_registration(pred, gt, compute_scaling=True)
    aligned = s[:, None, None] * pred @ R.transpose(-1, -2) + t[:, None]
    return (aligned - gt).norm(dim=-1).mean(-1)


def reprojection_error(uv: torch.Tensor, keypoints: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Mean pixel distance (B,) over keypoints with confidence > 0; NaN where none."""
    w = (confidence > 0).float()
    return ((uv - keypoints).norm(dim=-1) * w).sum(-1) / w.sum(-1)


def acceleration_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean joint acceleration error per frame (T-2,) for sequences (T, J, 3) (units/frame²)."""
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_g = gt[2:] - 2 * gt[1:-1] + gt[:-2]
    return (acc_p - acc_g).norm(dim=-1).mean(-1)
