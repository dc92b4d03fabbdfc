"""Conversions between fitted bodies (numpy) and the project's messages (Body, Keypoints2D)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from geometry_msgs.msg import Point, Quaternion

from scorehmr_ros.core.skeleton import NUM_JOINTS
from scorehmr_ros.msg import Body, Keypoints2D
from scorehmr_ros.ros.rotations import quat_to_rotmat, rotmat_to_quat


@dataclass
class BodyEstimate:
    """One fitted body in an output frame.

    rotations: (24, 3, 3) SMPL joint rotations (index 0 = global orientation, others local).
    betas: (B,) shape coefficients. translation: (3,) SMPL transl (m). joints: (24, 3) positions (m).
    reprojection_error_px: per view, aligned with view_frame_ids.
    """

    body_id: str
    rotations: np.ndarray
    betas: np.ndarray
    translation: np.ndarray
    joints: np.ndarray
    view_frame_ids: list[str] = field(default_factory=list)
    reprojection_error_px: list[float] = field(default_factory=list)
    fit_quality: float = 0.0
    num_views: int = 0


def body_to_msg(body: BodyEstimate, header) -> Body:
    """Fill a ``Body`` message (quaternions x, y, z, w; numpy) from a :class:`BodyEstimate`."""
    rotations = np.asarray(body.rotations, dtype=np.float64)
    joints = np.asarray(body.joints, dtype=np.float64)
    if rotations.shape != (NUM_JOINTS, 3, 3) or joints.shape != (NUM_JOINTS, 3):
        raise ValueError(
            f"expected (24,3,3) rotations and (24,3) joints, got {rotations.shape}, {joints.shape}"
        )
    if len(body.view_frame_ids) != len(body.reprojection_error_px):
        raise ValueError("view_frame_ids and reprojection_error_px must have the same length")
    quats = rotmat_to_quat(rotations)  # (24, 4) xyzw
    msg = Body()
    msg.header = header
    msg.body_id = str(body.body_id)
    msg.pose = [Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])) for q in quats]
    msg.betas = [float(b) for b in np.asarray(body.betas).ravel()]
    tx, ty, tz = (float(v) for v in np.asarray(body.translation).ravel())
    msg.translation.x, msg.translation.y, msg.translation.z = tx, ty, tz
    msg.joints = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in joints]
    msg.view_frame_ids = [str(f) for f in body.view_frame_ids]
    msg.reprojection_error_px = [float(e) for e in body.reprojection_error_px]
    msg.fit_quality = float(body.fit_quality)
    msg.num_views = int(body.num_views)
    return msg


def body_from_msg(msg: Body) -> BodyEstimate:
    """Inverse of :func:`body_to_msg`."""
    quats = np.array([[q.x, q.y, q.z, q.w] for q in msg.pose], dtype=np.float64)
    return BodyEstimate(
        body_id=msg.body_id,
        rotations=quat_to_rotmat(quats),
        betas=np.asarray(msg.betas, dtype=np.float64),
        translation=np.array([msg.translation.x, msg.translation.y, msg.translation.z]),
        joints=np.array([[p.x, p.y, p.z] for p in msg.joints]),
        view_frame_ids=list(msg.view_frame_ids),
        reprojection_error_px=list(msg.reprojection_error_px),
        fit_quality=msg.fit_quality,
        num_views=msg.num_views,
    )


def keypoints_to_msg(
    header, layout: str, xy: np.ndarray, confidence: np.ndarray, image_size: Sequence[int]
) -> Keypoints2D:
    """``xy`` (K, 2) pixels and ``confidence`` (K,) in layout order; ``image_size`` = (width, height)."""
    xy = np.asarray(xy, dtype=np.float32)
    confidence = np.asarray(confidence, dtype=np.float32)
    if xy.ndim != 2 or xy.shape[1] != 2 or confidence.shape != (xy.shape[0],):
        raise ValueError(f"expected (K,2) xy and (K,) confidence, got {xy.shape} and {confidence.shape}")
    msg = Keypoints2D()
    msg.header = header
    msg.layout = layout
    msg.image_width, msg.image_height = int(image_size[0]), int(image_size[1])
    msg.x = xy[:, 0].tolist()
    msg.y = xy[:, 1].tolist()
    msg.confidence = confidence.tolist()
    return msg


def keypoints_from_msg(msg: Keypoints2D) -> tuple[np.ndarray, np.ndarray]:
    """``(xy (K, 2), confidence (K,))``; raises ValueError when the arrays disagree in length."""
    if not (len(msg.x) == len(msg.y) == len(msg.confidence)):
        raise ValueError(
            f"Keypoints2D arrays differ in length: x {len(msg.x)}, y {len(msg.y)}, "
            f"confidence {len(msg.confidence)}"
        )
    xy = np.stack([np.asarray(msg.x, np.float32), np.asarray(msg.y, np.float32)], axis=1)
    return xy, np.asarray(msg.confidence, np.float32)
