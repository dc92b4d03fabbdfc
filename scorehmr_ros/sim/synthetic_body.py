"""Licence-free synthetic body model in SMPL format (numpy only, deterministic).

The body is a union of closed "tubes" (generalised cylinders with elliptic cross-sections and
rounded caps): torso, neck, head, nose, ears, one tube per arm (collar->wrist) and leg
(hip->ankle), palms, fingers, thumbs and feet. Every tube is a closed surface with outward
(counter-clockwise) winding, so the whole mesh is closed (every edge shared by two faces).

Conventions are SMPL's: T-pose, metres, y up, +z forward (the face looks towards +z), +x is the
subject's LEFT, pelvis joint at the origin, 24 joints in SMPL order (``core.skeleton``).

Every vertex is written as ``v = (1 - t) J[a] + t J[b] + o``: it is anchored on the bone
between joints ``a`` and ``b`` (or on a single joint) plus an offset ``o``. Shape directions are
defined as joint displacements (bone re-proportioning) plus offset scalings (girth), so that the
joints regressed by ``J_regressor`` (uniform averages of the tube rings that are centred exactly on
the joints) follow every shape change.

Arrays written (``build_model()`` / ``save_model()``):

- ``v_template (V,3)``, ``f (F,3) int32``, ``weights (V,24)`` (rows sum to 1),
- ``J_regressor (24,V)`` (nonnegative, rows sum to 1), ``J (24,3)`` design joints,
- ``kintree_table (2,24)`` (``[parents, ids]``, root parent 4294967295 as in SMPL),
- ``shapedirs (V,3,10)`` named by ``shape_names``, ``posedirs (V,3,207)`` (smplx layout:
  pose feature = flattened ``R_j - I`` for joints 1..23),
- ``landmark_names (L,)`` unicode, ``landmark_vertex_ids (L,)``, ``joint_names (24,)``,
- ``part_names (P,)`` and ``vertex_part (V,)`` (which tube each vertex belongs to).
"""

from __future__ import annotations

import io
import itertools
import zipfile
from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.core.skeleton import (
    JOINT_INDEX,
    MIRROR_PERMUTATION,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    mirror_name,
)

# Shape directions, one per beta, each about "one standard deviation" for +1.
SHAPE_NAMES: tuple[str, ...] = (
    "stature",  # uniform scale about the pelvis (+4 %, ~ +7 cm height)
    "girth",  # weight: radial thickness of torso, limbs and neck
    "shoulder_width",  # collars/arms move outwards, upper chest widens
    "hip_width",  # hips/legs move outwards, pelvis region widens
    "arm_length",  # upper arm, forearm and hand bones longer (+8 %)
    "leg_length",  # thigh and shank bones longer (+7 %)
    "torso_length",  # spine, neck and collar bones longer (+7 %)
    "head_size",  # head, nose and ears scaled about the head joint (+8 %)
    "limb_thickness",  # muscularity: arms, legs and neck thicker, torso unchanged
    "belly",  # belly protrudes forward around the waist
)

STATURE_SCALE = 0.04
_UP = np.array([0.0, 1.0, 0.0])
_X = np.array([1.0, 0.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])

# Design joints (metres) for the centre and the LEFT side; the right side is mirrored (x -> -x).
_JOINTS_LEFT_CENTRE: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.09, -0.08, 0.0),
    "spine1": (0.0, 0.10, -0.005),
    "left_knee": (0.10, -0.48, 0.01),
    "spine2": (0.0, 0.23, 0.0),
    "left_ankle": (0.10, -0.87, -0.03),
    "spine3": (0.0, 0.29, 0.005),
    "left_foot": (0.11, -0.915, 0.10),
    "neck": (0.0, 0.52, -0.005),
    "left_collar": (0.07, 0.44, 0.0),
    "head": (0.0, 0.62, 0.02),
    "left_shoulder": (0.18, 0.47, -0.01),
    "left_elbow": (0.44, 0.47, -0.02),
    "left_wrist": (0.69, 0.47, -0.01),
    "left_hand": (0.77, 0.47, -0.01),
}
_MIRROR = np.array([-1.0, 1.0, 1.0])


def design_joints() -> np.ndarray:
    """Design joint positions ``(24, 3)`` float64, SMPL order."""
    out = np.zeros((24, 3))
    for name, i in JOINT_INDEX.items():
        if name in _JOINTS_LEFT_CENTRE:
            out[i] = _JOINTS_LEFT_CENTRE[name]
        else:
            out[i] = np.array(_JOINTS_LEFT_CENTRE[mirror_name(name)]) * _MIRROR
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class _Part:
    """One closed tube: vertices, faces and per-vertex anchoring/weights (local indices)."""

    name: str
    verts: np.ndarray  # (N,3)
    faces: np.ndarray  # (F,3)
    a: np.ndarray  # (N,) anchor joint a
    b: np.ndarray  # (N,) anchor joint b
    t: np.ndarray  # (N,) interpolation a -> b
    axis: np.ndarray  # (3,) main axis of the tube
    rings: list[np.ndarray]  # ring vertex ids, caps included, from end A to end B
    n_cap: int
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,24)
    joint_rings: dict[str, int] = field(default_factory=dict)  # joint -> station index

    def station_ring(self, k: int) -> np.ndarray:
        return self.rings[self.n_cap - 1 + k]

    @property
    def pole_a(self) -> int:
        return 0

    @property
    def pole_b(self) -> int:
        return len(self.verts) - 1

    def ring_vertex(self, ring: np.ndarray, direction) -> int:
        """Vertex of ``ring`` whose direction from the ring centre best matches ``direction``."""
        p = self.verts[ring]
        d = p - p.mean(axis=0)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return int(ring[np.argmax(d @ np.asarray(direction, dtype=float))])


def _anchor(chain: list[str], joints: np.ndarray, axis: np.ndarray, center: np.ndarray):
    """Anchor ``(a, b, t)`` of a point on a joint chain, by its coordinate along ``axis``."""
    ids = [JOINT_INDEX[n] for n in chain]
    s = center @ axis
    sj = joints[ids] @ axis
    if len(ids) == 1 or s <= sj[0]:
        return ids[0], ids[0], 0.0
    if s >= sj[-1]:
        return ids[-1], ids[-1], 0.0
    k = int(np.searchsorted(sj, s) - 1)
    k = min(max(k, 0), len(ids) - 2)
    t = float((s - sj[k]) / (sj[k + 1] - sj[k]))
    return ids[k], ids[k + 1], t


def _tube(
    name: str,
    joints: np.ndarray,
    chain: list[str],
    centers,
    r1,
    r2,
    e1,
    e2,
    cap_a: float,
    cap_b: float,
    n_theta: int,
    n_cap: int = 4,
) -> _Part:
    """Closed generalised cylinder through ``centers (K,3)`` with elliptic rings.

    Ring point: ``c + r1 sin(theta) e1 + r2 cos(theta) e2``; end caps are quarter ellipses of
    length ``cap_a`` / ``cap_b`` closed by a pole vertex. Winding is made outward.
    """
    centers = np.asarray(centers, dtype=float)
    r1 = np.asarray(r1, dtype=float)
    r2 = np.asarray(r2, dtype=float)
    e1 = np.asarray(e1, dtype=float)
    e2 = np.asarray(e2, dtype=float)
    axis = centers[-1] - centers[0]
    axis /= np.linalg.norm(axis)
    theta = 2.0 * np.pi * np.arange(n_theta) / n_theta
    s, c = np.sin(theta)[:, None], np.cos(theta)[:, None]

    ring_specs = []  # (center, r1, r2, station index for anchoring)
    alphas = np.pi / 2 * np.arange(1, n_cap) / n_cap
    for al in alphas:
        ring_specs.append((centers[0] - cap_a * np.cos(al) * axis, r1[0] * np.sin(al), r2[0] * np.sin(al), 0))
    for k in range(len(centers)):
        ring_specs.append((centers[k], r1[k], r2[k], k))
    last = len(centers) - 1
    for al in alphas[::-1]:
        ring_specs.append(
            (centers[-1] + cap_b * np.cos(al) * axis, r1[-1] * np.sin(al), r2[-1] * np.sin(al), last)
        )

    verts = [centers[0] - cap_a * axis]
    station = [0]
    rings = []
    for cen, ra, rb, k in ring_specs:
        rings.append(np.arange(len(verts), len(verts) + n_theta))
        verts.extend(cen + ra * s * e1 + rb * c * e2)
        station.extend([k] * n_theta)
    verts.append(centers[-1] + cap_b * axis)
    station.append(last)
    verts = np.asarray(verts)

    faces = []
    nxt = np.roll(np.arange(n_theta), -1)
    r0 = rings[0]
    faces += [(0, r0[i], r0[nxt[i]]) for i in range(n_theta)]
    for ra, rb in itertools.pairwise(rings):
        for i in range(n_theta):
            faces.append((ra[i], rb[i], rb[nxt[i]]))
            faces.append((ra[i], rb[nxt[i]], ra[nxt[i]]))
    rl = rings[-1]
    pb = len(verts) - 1
    faces += [(pb, rl[nxt[i]], rl[i]) for i in range(n_theta)]
    faces = np.asarray(faces, dtype=np.int64)
    if _signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1].copy()

    anchors = [_anchor(chain, joints, axis, centers[k]) for k in range(len(centers))]
    a = np.array([anchors[k][0] for k in station])
    b = np.array([anchors[k][1] for k in station])
    t = np.array([anchors[k][2] for k in station])
    return _Part(name, verts, faces, a, b, t, axis, rings, n_cap)


def _signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    p = verts[faces]
    return float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0)


def _chain_weights(s: np.ndarray, chain: list[tuple[str, float, float]]) -> np.ndarray:
    """Smooth LBS weights along a chain: ``chain = [(joint0, -, -), (joint_k, s_k, halfwidth_k)...]``.

    Joint ``k`` drives the coordinate range ``[s_k, s_{k+1}]``; the hand-over at ``s_k`` is a
    smoothstep of half-width ``w_k``. Returns ``(N, 24)`` rows summing to 1.
    """
    w = np.zeros((len(s), 24))
    past = [np.ones_like(s)]  # fraction past each boundary
    for _, sk, wk in chain[1:]:
        past.append(_smoothstep((s - sk + wk) / (2 * wk)))
    past.append(np.zeros_like(s))
    for k, (name, _, _) in enumerate(chain):
        w[:, JOINT_INDEX[name]] += past[k] - past[k + 1]
    return w


def _interp(x: float, xs, ys) -> np.ndarray:
    ys = np.asarray(ys, dtype=float)
    return np.array([np.interp(x, xs, ys[:, i]) for i in range(ys.shape[1])])


def _build_parts(J: np.ndarray) -> tuple[list[_Part], list[_Part]]:
    """Centre parts and left parts (the right parts are mirrored copies of the left ones)."""
    jn = {n: J[i] for n, i in JOINT_INDEX.items()}
    centre: list[_Part] = []
    left: list[_Part] = []

    # --- torso: along +y from below the pelvis to the neck base ------------------------------
    torso_chain = ["pelvis", "spine1", "spine2", "spine3", "neck"]
    # (y, half width x, half depth z)
    prof = [
        (-0.10, 0.150, 0.095),
        (-0.05, 0.163, 0.100),
        (0.00, 0.168, 0.105),
        (0.05, 0.158, 0.100),
        (0.10, 0.145, 0.095),
        (0.165, 0.146, 0.096),
        (0.23, 0.155, 0.100),
        (0.29, 0.165, 0.105),
        (0.35, 0.172, 0.105),
        (0.40, 0.176, 0.100),
        (0.44, 0.172, 0.090),
        (0.48, 0.150, 0.075),
    ]
    ys = [jn[n][1] for n in torso_chain]
    zs = [jn[n][2] for n in torso_chain]
    centers = [(0.0, y, float(np.interp(y, ys, zs))) for y, _, _ in prof]
    torso = _tube(
        "torso",
        J,
        torso_chain,
        centers,
        [p[1] for p in prof],
        [p[2] for p in prof],
        _X,
        _Z,
        cap_a=0.06,
        cap_b=0.045,
        n_theta=28,
        n_cap=5,
    )
    torso.joint_rings = {"pelvis": 2, "spine1": 4, "spine2": 6, "spine3": 7}
    v = torso.verts
    w = _chain_weights(
        v[:, 1],
        [
            ("pelvis", 0, 0),
            ("spine1", 0.10, 0.04),
            ("spine2", 0.23, 0.04),
            ("spine3", 0.29, 0.03),
            ("neck", 0.53, 0.03),
        ],
    )
    # lateral hand-over to the collars (shoulders) and to the hips (buttocks/groin)
    for side in ("left", "right"):
        sgn = 1.0 if side == "left" else -1.0
        lat = _smoothstep((sgn * v[:, 0] - 0.09) / 0.08)
        c = 0.8 * lat * _smoothstep((v[:, 1] - 0.36) / 0.08)
        w = w * (1 - c[:, None])
        w[:, JOINT_INDEX[f"{side}_collar"]] += c
        h = 0.5 * _smoothstep((sgn * v[:, 0] - 0.02) / 0.08) * _smoothstep((-0.02 - v[:, 1]) / 0.10)
        w = w * (1 - h[:, None])
        w[:, JOINT_INDEX[f"{side}_hip"]] += h
    torso.weights = w
    centre.append(torso)

    # --- neck ------------------------------------------------------------------------------------
    neck_chain = ["neck", "head"]
    ny = [0.47, 0.52, 0.57, 0.60]
    centers = [_interp(y, [0.47, 0.52, 0.62], [jn["neck"], jn["neck"], jn["head"]]) for y in ny]
    centers = [np.array([0.0, y, c[2]]) for y, c in zip(ny, centers, strict=True)]
    neck = _tube(
        "neck", J, neck_chain, centers, [0.060, 0.056, 0.054, 0.055], [0.062, 0.058, 0.056, 0.058], _X, _Z,
        cap_a=0.03, cap_b=0.03, n_theta=16, n_cap=3,
    )  # fmt: skip
    neck.joint_rings = {"neck": 1}
    neck.weights = _chain_weights(
        neck.verts[:, 1], [("spine3", 0, 0), ("neck", 0.50, 0.025), ("head", 0.61, 0.02)]
    )
    centre.append(neck)

    # --- head: ellipsoid-like tube along +y, rings at 32 angles (eyes/mouth picked on rings) ---
    # (y, half width x, half depth z, centre z)
    hprof = [
        (0.585, 0.050, 0.062, 0.012),
        (0.600, 0.060, 0.076, 0.016),
        (0.620, 0.066, 0.085, 0.020),  # head joint ring, mouth row
        (0.645, 0.071, 0.092, 0.021),
        (0.670, 0.075, 0.096, 0.020),
        (0.695, 0.078, 0.098, 0.018),  # eye row
        (0.725, 0.078, 0.097, 0.014),
        (0.755, 0.073, 0.090, 0.010),
    ]
    head = _tube(
        "head",
        J,
        ["head"],
        [(0.0, y, zc) for y, _, _, zc in hprof],
        [p[1] for p in hprof],
        [p[2] for p in hprof],
        _X,
        _Z,
        cap_a=0.022,
        cap_b=0.045,
        n_theta=32,
        n_cap=5,
    )
    head.joint_rings = {"head": 2}
    head.weights = _chain_weights(head.verts[:, 1], [("neck", 0, 0), ("head", 0.56, 0.02)])
    centre.append(head)

    nose = _tube(
        "nose", J, ["head"], [(0.0, 0.668, 0.08), (0.0, 0.658, 0.108)], [0.010, 0.011], [0.016, 0.012],
        _X, _UP, cap_a=0.01, cap_b=0.02, n_theta=8, n_cap=3,
    )  # fmt: skip
    nose.weights = np.tile(np.eye(24)[JOINT_INDEX["head"]], (len(nose.verts), 1))
    centre.append(nose)

    # --- left ear ----------------------------------------------------------------------------
    ear = _tube(
        "left_ear", J, ["head"], [(0.05, 0.675, 0.0), (0.072, 0.675, 0.0)], [0.024, 0.026], [0.012, 0.012],
        _UP, _Z, cap_a=0.01, cap_b=0.014, n_theta=8, n_cap=3,
    )  # fmt: skip
    ear.weights = np.tile(np.eye(24)[JOINT_INDEX["head"]], (len(ear.verts), 1))
    left.append(ear)

    # --- left arm: collar -> shoulder -> elbow -> wrist, along +x --------------------------------
    arm_chain = ["left_collar", "left_shoulder", "left_elbow", "left_wrist"]
    # (x, half height y, half depth z)
    aprof = [
        (0.07, 0.048, 0.050),
        (0.125, 0.053, 0.055),
        (0.18, 0.056, 0.056),
        (0.215, 0.055, 0.056),
        (0.25, 0.051, 0.053),
        (0.29, 0.047, 0.050),
        (0.33, 0.045, 0.048),
        (0.37, 0.042, 0.045),
        (0.405, 0.039, 0.042),
        (0.44, 0.037, 0.040),
        (0.475, 0.039, 0.043),
        (0.51, 0.040, 0.043),
        (0.55, 0.037, 0.040),
        (0.59, 0.033, 0.036),
        (0.63, 0.029, 0.034),
        (0.69, 0.025, 0.031),
    ]
    xs = [jn[n][0] for n in arm_chain]
    centers = [_interp(x, xs, [jn[n] for n in arm_chain]) for x, _, _ in aprof]
    arm = _tube(
        "left_arm", J, arm_chain, centers, [p[1] for p in aprof], [p[2] for p in aprof], _UP, _Z,
        cap_a=0.04, cap_b=0.02, n_theta=14, n_cap=3,
    )  # fmt: skip
    arm.joint_rings = {"left_collar": 0, "left_shoulder": 2, "left_elbow": 9, "left_wrist": 15}
    arm.weights = _chain_weights(
        arm.verts[:, 0],
        [
            ("spine3", 0, 0),
            ("left_collar", 0.06, 0.03),
            ("left_shoulder", 0.18, 0.04),
            ("left_elbow", 0.44, 0.035),
            ("left_wrist", 0.69, 0.02),
        ],
    )
    left.append(arm)

    # --- left palm ------------------------------------------------------------------------------
    yh, zh = jn["left_hand"][1], jn["left_hand"][2]
    pprof = [(0.69, 0.019, 0.034), (0.73, 0.021, 0.043), (0.77, 0.019, 0.045), (0.795, 0.015, 0.043)]
    palm = _tube(
        "left_palm", J, ["left_wrist", "left_hand"], [(x, yh, zh) for x, _, _ in pprof],
        [p[1] for p in pprof], [p[2] for p in pprof], _UP, _Z, cap_a=0.02, cap_b=0.012, n_theta=12, n_cap=3,
    )  # fmt: skip
    palm.joint_rings = {"left_hand": 2}
    palm.weights = _chain_weights(
        palm.verts[:, 0], [("left_elbow", 0, 0), ("left_wrist", 0.685, 0.02), ("left_hand", 0.77, 0.02)]
    )
    left.append(palm)

    # --- left fingers (palm down, thumb forward +z) ----------------------------------------------
    hand_w = np.eye(24)[JOINT_INDEX["left_hand"]]
    fingers = {
        "index": (0.030, 0.075),
        "middle": (0.010, 0.085),
        "ring": (-0.010, 0.080),
        "pinky": (-0.030, 0.065),
    }
    for fname, (dz, length) in fingers.items():
        r = 0.0085 if fname != "pinky" else 0.0075
        x0 = 0.785
        x1 = x0 + length - r
        ctr = [(x0, yh - 0.002, zh + dz), ((x0 + x1) / 2, yh - 0.003, zh + dz), (x1, yh - 0.004, zh + dz)]
        fp = _tube(
            f"left_{fname}", J, ["left_hand"], ctr, [r, r, r * 0.9], [r, r, r * 0.95], _UP, _Z,
            cap_a=r, cap_b=r, n_theta=8, n_cap=3,
        )  # fmt: skip
        fp.weights = np.tile(hand_w, (len(fp.verts), 1))
        left.append(fp)
    t0 = np.array([0.712, yh - 0.008, zh + 0.035])
    t1 = np.array([0.772, yh - 0.012, zh + 0.085])
    d = (t1 - t0) / np.linalg.norm(t1 - t0)
    e2 = np.cross(d, _UP)
    e2 /= np.linalg.norm(e2)
    thumb = _tube(
        "left_thumb", J, ["left_hand"], [t0, (t0 + t1) / 2, t1],
        [0.011, 0.0105, 0.0095], [0.0105, 0.010, 0.009],
        _UP, e2, cap_a=0.01, cap_b=0.0095, n_theta=8, n_cap=3,
    )  # fmt: skip
    thumb.weights = np.tile(hand_w, (len(thumb.verts), 1))
    left.append(thumb)

    # --- left leg: hip -> knee -> ankle, along -y -------------------------------------------------
    leg_chain = ["left_hip", "left_knee", "left_ankle"]
    # (y, half width x, half depth z)
    lprof = [
        (-0.08, 0.083, 0.088),
        (-0.13, 0.080, 0.085),
        (-0.18, 0.076, 0.080),
        (-0.23, 0.071, 0.075),
        (-0.28, 0.067, 0.070),
        (-0.33, 0.062, 0.065),
        (-0.38, 0.057, 0.060),
        (-0.43, 0.053, 0.056),
        (-0.48, 0.050, 0.054),
        (-0.53, 0.050, 0.055),
        (-0.58, 0.051, 0.058),
        (-0.63, 0.048, 0.055),
        (-0.68, 0.043, 0.049),
        (-0.73, 0.038, 0.043),
        (-0.78, 0.034, 0.038),
        (-0.83, 0.031, 0.035),
        (-0.87, 0.030, 0.034),
    ]
    leg_y = [jn[n][1] for n in leg_chain]
    centers = [_interp(y, leg_y[::-1], [jn[n] for n in leg_chain][::-1]) for y, _, _ in lprof]
    leg = _tube(
        "left_leg", J, leg_chain, centers, [p[1] for p in lprof], [p[2] for p in lprof], _X, _Z,
        cap_a=0.08, cap_b=0.03, n_theta=16, n_cap=3,
    )  # fmt: skip
    leg.joint_rings = {"left_hip": 0, "left_knee": 8, "left_ankle": 16}
    leg.weights = _chain_weights(
        -leg.verts[:, 1],
        [("pelvis", 0, 0), ("left_hip", 0.06, 0.05), ("left_knee", 0.48, 0.05), ("left_ankle", 0.86, 0.03)],
    )
    left.append(leg)

    # --- left foot: heel -> toes, along +z (big toe medial, i.e. towards -x) ---------------------
    jf = jn["left_foot"]
    # (z, x centre, y centre, half width x, half height y)
    fprof = [
        (-0.05, 0.100, -0.905, 0.031, 0.040),
        (-0.01, 0.102, -0.905, 0.035, 0.042),
        (0.03, 0.105, -0.908, 0.040, 0.040),
        (0.07, 0.109, -0.912, 0.045, 0.036),
        (0.10, jf[0], jf[1], 0.046, 0.033),  # foot joint ring
        (0.13, 0.108, -0.920, 0.044, 0.026),
        (0.155, 0.100, -0.925, 0.038, 0.020),
    ]
    foot = _tube(
        "left_foot", J, ["left_ankle", "left_foot"], [(x, y, z) for z, x, y, _, _ in fprof],
        [p[3] for p in fprof], [p[4] for p in fprof], _X, -_UP, cap_a=0.03, cap_b=0.025, n_theta=14, n_cap=3,
    )  # fmt: skip
    foot.joint_rings = {"left_foot": 4}
    foot.weights = _chain_weights(foot.verts[:, 2], [("left_ankle", 0, 0), ("left_foot", 0.10, 0.03)])
    left.append(foot)
    return centre, left


def _mirror_part(p: _Part) -> _Part:
    perm = np.asarray(MIRROR_PERMUTATION)
    m = _Part(
        mirror_name(p.name),
        p.verts * _MIRROR,
        p.faces[:, ::-1].copy(),
        perm[p.a],
        perm[p.b],
        p.t.copy(),
        p.axis * _MIRROR,
        p.rings,
        p.n_cap,
        p.weights[:, perm],
        {mirror_name(k): v for k, v in p.joint_rings.items()},
    )
    return m


def _landmarks(parts: dict[str, _Part], offsets: dict[str, int]) -> dict[str, int]:
    """Named landmark vertices (global ids); left ones are mirrored to the right."""
    head = parts["head"]
    out = {}
    deg = np.pi / 180

    def on_head(ring_k, ang):
        return head.ring_vertex(head.station_ring(ring_k), (np.sin(ang * deg), 0.0, np.cos(ang * deg)))

    local = {
        "nose": ("nose", parts["nose"].pole_b),
        "left_eye_inner": ("head", on_head(5, 10)),
        "left_eye": ("head", on_head(5, 22)),
        "left_eye_outer": ("head", on_head(5, 40)),
        "right_eye_inner": ("head", on_head(5, -10)),
        "right_eye": ("head", on_head(5, -22)),
        "right_eye_outer": ("head", on_head(5, -40)),
        "mouth_left": ("head", on_head(2, 20)),
        "mouth_right": ("head", on_head(2, -20)),
        "left_ear": ("left_ear", parts["left_ear"].pole_b),
    }
    for f in ("thumb", "index", "middle", "ring", "pinky"):
        local[f"left_{f}_tip"] = (f"left_{f}", parts[f"left_{f}"].pole_b)
    foot = parts["left_foot"]
    local["left_big_toe"] = ("left_foot", foot.pole_b)
    local["left_small_toe"] = ("left_foot", foot.ring_vertex(foot.station_ring(5), (1.0, -0.3, 0.0)))
    local["left_heel"] = ("left_foot", foot.ring_vertex(foot.rings[1], (0.0, -1.0, 0.0)))
    for name, (part, vid) in local.items():
        out[name] = offsets[part] + vid
        if name.startswith("left_"):
            out[mirror_name(name)] = offsets[mirror_name(part)] + vid
    order = (
        ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye"]
        + ["right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right"]
        + [f"{s}_{f}_tip" for s in ("left", "right") for f in ("thumb", "index", "middle", "ring", "pinky")]
        + [f"{s}_{t}" for s in ("left", "right") for t in ("big_toe", "small_toe", "heel")]
    )
    assert set(order) == set(out), set(out) ^ set(order)
    return {k: out[k] for k in order}


def _radial(o: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Component of offsets ``o (N,3)`` perpendicular to the per-vertex ``axis (N,3)``."""
    return o - np.sum(o * axis, axis=1, keepdims=True) * axis


def _scale_bones(J: np.ndarray, scaled: set[str], s: float) -> np.ndarray:
    """Joint displacements ``(24,3)`` when the bones ending at ``scaled`` joints grow by ``s``."""
    dJ = np.zeros_like(J)
    for j, p in enumerate(SMPL_PARENTS):
        if p < 0:
            continue
        dJ[j] = dJ[p] + (s * (J[j] - J[p]) if SMPL_JOINT_NAMES[j] in scaled else 0.0)
    return dJ


def _shapedirs(J, verts, a, b, t, axis, part_of: np.ndarray, part_names: list[str]) -> np.ndarray:
    """``(V,3,10)`` shape displacements, see ``SHAPE_NAMES``."""
    base = (1 - t)[:, None] * J[a] + t[:, None] * J[b]
    o = verts - base
    rad = _radial(o, axis)
    pname = np.asarray(part_names)[part_of]
    is_torso = pname == "torso"
    is_leg = np.char.endswith(pname, "_leg")
    is_arm = np.char.endswith(pname, "_arm")
    is_neck = pname == "neck"
    is_headish = np.isin(pname, ["head", "nose", "left_ear", "right_ear"])
    is_hand = np.array(
        [any(k in n for k in ("palm", "thumb", "index", "middle", "ring", "pinky")) for n in pname]
    )
    is_foot = np.char.endswith(pname, "_foot")
    y = verts[:, 1]

    def disp(dJ, do):
        return (1 - t)[:, None] * dJ[a] + t[:, None] * dJ[b] + do

    def sym(dj_left: np.ndarray) -> np.ndarray:
        """Mirror the displacements of left joints onto right joints."""
        out = dj_left.copy()
        for n, i in JOINT_INDEX.items():
            if n.startswith("right_"):
                out[i] = dj_left[JOINT_INDEX[mirror_name(n)]] * _MIRROR
        return out

    zero = np.zeros_like(J)
    dirs = []
    # 0 stature
    dirs.append(STATURE_SCALE * verts)
    # 1 girth (thigh thicker at the top)
    g = np.where(is_torso, 0.12, 0.0) + np.where(is_arm, 0.09, 0.0) + np.where(is_neck, 0.08, 0.0)
    g += np.where(is_leg, 0.07 + 0.06 * np.clip((y + 0.87) / 0.8, 0, 1), 0.0)
    g += np.where(is_hand | is_foot, 0.03, 0.0) + np.where(is_headish, 0.02, 0.0)
    dirs.append(disp(zero, g[:, None] * rad))
    # 2 shoulder width
    dj = np.zeros_like(J)
    dj[JOINT_INDEX["left_collar"], 0] = 0.012
    for n in ("left_shoulder", "left_elbow", "left_wrist", "left_hand"):
        dj[JOINT_INDEX[n], 0] = 0.03
    do = np.zeros_like(verts)
    do[:, 0] = np.where(is_torso, 0.15 * o[:, 0] * _smoothstep((y - 0.25) / 0.17), 0.0)
    dirs.append(disp(sym(dj), do))
    # 3 hip width
    dj = np.zeros_like(J)
    for n in ("left_hip", "left_knee", "left_ankle", "left_foot"):
        dj[JOINT_INDEX[n], 0] = 0.015
    do = np.zeros_like(verts)
    do[:, 0] = np.where(is_torso, 0.12 * o[:, 0] * (1 - _smoothstep((y - 0.0) / 0.2)), 0.0)
    dirs.append(disp(sym(dj), do))
    # 4 arm length
    dirs.append(
        disp(
            _scale_bones(
                J, {f"{s}_{n}" for s in ("left", "right") for n in ("elbow", "wrist", "hand")}, 0.08
            ),
            0,
        )
    )
    # 5 leg length
    dirs.append(
        disp(_scale_bones(J, {f"{s}_{n}" for s in ("left", "right") for n in ("knee", "ankle")}, 0.07), 0)
    )
    # 6 torso length
    dirs.append(
        disp(_scale_bones(J, {"spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"}, 0.07), 0)
    )
    # 7 head size
    dirs.append(disp(zero, np.where(is_headish[:, None], 0.08 * o, 0.0)))
    # 8 limb thickness
    g = np.where(is_arm | is_leg, 0.12, 0.0) + np.where(is_neck, 0.06, 0.0)
    dirs.append(disp(zero, g[:, None] * rad))
    # 9 belly
    bump = np.exp(-(((y - 0.12) / 0.11) ** 2))
    q = np.clip(o[:, 2] / 0.1, 0.0, None)
    do = np.zeros_like(verts)
    do[:, 2] = np.where(is_torso, 0.035 * bump * q**2, 0.0)
    do[:, 0] = np.where(is_torso, 0.06 * bump * o[:, 0], 0.0)
    dirs.append(disp(zero, do))
    return np.stack(dirs, axis=-1)


# Pose-corrective bulges: joint -> (amplitude at 90 deg of bending [m], gaussian sigma [m], "outer" side)
_BULGES: dict[str, tuple[float, float, tuple[float, float, float]]] = {
    "left_knee": (0.012, 0.05, (0.0, 0.0, 1.0)),
    "left_elbow": (0.010, 0.045, (0.0, 0.0, -1.0)),
    "left_hip": (0.008, 0.07, (0.0, 0.0, -1.0)),
    "left_shoulder": (0.008, 0.06, (0.0, 1.0, 0.0)),
    "left_ankle": (0.004, 0.04, (0.0, 0.0, -1.0)),
    "left_wrist": (0.003, 0.03, (0.0, 1.0, 0.0)),
    "spine1": (0.005, 0.07, (0.0, 0.0, -1.0)),
    "spine2": (0.004, 0.07, (0.0, 0.0, -1.0)),
    "spine3": (0.004, 0.07, (0.0, 0.0, -1.0)),
    "neck": (0.004, 0.04, (0.0, 0.0, -1.0)),
}


def _posedirs(J, verts, a, b, t, axis, weights) -> np.ndarray:
    """``(V,3,207)`` pose correctives: radial bulge ``amp * (1 - cos angle)`` near bent joints.

    Uses the diagonal of ``R_j - I`` (its sum is ``2 (cos angle - 1)`` whatever the axis).
    """
    base = (1 - t)[:, None] * J[a] + t[:, None] * J[b]
    rad = _radial(verts - base, axis)
    n = rad / np.maximum(np.linalg.norm(rad, axis=1, keepdims=True), 1e-9)
    pd = np.zeros((len(verts), 3, 207))
    bulges = dict(_BULGES)
    for k, val in _BULGES.items():
        if k.startswith("left_"):
            amp, sig, outer = val
            bulges[mirror_name(k)] = (amp, sig, tuple(np.array(outer) * _MIRROR))
    for name, (amp, sig, outer) in bulges.items():
        j = JOINT_INDEX[name]
        p = JOINT_INDEX[name] if SMPL_PARENTS[j] < 0 else SMPL_PARENTS[j]
        near = np.exp(-np.sum((verts - J[j]) ** 2, axis=1) / (2 * sig**2))
        # only skin driven by this joint or its parent bulges
        near *= np.clip(weights[:, j] + weights[:, p], 0.0, 1.0)
        disp = amp * near[:, None] * n * (1.0 + 0.5 * (n @ np.asarray(outer)))[:, None]
        for dgi in (0, 4, 8):
            pd[:, :, (j - 1) * 9 + dgi] = -0.5 * disp
    pd[np.abs(pd) < 1e-6] = 0.0
    return pd


def build_model() -> dict[str, np.ndarray]:
    """Build every array of the synthetic model (see module docstring)."""
    J = design_joints()
    centre, left = _build_parts(J)
    parts = centre + left + [_mirror_part(p) for p in left]
    offsets, by_name = {}, {}
    n = 0
    for p in parts:
        offsets[p.name] = n
        by_name[p.name] = p
        n += len(p.verts)
    verts = np.concatenate([p.verts for p in parts])
    faces = np.concatenate([p.faces + offsets[p.name] for p in parts])
    a = np.concatenate([p.a for p in parts])
    b = np.concatenate([p.b for p in parts])
    t = np.concatenate([p.t for p in parts])
    axis = np.concatenate([np.tile(p.axis, (len(p.verts), 1)) for p in parts])
    weights = np.concatenate([p.weights for p in parts])
    weights = np.clip(weights, 0.0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    part_of = np.concatenate([np.full(len(p.verts), i) for i, p in enumerate(parts)])
    part_names = [p.name for p in parts]

    jreg = np.zeros((24, len(verts)))
    for p in parts:
        for jname, k in p.joint_rings.items():
            ring = p.station_ring(k) + offsets[p.name]
            jreg[JOINT_INDEX[jname], ring] = 1.0 / len(ring)
    assert np.all(jreg.sum(axis=1) > 0.99), "every joint needs a ring"
    err = np.abs(jreg @ verts - J).max()
    assert err < 1e-9, f"joint rings are not centred on the joints ({err})"

    landmarks = _landmarks(by_name, offsets)
    assert len(set(landmarks.values())) == len(landmarks), "landmarks must be distinct vertices"

    shapedirs = _shapedirs(J, verts, a, b, t, axis, part_of, part_names)
    posedirs = _posedirs(J, verts, a, b, t, axis, weights)
    kintree = np.array([[4294967295 if p < 0 else p for p in SMPL_PARENTS], list(range(24))], dtype=np.int64)
    return {
        "v_template": verts.astype(np.float32),
        "f": faces.astype(np.int32),
        "weights": weights.astype(np.float32),
        "J_regressor": jreg.astype(np.float32),
        "J": J.astype(np.float32),
        "kintree_table": kintree,
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "shape_names": np.array(SHAPE_NAMES),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "landmark_names": np.array(list(landmarks)),
        "landmark_vertex_ids": np.array(list(landmarks.values()), dtype=np.int64),
        "part_names": np.array(part_names),
        "vertex_part": part_of.astype(np.uint8),
    }


def save_model(arrays: dict[str, np.ndarray], path) -> None:
    """Write ``arrays`` as a compressed ``.npz`` byte-identically on every run.

    Same format as ``np.savez_compressed`` but with fixed zip timestamps (numpy stamps the
    current time, which would make regenerated files differ).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
