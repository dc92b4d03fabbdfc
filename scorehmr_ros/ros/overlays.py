"""Overlay images: the estimated body's keypoints projected into each camera image (cv2, no torch)."""

from __future__ import annotations

import cv2
import numpy as np

# MediaPipe BlazePose (33 keypoints) connections.
BLAZEPOSE_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
    (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
    (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip
LEFT, RIGHT, CENTRE = (0, 220, 255), (255, 140, 0), (40, 200, 40)


def _side(i: int) -> tuple[int, int, int]:
    if i in (0, 9, 10):
        return CENTRE
    # BlazePose: odd indices from 11 on (and 1-3, 7) are the subject's left side.
    left = i in (1, 2, 3, 7) or (i >= 11 and i % 2 == 1)
    return LEFT if left else RIGHT


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
