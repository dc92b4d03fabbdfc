"""Overlay images: the estimated body's keypoints projected into each camera image (cv2, no torch)."""

from __future__ import annotations

import cv2
import numpy as np

from scorehmr_ros.core.keypoints import get_layout

_NAMES = get_layout("blazepose33").keypoint_names


def _both_sides(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(f"{side}_{a}", f"{side}_{b}") for side in ("left", "right") for a, b in pairs]


# MediaPipe BlazePose (33 keypoints) connections, by name.
_EDGE_NAMES = [
    ("nose", "left_eye_inner"), ("nose", "right_eye_inner"), ("mouth_left", "mouth_right"),
    ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    *_both_sides((("eye_inner", "eye"), ("eye", "eye_outer"), ("eye_outer", "ear"))),
    *_both_sides((
        ("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "pinky"), ("wrist", "index"),
        ("wrist", "thumb"), ("pinky", "index"), ("shoulder", "hip"), ("hip", "knee"),
        ("knee", "ankle"), ("ankle", "heel"), ("heel", "foot_index"), ("ankle", "foot_index"),
    )),
]  # fmt: skip
BLAZEPOSE_EDGES = tuple((_NAMES.index(a), _NAMES.index(b)) for a, b in _EDGE_NAMES)
LEFT, RIGHT, CENTRE = (0, 220, 255), (255, 140, 0), (40, 200, 40)


def _side(i: int) -> tuple[int, int, int]:
    name = _NAMES[i]
    if name.startswith("left") or name.endswith("left"):
        return LEFT
    if name.startswith("right") or name.endswith("right"):
        return RIGHT
    return CENTRE


def draw_estimate(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """A copy of ``image`` (H, W, 3 uint8 RGB) with the 33 projected keypoints ``uv`` (px) drawn."""
    out = np.ascontiguousarray(image).copy()
    pts = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    ok = np.isfinite(pts).all(1) & (np.abs(pts) < 1e5).all(1)
    ip = np.where(ok[:, None], pts, 0).round().astype(np.int32)
    for a, b in BLAZEPOSE_EDGES:
        if a < len(pts) and b < len(pts) and ok[a] and ok[b]:
            cv2.line(out, tuple(ip[a]), tuple(ip[b]), _side(b), 2, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        cv2.circle(out, tuple(ip[i]), 3, _side(int(i)), -1, cv2.LINE_AA)
    return out
