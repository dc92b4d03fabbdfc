"""TF broadcasting with tf2_ros' semantics (tf2_ros is not installable here).

``TransformBroadcaster`` publishes ``tf2_msgs/msg/TFMessage`` on ``/tf`` (reliable, volatile,
depth 100, as tf2_ros' DynamicBroadcasterQoS). ``StaticTransformBroadcaster`` publishes on
``/tf_static`` with transient-local durability (depth 1, as StaticBroadcasterQoS) and, like
tf2_ros, keeps every static transform it was given (latest per child frame) and republishes
the whole set on each call, so late-joining listeners receive all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

DYNAMIC_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
STATIC_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def make_transform(
    parent_frame: str,
    child_frame: str,
    stamp,
    translation: Sequence[float],
    rotation_xyzw: Sequence[float] = (0.0, 0.0, 0.0, 1.0),
) -> TransformStamped:
    """A ``TransformStamped`` placing ``child_frame`` in ``parent_frame`` (metres, unit quaternion)."""
    t = TransformStamped()
    t.header.stamp = stamp
    t.header.frame_id = parent_frame
    t.child_frame_id = child_frame
    tx, ty, tz = (float(v) for v in translation)
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = tx, ty, tz
    q = np.asarray(rotation_xyzw, dtype=float)
    q = q / np.linalg.norm(q)
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in q)
    return t


def _as_list(transforms: TransformStamped | Iterable[TransformStamped]) -> list[TransformStamped]:
    return [transforms] if isinstance(transforms, TransformStamped) else list(transforms)


class TransformBroadcaster:
    """Publishes transforms on ``/tf``; ``send_transform`` takes one or a list."""

    def __init__(self, node: Node, qos: QoSProfile = DYNAMIC_QOS) -> None:
        self._publisher = node.create_publisher(TFMessage, "/tf", qos)

    def send_transform(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        self._publisher.publish(TFMessage(transforms=_as_list(transforms)))


class StaticTransformBroadcaster:
    """Publishes transforms on ``/tf_static`` (transient local), accumulating them per child frame."""

    def __init__(self, node: Node, qos: QoSProfile = STATIC_QOS) -> None:
        self._publisher = node.create_publisher(TFMessage, "/tf_static", qos)
        self._by_child: dict[str, TransformStamped] = {}

    def send_transform(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        for t in _as_list(transforms):
            self._by_child[t.child_frame_id] = t
        self._publisher.publish(TFMessage(transforms=list(self._by_child.values())))


# tf2's BufferCore rejects a transform whose quaternion norm is this far from 1 (and any NaN).
QUATERNION_NORM_TOLERANCE = 1e-2


def transform_problem(t: TransformStamped) -> str | None:
    """Why tf2 would reject ``t`` (a non-finite value, a quaternion not of unit norm, an empty or
    self-referencing frame id), or None."""
    q, p = t.transform.rotation, t.transform.translation
    values = np.array([q.x, q.y, q.z, q.w, p.x, p.y, p.z], dtype=np.float64)
    if not np.isfinite(values).all():
        return f"non-finite transform {t.header.frame_id!r} -> {t.child_frame_id!r}: {values.tolist()}"
    norm = float(np.linalg.norm(values[:4]))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        return f"quaternion of norm {norm:.6g} in {t.header.frame_id!r} -> {t.child_frame_id!r} (tf2 needs 1)"
    if not t.header.frame_id or not t.child_frame_id or t.header.frame_id == t.child_frame_id:
        return f"frame ids {t.header.frame_id!r} -> {t.child_frame_id!r}"
    return None


def static_transforms(msg: TFMessage, problems: list | None = None) -> dict[str, tuple[str, np.ndarray]]:
    """``/tf_static`` message -> child frame -> (parent frame, 4x4 child->parent), in numpy.
    Transforms tf2 would reject (:func:`transform_problem`) are left out; with ``problems`` given,
    (child frame, reason) is appended to it for each."""
    from scorehmr_ros.ros.rotations import quat_to_rotmat

    out = {}
    for t in msg.transforms:
        problem = transform_problem(t)
        if problem is not None:
            if problems is not None:
                problems.append((t.child_frame_id, problem))
            continue
        q, p = t.transform.rotation, t.transform.translation
        T = np.eye(4)
        T[:3, :3] = quat_to_rotmat(np.array([q.x, q.y, q.z, q.w]))
        T[:3, 3] = [p.x, p.y, p.z]
        out[t.child_frame_id] = (t.header.frame_id, T)
    return out
