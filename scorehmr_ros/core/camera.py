"""Pinhole cameras in the ROS optical convention (REP-103: x right, y down, z forward).

World frame (scenes, mocap): SMPL's, y up. Extrinsics map world to camera:
``X_cam = R @ X_world + t``. Intrinsics ``K`` are CameraInfo's 3x3 matrix (pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PinholeCameras:
    """A batch of B cameras.

    K: (B, 3, 3) intrinsics. R: (B, 3, 3) world->camera rotation. t: (B, 3) world->camera
    translation (m). image_size: (B, 2) as (width, height) in pixels.
    """

    K: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    image_size: torch.Tensor

    def __len__(self) -> int:
        return self.K.shape[0]

    def index(self, idx) -> PinholeCameras:
        """Cameras selected by ``idx`` (int, slice, tensor of indices or mask)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return PinholeCameras(self.K[idx], self.R[idx], self.t[idx], self.image_size[idx])

    @property
    def centers(self) -> torch.Tensor:
        """(B, 3) camera centres in the world frame."""
        return -(self.R.transpose(-1, -2) @ self.t.unsqueeze(-1)).squeeze(-1)


def intrinsics(fx, fy, cx, cy) -> torch.Tensor:
    """(B, 3, 3) K from (B,) tensors (or floats for one camera)."""
    fx, fy, cx, cy = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (fx, fy, cx, cy))
    K = torch.zeros(fx.shape[0], 3, 3)
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx, fy, cx, cy, 1.0
    return K


def look_at(eye: torch.Tensor, target: torch.Tensor, up=(0.0, 1.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """World->camera (R (B,3,3), t (B,3)) of optical cameras at ``eye`` (B,3) looking at ``target`` (B,3).

    The optical z axis points at the target, y points down (against ``up``), x right.
    """
    eye, target = torch.atleast_2d(eye).float(), torch.atleast_2d(target).float()
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    up_t = torch.as_tensor(up, dtype=eye.dtype).expand_as(z)
    x = torch.nn.functional.normalize(torch.linalg.cross(z, up_t, dim=-1), dim=-1)  # right = forward x up
    y = torch.linalg.cross(z, x, dim=-1)  # down
    R = torch.stack([x, y, z], dim=-2)  # rows: camera axes expressed in the world
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return R, t


def world_to_camera(points: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) world points -> (B, N, 3) camera points."""
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


def project(points_cam: torch.Tensor, K: torch.Tensor, min_depth: float = 1e-3) -> torch.Tensor:
    """(B, N, 3) camera-frame points -> (B, N, 2) pixels with full perspective (depth clamped > 0)."""
    z = points_cam[..., 2:3].clamp(min=min_depth)
    uv = points_cam[..., :2] / z
    return uv * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1).unsqueeze(1) + K[:, :2, 2].unsqueeze(1)


def estimate_translation(
    joints: torch.Tensor, keypoints: torch.Tensor, confidence: torch.Tensor, K: torch.Tensor
) -> torch.Tensor:
    """Camera-frame translation (B, 3) that best projects ``joints`` onto ``keypoints``.

    joints: (B, N, 3) body-frame points already rotated into the camera's orientation.
    keypoints: (B, N, 2) pixels; confidence: (B, N) weights (0 = ignore); K: (B, 3, 3).
    Linear least squares on the perspective equations (u - cx) (Z + tz) = fx (X + tx), etc.
    """
    fx, fy = K[:, 0, 0].unsqueeze(1), K[:, 1, 1].unsqueeze(1)
    du = keypoints[..., 0] - K[:, 0, 2].unsqueeze(1)
    dv = keypoints[..., 1] - K[:, 1, 2].unsqueeze(1)
    X, Y, Z = joints.unbind(-1)
    zeros = torch.zeros_like(du)
    # Unknowns (tx, ty, tz): fx*tx - du*tz = du*Z - fx*X ; fy*ty - dv*tz = dv*Z - fy*Y
    rows_u = torch.stack([fx.expand_as(du), zeros, -du], -1)
    rows_v = torch.stack([zeros, fy.expand_as(dv), -dv], -1)
    A = torch.cat([rows_u, rows_v], 1)  # (B, 2N, 3)
    b = torch.cat([du * Z - fx * X, dv * Z - fy * Y], 1)  # (B, 2N)
    w = torch.cat([confidence, confidence], 1).clamp(min=0).sqrt()
    Aw, bw = A * w.unsqueeze(-1), b * w
    reg = 1e-6 * torch.eye(3, dtype=A.dtype)
    normal = Aw.transpose(1, 2) @ Aw + reg
    return torch.linalg.solve(normal, Aw.transpose(1, 2) @ bw.unsqueeze(-1)).squeeze(-1)
