"""Real motion-capture poses retargeted onto SMPL's 24 joints, plus training-time augmentation.

Source data
-----------
The pybullet wheel ships DeepMimic's humanoid clips (``pybullet_data/data/motions/humanoid3d_*.txt``)
and five walker clips (``pybullet_data/data/motions/walker/*.txt``) in the same format. Each frame
has 44 floats::

    dt, root position (3), root quaternion (4, WXYZ), chest (4), neck (4),
    right hip (4), right knee (1), right ankle (4), right shoulder (4), right elbow (1),
    left hip (4), left knee (1), left ankle (4), left shoulder (4), left elbow (1)

Clip world: y up, the character faces +x and its right side is at +z (a "turn_left" clip drifts to
-z). Every joint frame is world-aligned in the rest pose (URDF joint origins have rpy = 0), so each
quaternion is a local rotation relative to the parent joint's frame. Knees and elbows are hinges about
their local +z axis; knee angles are <= 0 (shank swings back), elbow angles >= 0 (forearm swings
forward). Rest pose: legs and arms hanging straight down. Rest offsets come from
``pybullet_data/humanoid/humanoid.urdf`` scaled by 0.25 (pybullet's DeepMimic env loads it with
``globalScaling=0.25``), which makes the root position metres (pelvis height ~0.85 m).

SMPL conventions
----------------
y up, subject faces +z, +x is the subject's LEFT, rest pose = T-pose (arms along +-x). Output per
frame: 24 local joint rotation matrices in SMPL order (``pelvis`` = global orientation) and the pelvis
world position (metres, y up, floor at y = 0).

Retargeting (all rotation algebra through roma):

* change of basis ``R_smpl = C R_clip C^T`` with ``C = R_y(-90 deg)`` (clip +x forward -> SMPL +z,
  clip +z right -> SMPL -x), also applied to positions;
* arms: the clip's rest arm direction is "down", SMPL's is "sideways". Each arm joint carries a fixed
  rest alignment ``A`` (a rotation about the forward axis, ``A_right = R_z(+90)`` maps SMPL's right
  T-pose arm -x to -y, ``A_left = R_z(-90)`` maps +x to -y) and its local rotation becomes
  ``A_parent^T R' A_self``; i.e. ``shoulder = R' A``, ``elbow = A^T R' A`` (a pure hinge about SMPL's
  y axis), wrist/hand stay identity;
* chest -> spine1, spine2, spine3 each ``R^(1/3)``; neck -> neck, head each ``R^(1/2)``;
* hips, ankles: change of basis only; knees: hinge about SMPL +x (positive = flexion);
* collars, feet (toes), wrists, hands: identity.

Loaded clips hold **torch float32** tensors: ``rotations`` (N, 24, 3, 3), ``root_translation``
(N, 3), plus the raw ``source_frames`` (N, 44, float64 numpy) they were made from.

This module never imports ROS (or pybullet: the builder ``scripts/build_mocap_dataset.py`` reads the
clips and writes ``scorehmr_ros/data/mocap_smpl.npz``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from scorehmr_ros.core.skeleton import JOINT_INDEX, MIRROR_PERMUTATION, NUM_JOINTS, SMPL_PARENTS

DEFAULT_MOCAP_PATH = Path(__file__).resolve().parent.parent / "data" / "mocap_smpl.npz"

HUMANOID3D_CLIPS: tuple[str, ...] = (
    "humanoid3d_backflip",
    "humanoid3d_cartwheel",
    "humanoid3d_crawl",
    "humanoid3d_dance_a",
    "humanoid3d_dance_b",
    "humanoid3d_getup_facedown",
    "humanoid3d_getup_faceup",
    "humanoid3d_jump",
    "humanoid3d_kick",
    "humanoid3d_punch",
    "humanoid3d_roll",
    "humanoid3d_run",
    "humanoid3d_spin",
    "humanoid3d_spinkick",
    "humanoid3d_walk",
)
# data/motions/walker/<stem>.txt, stored as "walker_<stem>"; same 44-float format and skeleton.
WALKER_CLIPS: tuple[str, ...] = (
    "walker_0walk_forward",
    "walker_turn_left0",
    "walker_turn_left1",
    "walker_turn_right0",
    "walker_turn_right1",
)
ALL_CLIPS: tuple[str, ...] = HUMANOID3D_CLIPS + WALKER_CLIPS
# Fixed evaluation split: these clips never feed training or augmentation.
HELDOUT_CLIPS: tuple[str, ...] = (
    "humanoid3d_run",
    "humanoid3d_dance_b",
    "humanoid3d_kick",
    "humanoid3d_getup_faceup",
)
TRAIN_CLIPS: tuple[str, ...] = tuple(c for c in ALL_CLIPS if c not in HELDOUT_CLIPS)

# ----------------------------------------------------------------------------------------------------
# Clip format and skeleton
# ----------------------------------------------------------------------------------------------------
CLIP_FRAME_SIZE = 44
# Spherical joints: name -> index of the W component of the WXYZ quaternion in a frame.
CLIP_QUAT_INDEX: dict[str, int] = {
    "root": 4,
    "chest": 8,
    "neck": 12,
    "right_hip": 16,
    "right_ankle": 21,
    "right_shoulder": 25,
    "left_hip": 30,
    "left_ankle": 35,
    "left_shoulder": 39,
}
# Revolute joints (about the local +z axis): name -> index of the angle in a frame.
CLIP_HINGE_INDEX: dict[str, int] = {"right_knee": 20, "right_elbow": 29, "left_knee": 34, "left_elbow": 43}
CLIP_HINGE_AXIS = (0.0, 0.0, 1.0)
CLIP_URDF_SCALE = 0.25
# Clip skeleton: point -> (parent point, rest offset in metres, clip world axes). Offsets are
# humanoid.urdf joint origins x 0.25; "head_top", "*_wrist" (fixed joint) and "*_toe" (twice the foot
# box centre, xyz 0.18 -0.09 0) are end points used for bone directions only.
_U = CLIP_URDF_SCALE
CLIP_SKELETON: dict[str, tuple[str | None, tuple[float, float, float]]] = {
    "root": (None, (0.0, 0.0, 0.0)),
    "chest": ("root", (0.0, 0.944604 * _U, 0.0)),
    "neck": ("chest", (0.0, 0.895576 * _U, 0.0)),
    "head_top": ("neck", (0.0, 0.7 * 2 * _U, 0.0)),
    "right_hip": ("root", (0.0, 0.0, 0.339548 * _U)),
    "right_knee": ("right_hip", (0.0, -1.686184 * _U, 0.0)),
    "right_ankle": ("right_knee", (0.0, -1.639480 * _U, 0.0)),
    "right_toe": ("right_ankle", (0.36 * _U, -0.18 * _U, 0.0)),
    "right_shoulder": ("chest", (-0.0962 * _U, 0.974 * _U, 0.73244 * _U)),
    "right_elbow": ("right_shoulder", (0.0, -1.099152 * _U, 0.0)),
    "right_wrist": ("right_elbow", (0.0, -1.035788 * _U, 0.0)),
    "left_hip": ("root", (0.0, 0.0, -0.339548 * _U)),
    "left_knee": ("left_hip", (0.0, -1.686184 * _U, 0.0)),
    "left_ankle": ("left_knee", (0.0, -1.639480 * _U, 0.0)),
    "left_toe": ("left_ankle", (0.36 * _U, -0.18 * _U, 0.0)),
    "left_shoulder": ("chest", (-0.0962 * _U, 0.974 * _U, -0.73244 * _U)),
    "left_elbow": ("left_shoulder", (0.0, -1.099152 * _U, 0.0)),
    "left_wrist": ("left_elbow", (0.0, -1.035788 * _U, 0.0)),
}
# Which joint's global rotation moves the segment that ends at each end point.
_CLIP_END_POINTS = {"head_top": "neck", "right_toe": "right_ankle", "left_toe": "left_ankle",
                    "right_wrist": "right_elbow", "left_wrist": "left_elbow"}  # fmt: skip

# Change of basis clip -> SMPL: (x, y, z)_clip -> (-z, y, x)_smpl, i.e. R_y(-90 deg).
CLIP_TO_SMPL = torch.tensor([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)

# ----------------------------------------------------------------------------------------------------
# SMPL-side constants
# ----------------------------------------------------------------------------------------------------
# A simple SMPL-like rest skeleton (metres, offset of each joint from its parent): legs straight down,
# arms exactly along +-x, spine straight up. Swap in the body model's joints for SMPL-exact FK.
_REST_OFFSETS_BY_NAME: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.07, -0.09, 0.0),
    "right_hip": (-0.07, -0.09, 0.0),
    "spine1": (0.0, 0.11, 0.0),
    "left_knee": (0.0, -0.38, 0.0),
    "right_knee": (0.0, -0.38, 0.0),
    "spine2": (0.0, 0.135, 0.0),
    "left_ankle": (0.0, -0.40, 0.0),
    "right_ankle": (0.0, -0.40, 0.0),
    "spine3": (0.0, 0.055, 0.0),
    "left_foot": (0.0, -0.055, 0.11),
    "right_foot": (0.0, -0.055, 0.11),
    "neck": (0.0, 0.21, 0.0),
    "left_collar": (0.08, 0.12, 0.0),
    "right_collar": (-0.08, 0.12, 0.0),
    "head": (0.0, 0.09, 0.0),
    "left_shoulder": (0.10, 0.03, 0.0),
    "right_shoulder": (-0.10, 0.03, 0.0),
    "left_elbow": (0.26, 0.0, 0.0),
    "right_elbow": (-0.26, 0.0, 0.0),
    "left_wrist": (0.25, 0.0, 0.0),
    "right_wrist": (-0.25, 0.0, 0.0),
    "left_hand": (0.085, 0.0, 0.0),
    "right_hand": (-0.085, 0.0, 0.0),
}
_J = JOINT_INDEX
SMPL_REST_OFFSETS = torch.tensor([_REST_OFFSETS_BY_NAME[n] for n in _J], dtype=torch.float64)
# Head top relative to the head joint (end point for the head bone direction).
SMPL_HEAD_TOP_OFFSET = (0.0, 0.2, 0.0)

# Which clip joint drives which SMPL joint, and how (fraction of the rotation = power).
_SPREAD: dict[str, tuple[str, float]] = {
    "spine1": ("chest", 1.0 / 3.0),
    "spine2": ("chest", 1.0 / 3.0),
    "spine3": ("chest", 1.0 / 3.0),
    "neck": ("neck", 0.5),
    "head": ("neck", 0.5),
}
_DIRECT: tuple[str, ...] = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
)  # fmt: skip
DRIVEN_JOINTS: tuple[str, ...] = ("pelvis", *_SPREAD, *_DIRECT)
UNDRIVEN_JOINTS: tuple[str, ...] = tuple(n for n in _J if n not in DRIVEN_JOINTS)

# Hinge joints in SMPL's frame: unit axis such that a positive angle is anatomical flexion.
HINGE_AXES: dict[str, tuple[float, float, float]] = {
    "left_knee": (1.0, 0.0, 0.0),
    "right_knee": (1.0, 0.0, 0.0),
    "left_elbow": (0.0, -1.0, 0.0),
    "right_elbow": (0.0, 1.0, 0.0),
}
# Plausible flexion range (radians) used to clamp perturbations.
HINGE_LIMITS: dict[str, tuple[float, float]] = {
    "left_knee": (math.radians(-5.0), math.radians(160.0)),
    "right_knee": (math.radians(-5.0), math.radians(160.0)),
    "left_elbow": (math.radians(-5.0), math.radians(160.0)),
    "right_elbow": (math.radians(-5.0), math.radians(160.0)),
}

LIMB_CHAINS: dict[str, tuple[str, ...]] = {
    "left_arm": ("left_collar", "left_shoulder", "left_elbow", "left_wrist", "left_hand"),
    "right_arm": ("right_collar", "right_shoulder", "right_elbow", "right_wrist", "right_hand"),
    "left_leg": ("left_hip", "left_knee", "left_ankle", "left_foot"),
    "right_leg": ("right_hip", "right_knee", "right_ankle", "right_foot"),
}

# Bone groups used to verify the retargeting: group -> list of ((smpl from, smpl to), (clip from, to)).
# "head_top" on the SMPL side is the head joint + SMPL_HEAD_TOP_OFFSET rotated by the head.
BONE_GROUPS: dict[str, tuple[tuple[tuple[str, str], tuple[str, str]], ...]] = {
    "upper_leg": tuple(((f"{s}_hip", f"{s}_knee"), (f"{s}_hip", f"{s}_knee")) for s in ("left", "right")),
    "lower_leg": tuple(((f"{s}_knee", f"{s}_ankle"), (f"{s}_knee", f"{s}_ankle")) for s in ("left", "right")),
    "foot": tuple(((f"{s}_ankle", f"{s}_foot"), (f"{s}_ankle", f"{s}_toe")) for s in ("left", "right")),
    "upper_arm": tuple(
        ((f"{s}_shoulder", f"{s}_elbow"), (f"{s}_shoulder", f"{s}_elbow")) for s in ("left", "right")
    ),
    "forearm": tuple(((f"{s}_elbow", f"{s}_wrist"), (f"{s}_elbow", f"{s}_wrist")) for s in ("left", "right")),
    "hips_lateral": ((("right_hip", "left_hip"), ("right_hip", "left_hip")),),
    "lower_spine": ((("pelvis", "spine1"), ("root", "chest")),),
    "upper_spine": ((("spine3", "neck"), ("chest", "neck")),),
    "head": ((("head", "head_top"), ("neck", "head_top")),),
}
LIMB_BONE_GROUPS: tuple[str, ...] = ("upper_leg", "lower_leg", "foot", "upper_arm", "forearm")


def _rot_z(angle: float) -> torch.Tensor:
    return roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, angle], dtype=torch.float64))


# Rest alignment A per SMPL joint (SMPL world axes): maps SMPL's rest bone direction onto the clip's.
_ARM_ALIGN = {"left": _rot_z(-math.pi / 2), "right": _rot_z(math.pi / 2)}
REST_ALIGNMENT = torch.eye(3, dtype=torch.float64).repeat(NUM_JOINTS, 1, 1)
for _side in ("left", "right"):
    for _name in LIMB_CHAINS[f"{_side}_arm"][1:]:  # shoulder, elbow, wrist, hand (collar stays I)
        REST_ALIGNMENT[_J[_name]] = _ARM_ALIGN[_side]


# ----------------------------------------------------------------------------------------------------
# Retargeting
# ----------------------------------------------------------------------------------------------------
def _as_frames(frames) -> torch.Tensor:
    frames = torch.as_tensor(np.asarray(frames, dtype=np.float64))
    if frames.ndim != 2 or frames.shape[1] != CLIP_FRAME_SIZE:
        raise ValueError(f"expected (N, {CLIP_FRAME_SIZE}) clip frames, got {tuple(frames.shape)}")
    return frames


def clip_local_rotations(frames) -> dict[str, torch.Tensor]:
    """Local rotation matrices (N, 3, 3, float64, clip axes) of every clip joint; "root" is global.

    Quaternions are normalised (a few clips store slightly non-unit ones, as pybullet does on load).
    """
    frames = _as_frames(frames)
    out = {}
    for name, i in CLIP_QUAT_INDEX.items():
        q = roma.quat_normalize(roma.quat_wxyz_to_xyzw(frames[:, i : i + 4]))
        out[name] = roma.unitquat_to_rotmat(q)
    axis = torch.tensor(CLIP_HINGE_AXIS, dtype=torch.float64)
    for name, i in CLIP_HINGE_INDEX.items():
        out[name] = roma.rotvec_to_rotmat(frames[:, i : i + 1] * axis)
    return out


def clip_forward_kinematics(frames) -> dict[str, torch.Tensor]:
    """World positions (N, 3, float64) of the clip skeleton's points, in the clip's own world axes."""
    frames = _as_frames(frames)
    local = clip_local_rotations(frames)
    glob: dict[str, torch.Tensor] = {}
    pos: dict[str, torch.Tensor] = {}
    for name, (parent, offset) in CLIP_SKELETON.items():
        if parent is None:
            pos[name] = frames[:, 1:4]
            glob[name] = local[name]
            continue
        off = torch.tensor(offset, dtype=torch.float64)
        pos[name] = pos[parent] + glob[parent] @ off
        if name in local:
            glob[name] = glob[parent] @ local[name]
    return pos


def clip_points_in_smpl_world(frames) -> dict[str, torch.Tensor]:
    """:func:`clip_forward_kinematics` expressed in SMPL's world axes (faces +z, left at +x)."""
    return {k: v @ CLIP_TO_SMPL.T for k, v in clip_forward_kinematics(frames).items()}


def _fractional(rot: torch.Tensor, power: float) -> torch.Tensor:
    """``rot ** power`` along its geodesic (scaled rotation vector)."""
    return roma.rotvec_to_rotmat(roma.rotmat_to_rotvec(rot) * power)


def retarget_frames(frames) -> tuple[torch.Tensor, torch.Tensor]:
    """Retarget clip frames (N, 44) onto SMPL.

    Returns ``rotations`` (N, 24, 3, 3) local rotation matrices in SMPL order (pelvis = global
    orientation) and ``root_translation`` (N, 3), the pelvis world position in SMPL axes (metres,
    y up), both float64.
    """
    frames = _as_frames(frames)
    n = frames.shape[0]
    C = CLIP_TO_SMPL
    local = {k: C @ v @ C.T for k, v in clip_local_rotations(frames).items()}  # SMPL axes
    driven = torch.eye(3, dtype=torch.float64).repeat(n, NUM_JOINTS, 1, 1)
    driven[:, _J["pelvis"]] = local["root"]
    for smpl_name, (clip_name, power) in _SPREAD.items():
        driven[:, _J[smpl_name]] = _fractional(local[clip_name], power)
    for name in _DIRECT:
        driven[:, _J[name]] = local[name]
    # Rest alignment: R_j = A_parent^T R'_j A_j (A = I for all but the arm chains).
    parents = torch.tensor([max(p, 0) for p in SMPL_PARENTS])
    a_self = REST_ALIGNMENT
    a_parent = REST_ALIGNMENT[parents].clone()
    a_parent[_J["pelvis"]] = torch.eye(3, dtype=torch.float64)
    rotations = a_parent.transpose(-1, -2) @ driven @ a_self
    root_translation = frames[:, 1:4] @ C.T
    return rotations, root_translation


def forward_kinematics(
    rotations: torch.Tensor, offsets: torch.Tensor | None = None, root_translation: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """FK on SMPL's tree: (..., 24, 3, 3) local rotations -> joint positions (..., 24, 3) and global
    rotations (..., 24, 3, 3). ``offsets`` (24, 3) default to :data:`SMPL_REST_OFFSETS`."""
    offsets = SMPL_REST_OFFSETS if offsets is None else torch.as_tensor(offsets)
    offsets = offsets.to(rotations.dtype)
    glob = [None] * NUM_JOINTS
    pos = [None] * NUM_JOINTS
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            glob[j] = rotations[..., j, :, :]
            pos[j] = torch.zeros_like(rotations[..., j, :, 0]) + offsets[j]
            if root_translation is not None:
                pos[j] = pos[j] + root_translation.to(rotations.dtype)
        else:
            glob[j] = glob[p] @ rotations[..., j, :, :]
            pos[j] = pos[p] + (glob[p] @ offsets[j].unsqueeze(-1)).squeeze(-1)
    return torch.stack(pos, dim=-2), torch.stack(glob, dim=-3)


def smpl_points(
    rotations: torch.Tensor, root_translation: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Named SMPL rest-skeleton points after FK (24 joints + "head_top")."""
    pos, glob = forward_kinematics(rotations, root_translation=root_translation)
    out = {name: pos[..., i, :] for name, i in _J.items()}
    top = torch.tensor(SMPL_HEAD_TOP_OFFSET, dtype=rotations.dtype)
    out["head_top"] = out["head"] + glob[..., _J["head"], :, :] @ top
    return out


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def bone_direction_errors(frames, rotations: torch.Tensor) -> dict[str, torch.Tensor]:
    """Angle (degrees) between each bone's world direction on the clip's own skeleton (after the basis
    change) and on SMPL's rest skeleton posed with ``rotations``; group -> (N * bones_in_group,)."""
    clip = clip_points_in_smpl_world(frames)
    smpl = smpl_points(torch.as_tensor(rotations).to(torch.float64))
    out = {}
    for group, bones in BONE_GROUPS.items():
        errs = []
        for (s0, s1), (c0, c1) in bones:
            cos = (_unit(smpl[s1] - smpl[s0]) * _unit(clip[c1] - clip[c0])).sum(-1)
            errs.append(torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))))
        out[group] = torch.cat(errs)
    return out


def clip_fps(frames) -> float:
    """Frames per second from the clip's per-frame dt (the last frame's dt is often 0)."""
    dt = np.asarray(frames, dtype=np.float64)[:, 0]
    dt = dt[dt > 0]
    return float(1.0 / np.median(dt))


# ----------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------
@dataclass
class Clip:
    """One retargeted clip. ``rotations``: (N, 24, 3, 3) float32 torch local rotation matrices in SMPL
    order (pelvis = global orientation); ``root_translation``: (N, 3) float32 torch pelvis position
    (metres, SMPL world: y up, floor y = 0); ``source_frames``: (N, 44) float64 numpy raw clip frames."""

    name: str
    fps: float
    rotations: torch.Tensor
    root_translation: torch.Tensor
    split: str  # "train" | "heldout"
    source_frames: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])


def load_mocap(path: str | Path | None = None) -> dict[str, Clip]:
    """Load the retargeted clips (default: the package's ``data/mocap_smpl.npz``), keyed by name."""
    path = DEFAULT_MOCAP_PATH if path is None else Path(path)
    with np.load(path, allow_pickle=False) as z:
        names = [str(s) for s in z["clip_names"]]
        starts, lengths = z["clip_start"], z["clip_length"]
        fps, splits = z["clip_fps"], [str(s) for s in z["clip_split"]]
        rot, trans, src = z["rotations"], z["root_translation"], z["source_frames"]
        heldout = {str(s) for s in z["heldout_clips"]}
    if heldout != set(HELDOUT_CLIPS):
        raise ValueError(f"{path}: held-out clips {sorted(heldout)} != HELDOUT_CLIPS")
    clips = {}
    for i, name in enumerate(names):
        sl = slice(int(starts[i]), int(starts[i]) + int(lengths[i]))
        split = "heldout" if name in HELDOUT_CLIPS else "train"
        if splits[i] != split:
            raise ValueError(f"{path}: clip {name} stored as {splits[i]!r}, expected {split!r}")
        clips[name] = Clip(
            name=name,
            fps=float(fps[i]),
            rotations=torch.from_numpy(np.ascontiguousarray(rot[sl], dtype=np.float32)),
            root_translation=torch.from_numpy(np.ascontiguousarray(trans[sl], dtype=np.float32)),
            split=split,
            source_frames=np.asarray(src[sl], dtype=np.float64),
        )
    return clips


def train_clips(clips: dict[str, Clip] | None = None) -> dict[str, Clip]:
    """The training clips (everything not in :data:`HELDOUT_CLIPS`)."""
    clips = load_mocap() if clips is None else clips
    return {k: c for k, c in clips.items() if c.split == "train" and k not in HELDOUT_CLIPS}


def heldout_clips(clips: dict[str, Clip] | None = None) -> dict[str, Clip]:
    """The held-out evaluation clips (:data:`HELDOUT_CLIPS`)."""
    clips = load_mocap() if clips is None else clips
    return {k: c for k, c in clips.items() if c.split == "heldout" or k in HELDOUT_CLIPS}


# ----------------------------------------------------------------------------------------------------
# Augmentation (training poses only). Inputs: (N, 24, 3, 3) local rotations; generator: torch.Generator.
# ----------------------------------------------------------------------------------------------------
_MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


def mirror_poses(rotations: torch.Tensor) -> torch.Tensor:
    """Left/right mirror across the x = 0 plane: swap sides and reflect, ``R' = M R M``."""
    m = _MIRROR.to(rotations)
    return (m @ rotations @ m)[..., list(MIRROR_PERMUTATION), :, :]


def mirror_translation(root_translation: torch.Tensor) -> torch.Tensor:
    """Root translation matching :func:`mirror_poses` (x -> -x)."""
    return root_translation * _MIRROR.diagonal().to(root_translation)


def random_yaw(
    rotations: torch.Tensor, generator: torch.Generator, max_angle: float = math.pi
) -> torch.Tensor:
    """Rotate each pose's global orientation about world +y by a uniform angle in [-max, max)."""
    n = rotations.shape[0]
    angle = (torch.rand(n, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * max_angle
    rotvec = torch.zeros(n, 3, dtype=torch.float64)
    rotvec[:, 1] = angle
    out = rotations.clone()
    out[:, 0] = roma.rotvec_to_rotmat(rotvec).to(rotations) @ rotations[:, 0]
    return out


def recombine_limbs(
    rotations: torch.Tensor, generator: torch.Generator, prob: float = 0.5, donors: torch.Tensor | None = None
) -> torch.Tensor:
    """With probability ``prob`` per pose, replace one random limb chain (an arm or a leg) with the same
    chain from a random donor pose (from ``donors``, default ``rotations`` itself)."""
    donors = rotations if donors is None else donors
    n = rotations.shape[0]
    out = rotations.clone()
    pick = torch.rand(n, generator=generator) < prob
    donor = torch.randint(0, donors.shape[0], (n,), generator=generator)
    chain = torch.randint(0, len(LIMB_CHAINS), (n,), generator=generator)
    for c, joints in enumerate(LIMB_CHAINS.values()):
        rows = torch.nonzero(pick & (chain == c)).flatten()
        if rows.numel():
            idx = [_J[j] for j in joints]
            out[rows[:, None], torch.tensor(idx)[None, :]] = donors[donor[rows]][:, idx]
    return out


def perturb_poses(
    rotations: torch.Tensor, generator: torch.Generator, sigma_deg: float = 3.0, max_deg: float = 8.0
) -> torch.Tensor:
    """Small random rotations on the mocap-driven body joints (not the pelvis; undriven joints stay
    identity). Ball joints: R exp(noise), |noise| <= max_deg; hinges (knees, elbows) stay pure hinges,
    their flexion is perturbed and clamped to :data:`HINGE_LIMITS`."""
    out = rotations.clone()
    n = rotations.shape[0]
    sigma, cap = math.radians(sigma_deg), math.radians(max_deg)
    for name in DRIVEN_JOINTS:
        if name == "pelvis":
            continue
        j = _J[name]
        rot = rotations[:, j].to(torch.float64)
        if name in HINGE_AXES:
            axis = torch.tensor(HINGE_AXES[name], dtype=torch.float64)
            angle = roma.rotmat_to_rotvec(rot) @ axis
            angle = angle + torch.randn(n, generator=generator, dtype=torch.float64) * sigma
            lo, hi = HINGE_LIMITS[name]
            out[:, j] = roma.rotvec_to_rotmat(angle.clamp(lo, hi)[:, None] * axis).to(out)
        else:
            noise = torch.randn(n, 3, generator=generator, dtype=torch.float64) * sigma
            norm = noise.norm(dim=-1, keepdim=True)
            noise = noise * (cap / norm.clamp_min(1e-12)).clamp(max=1.0)
            out[:, j] = (rot @ roma.rotvec_to_rotmat(noise)).to(out)
    return out


def interpolate_poses(rot_a: torch.Tensor, rot_b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-joint geodesic slerp between two pose batches (N, 24, 3, 3) with per-pose ``t`` (N,)."""
    a, b = rot_a.to(torch.float64), rot_b.to(torch.float64)
    delta = roma.rotmat_to_rotvec(a.transpose(-1, -2) @ b)
    tt = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1, 1)
    return (a @ roma.rotvec_to_rotmat(delta * tt)).to(rot_a.dtype)


LYING_TILT_DEG = 60.0


def is_lying(rotations: torch.Tensor, tilt_deg: float = LYING_TILT_DEG) -> torch.Tensor:
    """(N,) bool: the body's up axis (global orientation applied to +y, the rest pose's spine
    direction) is more than ``tilt_deg`` from world up. ``rotations``: (N, 24, 3, 3) world frame."""
    up_y = rotations[:, 0, 1, 1]  # y component of R_global @ (0, 1, 0)
    return up_y < math.cos(math.radians(tilt_deg))


def augmented_training_poses(
    n: int,
    seed: int,
    clips: dict[str, Clip] | None = None,
    *,
    p_interpolate: float = 0.5,
    max_interp_gap: int = 4,
    p_recombine: float = 0.3,
    p_mirror: float = 0.5,
    perturb_sigma_deg: float = 3.0,
    yaw: bool = True,
    lying_weight: float = 1.0,
) -> torch.Tensor:
    """``n`` augmented poses (n, 24, 3, 3) float32 drawn from the TRAINING clips only, deterministic in
    ``seed``: sample a frame, slerp towards a frame up to ``max_interp_gap`` later in the same clip,
    swap a limb chain with another training frame, mirror, perturb within joint limits, random yaw.
    ``lying_weight``: relative sampling weight of frames whose torso is more than
    ``LYING_TILT_DEG`` from vertical (1 = uniform over frames)."""
    pool_clips = list(train_clips(clips).values())
    if not pool_clips:
        raise ValueError("no training clips to augment")
    g = torch.Generator().manual_seed(int(seed))
    pool = torch.cat([c.rotations for c in pool_clips]).to(torch.float64)
    lengths = torch.tensor([c.num_frames for c in pool_clips])
    ends = torch.cumsum(lengths, 0).repeat_interleave(lengths)  # exclusive end of each frame's clip
    if lying_weight == 1.0:
        idx = torch.randint(0, pool.shape[0], (n,), generator=g)
    else:
        weights = torch.where(is_lying(pool), float(lying_weight), 1.0)
        idx = torch.multinomial(weights, n, replacement=True, generator=g)
    poses = pool[idx]

    interp = torch.rand(n, generator=g) < p_interpolate
    gap = torch.randint(1, max_interp_gap + 1, (n,), generator=g)
    t = torch.rand(n, generator=g, dtype=torch.float64)
    other = torch.minimum(idx + gap, ends[idx] - 1)
    poses = torch.where(interp[:, None, None, None], interpolate_poses(poses, pool[other], t), poses)

    poses = recombine_limbs(poses, g, prob=p_recombine, donors=pool)
    mirror = torch.rand(n, generator=g) < p_mirror
    poses = torch.where(mirror[:, None, None, None], mirror_poses(poses), poses)
    if perturb_sigma_deg > 0:
        poses = perturb_poses(poses, g, sigma_deg=perturb_sigma_deg, max_deg=2.7 * perturb_sigma_deg)
    if yaw:
        poses = random_yaw(poses, g)
    # Re-orthonormalise away float drift before handing out float32 rotations.
    return roma.special_procrustes(poses).to(torch.float32)
