"""Messages the fusion node publishes for a fused body: BodyArray entry, markers, TF, REP-155 joints.

numpy only (the ROS process imports no torch/roma). The full-mesh marker is the expensive one:
~22k ``geometry_msgs/Point`` objects cost 20-140 ms of GIL time per publish, so
:func:`serialize_markers` writes the CDR bytes of the MarkerArray with the mesh points copied in
as one float64 block (rclpy publishes serialized bytes as they are).
"""

from __future__ import annotations

import struct

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.core.skeleton import JOINT_INDEX, SMPL_JOINT_NAMES, SMPL_PARENTS
from scorehmr_ros.ros.rotations import rotmat_to_quat, rotmat_to_rotvec
from scorehmr_ros.ros.tf import make_transform

# REP-155 / ROS4HRI body frame: x forward, y left, z up. SMPL's canonical body frame: x = subject's
# left, y up, z forward. Columns = the body frame's axes in SMPL's frame.
SMPL_TO_REP155 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def global_rotations(rotations: np.ndarray) -> np.ndarray:
    """(24, 3, 3) local SMPL rotations (index 0 global) -> (24, 3, 3) joint orientations in the frame."""
    rotations = np.asarray(rotations, dtype=np.float64)
    out = [rotations[0]]
    for i in range(1, len(SMPL_JOINT_NAMES)):
        out.append(out[SMPL_PARENTS[i]] @ rotations[i])
    return np.stack(out)


def body_transforms(body_id: str, frame: str, stamp, rotations: np.ndarray, joints: np.ndarray) -> list:
    """TF: ``body_<id>`` at mid-hip (REP-155 axes) and ``<joint>_<id>`` for every SMPL joint."""
    glob = global_rotations(rotations)
    quats = rotmat_to_quat(glob)
    mid_hip = 0.5 * (joints[JOINT_INDEX["left_hip"]] + joints[JOINT_INDEX["right_hip"]])
    body_q = rotmat_to_quat(glob[0] @ SMPL_TO_REP155)
    out = [make_transform(frame, f"body_{body_id}", stamp, mid_hip, body_q)]
    for i, name in enumerate(SMPL_JOINT_NAMES):
        out.append(make_transform(frame, f"{name}_{body_id}", stamp, joints[i], quats[i]))
    return out


def joint_state(body_id: str, stamp, rotations: np.ndarray) -> JointState:
    """REP-155-style joint state: each SMPL joint's local rotation as three axis-angle components.

    Names are ``<joint>_rx``, ``<joint>_ry``, ``<joint>_rz`` (radians, rotation vector in the parent
    joint's frame); the global orientation is excluded (it is on TF as body_<id>).
    """
    rotvec = rotmat_to_rotvec(np.asarray(rotations, dtype=np.float64)[1:])
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = f"body_{body_id}"
    msg.name = [f"{n}_{a}" for n in SMPL_JOINT_NAMES[1:] for a in ("rx", "ry", "rz")]
    msg.position = rotvec.reshape(-1).tolist()
    return msg


SKIN = ColorRGBA(r=0.86, g=0.66, b=0.52, a=0.9)
BONE = ColorRGBA(r=0.1, g=0.8, b=0.3, a=1.0)
# Per-id colours (skeleton; the mesh is a lighter tint): b0 keeps the single-person colours.
ID_COLOURS = (
    (0.1, 0.8, 0.3),
    (0.2, 0.45, 0.95),
    (0.95, 0.35, 0.2),
    (0.85, 0.2, 0.85),
    (0.95, 0.8, 0.1),
    (0.1, 0.8, 0.85),
    (0.6, 0.4, 0.2),
    (0.5, 0.5, 0.5),
)


def id_colours(body_id: str) -> tuple[ColorRGBA, ColorRGBA]:
    """(skeleton, mesh) colours of ``body_id`` (``b<n>``: the n-th palette entry, cycling)."""
    digits = "".join(ch for ch in body_id if ch.isdigit())
    n = int(digits) if digits else sum(map(ord, body_id))
    if n == 0:
        return BONE, SKIN
    r, g, b = ID_COLOURS[n % len(ID_COLOURS)]
    return ColorRGBA(r=r, g=g, b=b, a=1.0), ColorRGBA(r=0.5 + r / 2, g=0.5 + g / 2, b=0.5 + b / 2, a=0.9)


def _lifetime(seconds: float) -> Duration:
    sec = int(seconds)
    return Duration(sec=sec, nanosec=round((seconds - sec) * 1e9))


def mesh_marker(
    header, body_id: str, vertices: np.ndarray, faces: np.ndarray, marker_id: int = 0, lifetime_s: float = 0.0
) -> Marker:
    """TRIANGLE_LIST of the full mesh (outward counter-clockwise winding kept), as Point objects
    (slow: the node publishes it through :func:`serialize_markers`)."""
    m = _mesh_header(header, body_id, marker_id, lifetime_s)
    m.color = id_colours(body_id)[1]
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces).reshape(-1)]
    m.points = [Point(x=x, y=y, z=z) for x, y, z in tri.tolist()]
    return m


def _mesh_header(header, body_id: str, marker_id: int, lifetime_s: float) -> Marker:
    m = Marker(header=header, ns=f"body_{body_id}/mesh", id=marker_id, type=Marker.TRIANGLE_LIST)
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = 1.0
    m.color = SKIN
    m.lifetime = _lifetime(lifetime_s)
    return m


def skeleton_marker(
    header, body_id: str, joints: np.ndarray, marker_id: int = 1, lifetime_s: float = 0.0
) -> Marker:
    """LINE_LIST from every joint to its parent."""
    m = Marker(header=header, ns=f"body_{body_id}/skeleton", id=marker_id, type=Marker.LINE_LIST)
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = 0.02
    m.color = id_colours(body_id)[0]
    m.lifetime = _lifetime(lifetime_s)
    pts = []
    for i, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            for j in (parent, i):
                pts.append(Point(x=float(joints[j, 0]), y=float(joints[j, 1]), z=float(joints[j, 2])))
    m.points = pts
    return m


def delete_body_markers(header, body_id: str) -> MarkerArray:
    """DELETE the mesh and skeleton markers of one body (that id is gone; the others stay)."""
    return MarkerArray(
        markers=[
            Marker(header=header, ns=f"body_{body_id}/mesh", id=0, action=Marker.DELETE),
            Marker(header=header, ns=f"body_{body_id}/skeleton", id=1, action=Marker.DELETE),
        ]
    )


def delete_all_markers(header) -> MarkerArray:
    """One DELETEALL marker: RViz removes every marker it got on the topic (the person is lost)."""
    return MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])


# Three float64 that no real marker holds: the place of the mesh points in the serialized bytes.
_SENTINEL = (1.2345678901234567e-300, -9.876543210987654e-299, 3.141592653589793e-301)
_SENTINEL_BYTES = struct.pack("<3d", *_SENTINEL)


def serialize_markers(
    header,
    body_id: str,
    joints: np.ndarray,
    vertices: np.ndarray | None,
    faces: np.ndarray | None,
    lifetime_s: float = 0.0,
) -> bytes:
    """CDR bytes of ``MarkerArray[mesh (if vertices), skeleton]``, equal to serializing the message
    built with :func:`mesh_marker` and :func:`skeleton_marker`, in well under a millisecond."""
    skeleton = skeleton_marker(header, body_id, joints, lifetime_s=lifetime_s)
    if vertices is None:
        return serialize_message(MarkerArray(markers=[skeleton]))
    mesh = _mesh_header(header, body_id, 0, lifetime_s)
    mesh.color = id_colours(body_id)[1]
    mesh.points = [Point(x=_SENTINEL[0], y=_SENTINEL[1], z=_SENTINEL[2])]
    data = serialize_message(MarkerArray(markers=[mesh, skeleton]))
    at = data.find(_SENTINEL_BYTES)
    if at < 0 or data.find(_SENTINEL_BYTES, at + 1) >= 0:
        raise RuntimeError("cannot place the mesh points in the serialized MarkerArray")
    if data[0:2] != b"\x00\x01":  # CDR little endian encapsulation (Fast DDS' default)
        raise RuntimeError(f"unexpected CDR encapsulation {data[0:2]!r}")
    # The sequence length (uint32, 4-aligned) sits right before the doubles or before 4 pad bytes.
    count_at = next(p for p in (at - 4, at - 8) if struct.unpack_from("<I", data, p)[0] == 1)
    vertices = np.asarray(vertices, dtype="<f8")
    corners = np.asarray(faces).reshape(-1)
    # One output buffer: [bytes before the count][count][pad][points][bytes after the sentinel].
    # The points block grows by a multiple of 8 bytes, so every later field keeps its alignment.
    head, tail = data[count_at + 4 : at], data[at + len(_SENTINEL_BYTES) :]
    points_at = count_at + 4 + len(head)
    out = bytearray(points_at + 24 * len(corners) + len(tail))
    out[:count_at] = data[:count_at]
    struct.pack_into("<I", out, count_at, len(corners))
    out[count_at + 4 : points_at] = head
    block = np.frombuffer(out, dtype="<f8", count=3 * len(corners), offset=points_at)
    np.take(vertices, corners, axis=0, out=block.reshape(-1, 3))  # the triangle soup, copied once
    out[points_at + 24 * len(corners) :] = tail
    return bytes(out)  # rclpy publishes bytes, not bytearray
