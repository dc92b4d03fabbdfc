"""Trivial reference estimates the learned models must beat."""

from __future__ import annotations

import roma
import torch

from scorehmr_ros.sim.mocap import load_mocap, train_clips


def mean_training_pose() -> torch.Tensor:
    """(24, 3, 3) chordal mean of the training clips' local rotations (global orientation included)."""
    rot = torch.cat([c.rotations for c in train_clips(load_mocap()).values()])
    return roma.special_procrustes(rot.mean(0))


def mean_pose_estimate(global_orient: torch.Tensor) -> torch.Tensor:
    """(B, 24, 3, 3): the mean training body pose under the given (B, 3, 3) global orientations."""
    body = mean_training_pose()[1:].expand(global_orient.shape[0], 23, 3, 3)
    return torch.cat([global_orient.unsqueeze(1), body], dim=1)
