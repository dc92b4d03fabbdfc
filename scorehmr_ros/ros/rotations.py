"""Rotation conversions in numpy for the ROS process (which imports no torch/roma).

Quaternions are (x, y, z, w), as in geometry_msgs and roma; rotation matrices act on column vectors.
"""

from __future__ import annotations

import numpy as np


def quat_to_rotmat(q: np.ndarray) -> np.ndarray:
    """(..., 4) xyzw (normalised here) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit xyzw with w >= 0 (Shepperd's method: stable for every angle)."""
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2], trace], -1)
    choice = np.argmax(diag, -1)
    q = np.empty((len(m), 4))
    for i in range(len(m)):
        r, c = m[i], choice[i]
        if c == 3:
            s = 2.0 * np.sqrt(max(1.0 + trace[i], 1e-300))
            q[i] = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
        else:
            j, k = (c + 1) % 3, (c + 2) % 3
            s = 2.0 * np.sqrt(max(1.0 + r[c, c] - r[j, j] - r[k, k], 1e-300))
            v = np.empty(4)
            v[c] = 0.25 * s
            v[j] = (r[j, c] + r[c, j]) / s
            v[k] = (r[k, c] + r[c, k]) / s
            v[3] = (r[k, j] - r[j, k]) / s
            q[i] = v
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q[q[:, 3] < 0] *= -1.0
    return q.reshape((*R.shape[:-2], 4))


def rotmat_to_rotvec(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) axis * angle (angle in [0, pi])."""
    q = rotmat_to_quat(R)
    xyz, w = q[..., :3], q[..., 3]
    norm = np.linalg.norm(xyz, axis=-1)
    angle = 2.0 * np.arctan2(norm, w)
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    scale = np.where(norm > 1e-12, angle / np.maximum(norm, 1e-300), 2.0 / np.maximum(w, 1e-300))
    return xyz * scale[..., None]
