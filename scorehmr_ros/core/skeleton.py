"""SMPL's 24-joint kinematic tree, by name.

Joint order is SMPL's (global orientation = pelvis first). Everything else in the
project refers to joints through these names, never through bare indices.
"""

from __future__ import annotations

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

SMPL_PARENT_NAMES: dict[str, str | None] = {
    "pelvis": None,
    "left_hip": "pelvis",
    "right_hip": "pelvis",
    "spine1": "pelvis",
    "left_knee": "left_hip",
    "right_knee": "right_hip",
    "spine2": "spine1",
    "left_ankle": "left_knee",
    "right_ankle": "right_knee",
    "spine3": "spine2",
    "left_foot": "left_ankle",
    "right_foot": "right_ankle",
    "neck": "spine3",
    "left_collar": "spine3",
    "right_collar": "spine3",
    "head": "neck",
    "left_shoulder": "left_collar",
    "right_shoulder": "right_collar",
    "left_elbow": "left_shoulder",
    "right_elbow": "right_shoulder",
    "left_wrist": "left_elbow",
    "right_wrist": "right_elbow",
    "left_hand": "left_wrist",
    "right_hand": "right_wrist",
}

NUM_JOINTS = len(SMPL_JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
# Parent index per joint, -1 for the root; the layout of SMPL's kintree_table[0].
SMPL_PARENTS: tuple[int, ...] = tuple(
    -1 if SMPL_PARENT_NAMES[n] is None else JOINT_INDEX[SMPL_PARENT_NAMES[n]] for n in SMPL_JOINT_NAMES
)


def mirror_name(name: str) -> str:
    """Name of the joint on the other side (``left_knee`` <-> ``right_knee``)."""
    if name.startswith("left_"):
        return "right_" + name[len("left_") :]
    if name.startswith("right_"):
        return "left_" + name[len("right_") :]
    return name


# Permutation that swaps left and right joints: ``pose[..., MIRROR_PERMUTATION, :]``.
MIRROR_PERMUTATION: tuple[int, ...] = tuple(JOINT_INDEX[mirror_name(n)] for n in SMPL_JOINT_NAMES)
