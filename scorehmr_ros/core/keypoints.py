"""Named 2D/3D keypoint layouts (BlazePose-33, COCO-17, OpenPose BODY_25) on the body model.

Each layout maps every keypoint name to a source of the body model BY NAME: a SMPL joint
(``core.skeleton``), a landmark vertex (``nose``, ``left_eye_inner``, ``left_big_toe``...,
see ``core.body_model``) or a weighted average of such sources. ``left`` is always the subject's
left (MediaPipe, COCO and OpenPose all use that convention, like SMPL).

``layout_keypoints`` gathers a layout with one matmul by a ``(K, S)`` matrix built once per
body model (``S = len(body_model.source_names)``), so it is cheap and differentiable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where used: the ROS-side modules read the names without it
    import torch

Source = dict[str, float]  # source name -> weight (weights sum to 1)


def _one(name: str) -> Source:
    return {name: 1.0}


def _avg(*names: str, weights: tuple[float, ...] | None = None) -> Source:
    w = weights or tuple(1.0 / len(names) for _ in names)
    return dict(zip(names, w, strict=True))


def mirror_keypoint_name(name: str) -> str:
    """Left/right twin of a keypoint name (``left_x``/``x_left``/OpenPose ``LShoulder``)."""
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(a):
            return b + name[len(a) :]
    for a, b in (("_left", "_right"), ("_right", "_left")):
        if name.endswith(a):
            return name[: -len(a)] + b
    if len(name) > 1 and name[0] in "LR" and name[1].isupper():
        return ("R" if name[0] == "L" else "L") + name[1:]
    return name


@dataclass(frozen=True)
class KeypointLayout:
    """A named keypoint layout.

    Attributes:
        name: registry key.
        keypoint_names: ``K`` names, in the layout's order.
        sources: per keypoint, a ``{source name: weight}`` dict on the body model.
        flip_permutation: ``kp[..., flip_permutation, :]`` swaps left and right keypoints.
    """

    name: str
    keypoint_names: tuple[str, ...]
    sources: tuple[Source, ...]
    flip_permutation: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.keypoint_names)

    def gather_matrix(self, source_names: list[str] | tuple[str, ...], dtype=None, device="cpu"):
        """``(K, S)`` matrix: ``keypoints = M @ sources`` for sources ordered as ``source_names``."""
        col = {n: i for i, n in enumerate(source_names)}
        import torch

        m = torch.zeros(
            len(self.keypoint_names), len(source_names), dtype=dtype or torch.float32, device=device
        )
        for k, src in enumerate(self.sources):
            for n, w in src.items():
                if n not in col:
                    raise KeyError(
                        f"layout {self.name}: keypoint {self.keypoint_names[k]} needs unknown source {n}"
                    )
                m[k, col[n]] += w
        return m


def _make(name: str, items: list[tuple[str, Source]], mirror: Callable[[str], str] = mirror_keypoint_name):
    names = tuple(n for n, _ in items)
    index = {n: i for i, n in enumerate(names)}
    flip = tuple(index[mirror(n)] for n in names)
    return KeypointLayout(name, names, tuple(s for _, s in items), flip)


# MediaPipe BlazePose: hand points are knuckles; approximated between the SMPL hand joint and the
# finger tips. ``foot_index`` is the toe tip, approximated between big and small toe.
def _hand(side: str, finger: str, tip_weight: float) -> Source:
    return _avg(f"{side}_hand", f"{side}_{finger}_tip", weights=(1.0 - tip_weight, tip_weight))


BLAZEPOSE_33 = _make(
    "blazepose33",
    [
        ("nose", _one("nose")),
        ("left_eye_inner", _one("left_eye_inner")),
        ("left_eye", _one("left_eye")),
        ("left_eye_outer", _one("left_eye_outer")),
        ("right_eye_inner", _one("right_eye_inner")),
        ("right_eye", _one("right_eye")),
        ("right_eye_outer", _one("right_eye_outer")),
        ("left_ear", _one("left_ear")),
        ("right_ear", _one("right_ear")),
        ("mouth_left", _one("mouth_left")),
        ("mouth_right", _one("mouth_right")),
        ("left_shoulder", _one("left_shoulder")),
        ("right_shoulder", _one("right_shoulder")),
        ("left_elbow", _one("left_elbow")),
        ("right_elbow", _one("right_elbow")),
        ("left_wrist", _one("left_wrist")),
        ("right_wrist", _one("right_wrist")),
        ("left_pinky", _hand("left", "pinky", 0.4)),
        ("right_pinky", _hand("right", "pinky", 0.4)),
        ("left_index", _hand("left", "index", 0.4)),
        ("right_index", _hand("right", "index", 0.4)),
        ("left_thumb", _hand("left", "thumb", 0.6)),
        ("right_thumb", _hand("right", "thumb", 0.6)),
        ("left_hip", _one("left_hip")),
        ("right_hip", _one("right_hip")),
        ("left_knee", _one("left_knee")),
        ("right_knee", _one("right_knee")),
        ("left_ankle", _one("left_ankle")),
        ("right_ankle", _one("right_ankle")),
        ("left_heel", _one("left_heel")),
        ("right_heel", _one("right_heel")),
        ("left_foot_index", _avg("left_big_toe", "left_small_toe", weights=(0.6, 0.4))),
        ("right_foot_index", _avg("right_big_toe", "right_small_toe", weights=(0.6, 0.4))),
    ],
)

# The 12 limb keypoints every layout here has, with the same name as the SMPL joint they sit on:
# well localised by detectors, used for geometric costs (association, triangulation) and limb errors.
# The torso's four keypoints, shoulders then hips, left before right (every layout here has them).
TORSO_KEYPOINT_NAMES = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")

LIMB_KEYPOINT_NAMES = tuple(
    f"{side}_{part}"
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    for side in ("left", "right")
)

COCO_17 = _make(
    "coco17",
    [(n, _one(n)) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", *LIMB_KEYPOINT_NAMES)],
)

# OpenPose BODY_25 (its own names). Neck and MidHip are shoulder / hip midpoints.
OPENPOSE_BODY_25 = _make(
    "openpose_body25",
    [
        ("Nose", _one("nose")),
        ("Neck", _avg("left_shoulder", "right_shoulder")),
        ("RShoulder", _one("right_shoulder")),
        ("RElbow", _one("right_elbow")),
        ("RWrist", _one("right_wrist")),
        ("LShoulder", _one("left_shoulder")),
        ("LElbow", _one("left_elbow")),
        ("LWrist", _one("left_wrist")),
        ("MidHip", _avg("left_hip", "right_hip")),
        ("RHip", _one("right_hip")),
        ("RKnee", _one("right_knee")),
        ("RAnkle", _one("right_ankle")),
        ("LHip", _one("left_hip")),
        ("LKnee", _one("left_knee")),
        ("LAnkle", _one("left_ankle")),
        ("REye", _one("right_eye")),
        ("LEye", _one("left_eye")),
        ("REar", _one("right_ear")),
        ("LEar", _one("left_ear")),
        ("LBigToe", _one("left_big_toe")),
        ("LSmallToe", _one("left_small_toe")),
        ("LHeel", _one("left_heel")),
        ("RBigToe", _one("right_big_toe")),
        ("RSmallToe", _one("right_small_toe")),
        ("RHeel", _one("right_heel")),
    ],
)

LAYOUTS: dict[str, KeypointLayout] = {lay.name: lay for lay in (BLAZEPOSE_33, COCO_17, OPENPOSE_BODY_25)}


def get_layout(layout: str | KeypointLayout) -> KeypointLayout:
    """Layout by registry name (``blazepose33``, ``coco17``, ``openpose_body25``) or pass-through."""
    if isinstance(layout, KeypointLayout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise KeyError(f"unknown keypoint layout {layout!r}; known: {sorted(LAYOUTS)}") from None


def layout_gather_matrix(body_model, layout: str | KeypointLayout) -> torch.Tensor:
    """``(K, S)`` gather matrix of ``layout`` for ``body_model`` (cached on the model)."""
    lay = get_layout(layout)
    ref = body_model.layer.v_template
    cache = body_model._gather_cache
    m = cache.get(lay.name)
    if m is None or m.device != ref.device or m.dtype != ref.dtype:
        m = lay.gather_matrix(body_model.source_names, dtype=ref.dtype, device=ref.device)
        cache[lay.name] = m
    return m


def layout_keypoints(body_model, model_output, layout: str | KeypointLayout) -> torch.Tensor:
    """Keypoints ``(B,K,3)`` of ``layout`` from a ``BodyModel`` output (one matmul)."""
    m = layout_gather_matrix(body_model, layout)
    return m @ body_model.sources(model_output)
