"""Messages the fusion node publishes for a fused body: BodyArray entry, markers, TF, REP-155 joints."""

from __future__ import annotations

import numpy as np
import roma
import torch
from geometry_msgs.msg import Point
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from scorehmr_ros.core.skeleton import JOINT_INDEX, SMPL_JOINT_NAMES, SMPL_PARENTS
from scorehmr_ros.ros.tf import make_transform

# REP-155 / ROS4HRI body frame: x forward, y left, z up. SMPL's canonical body frame: x = subject's
# left, y up, z forward. Columns = the body frame's axes in SMPL's frame.
SMPL_TO_REP155 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def global_rotations(rotations: torch.Tensor) -> torch.Tensor:
    """(24, 3, 3) local SMPL rotations (index 0 global) → (24, 3, 3) joint orientations in the frame."""
    out = [rotations[0]]
    for i in range(1, len(SMPL_JOINT_NAMES)):
        out.append(out[SMPL_PARENTS[i]] @ rotations[i])
    return torch.stack(out)


def body_transforms(body_id: str, frame: str, stamp, rotations: torch.Tensor, joints: np.ndarray) -> list:
    """TF: ``body_<id>`` at mid-hip (REP-155 axes) and ``<joint>_<id>`` for every SMPL joint."""
    glob = global_rotations(rotations).double()
    quats = roma.rotmat_to_unitquat(glob).numpy()  # xyzw
    mid_hip = 0.5 * (joints[JOINT_INDEX["left_hip"]] + joints[JOINT_INDEX["right_hip"]])
    body_rot = glob[0].numpy() @ SMPL_TO_REP155
    body_q = roma.rotmat_to_unitquat(torch.from_numpy(body_rot)).numpy()
    out = [make_transform(frame, f"body_{body_id}", stamp, mid_hip, body_q)]
    for i, name in enumerate(SMPL_JOINT_NAMES):
        out.append(make_transform(frame, f"{name}_{body_id}", stamp, joints[i], quats[i]))
    return out


def joint_state(body_id: str, stamp, rotations: torch.Tensor) -> JointState:
    """REP-155-style joint state: each SMPL joint's local rotation as three axis-angle components.

    Names are ``<joint>_rx``, ``<joint>_ry``, ``<joint>_rz`` (radians, rotation vector in the parent
    joint's frame); the global orientation is excluded (it is on TF as body_<id>).
    """
    rotvec = roma.rotmat_to_rotvec(rotations[1:].double()).numpy()
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = f"body_{body_id}"
    msg.name = [f"{n}_{a}" for n in SMPL_JOINT_NAMES[1:] for a in ("rx", "ry", "rz")]
    msg.position = rotvec.reshape(-1).tolist()
    return msg


SKIN = ColorRGBA(r=0.86, g=0.66, b=0.52, a=0.9)
BONE = ColorRGBA(r=0.1, g=0.8, b=0.3, a=1.0)


def mesh_marker(header, body_id: str, vertices: np.ndarray, faces: np.ndarray, marker_id: int = 0) -> Marker:
    """TRIANGLE_LIST of the full mesh (outward counter-clockwise winding kept)."""
    m = Marker(header=header, ns=f"body_{body_id}/mesh", id=marker_id, type=Marker.TRIANGLE_LIST)
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = 1.0
    m.color = SKIN
    tri = vertices[faces.reshape(-1)]
    m.points = [Point(x=x, y=y, z=z) for x, y, z in tri.tolist()]
    return m


def skeleton_marker(header, body_id: str, joints: np.ndarray, marker_id: int = 1) -> Marker:
    """LINE_LIST from every joint to its parent."""
    m = Marker(header=header, ns=f"body_{body_id}/skeleton", id=marker_id, type=Marker.LINE_LIST)
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = 0.02
    m.color = BONE
    pts = []
    for i, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            for j in (parent, i):
                pts.append(Point(x=float(joints[j, 0]), y=float(joints[j, 1]), z=float(joints[j, 2])))
    m.points = pts
    return m
