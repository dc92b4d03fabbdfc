"""A body over the image it came from: shaded mesh (blended), detected and fitted keypoints, legend.

Used by ``scorehmr-estimate`` and the demo. numpy + OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from scorehmr_ros.viz.render import LEFT_COLOR, RIGHT_COLOR, draw_keypoints, render_mesh

MESH_COLOR = (150, 200, 235)  # RGB, light blue
FITTED_COLOR = (255, 255, 255)
LEGEND = (
    ("estimated mesh", MESH_COLOR, "fill"),
    ("detected: subject's left", LEFT_COLOR, "dot"),
    ("detected: subject's right", RIGHT_COLOR, "dot"),
    ("estimate's keypoints", FITTED_COLOR, "ring"),
)


def draw_legend(image: np.ndarray, entries=LEGEND, corner: tuple[int, int] = (8, 8)) -> np.ndarray:
    """A legend box in the top-left corner of an RGB image (drawn in place; returned)."""
    scale = max(0.4, min(image.shape[:2]) / 900.0)
    line = int(22 * scale / 0.5)
    width = int(235 * scale / 0.5)
    x0, y0 = corner
    box = image[y0 : y0 + line * len(entries) + 8, x0 : x0 + width]
    box[:] = (0.35 * box).astype(np.uint8)  # darken what is under the legend
    for i, (text, color, kind) in enumerate(entries):
        cy = y0 + 4 + line * i + line // 2
        cx = x0 + line // 2 + 2
        r = max(3, line // 4)
        if kind == "fill":
            cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), color, -1)
        elif kind == "dot":
            cv2.circle(image, (cx, cy), r, color, -1, cv2.LINE_AA)
        else:
            cv2.circle(image, (cx, cy), r, color, 1, cv2.LINE_AA)
        cv2.putText(
            image, text, (cx + 2 * r + 4, cy + r), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
            cv2.LINE_AA,
        )  # fmt: skip
    return image


def body_overlay(
    image: np.ndarray,
    vertices: np.ndarray | None,
    faces: np.ndarray,
    K: np.ndarray,
    detected: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    fitted: np.ndarray | None = None,
    *,
    alpha: float = 0.6,
    legend: bool = True,
) -> np.ndarray:
    """RGB (H, W, 3) uint8: the mesh ``vertices`` (N, 3) in this camera's frame blended over
    ``image``, the detected keypoints (33, 2) px (left/right coloured), the estimate's projected
    keypoints (33, 2) px as rings, and a legend."""
    h, w = image.shape[:2]
    out = image.copy()
    if vertices is not None:
        mesh = render_mesh(vertices, faces, K, (w, h), background=image, color=MESH_COLOR)
        covered = (mesh != image).any(-1, keepdims=True)
        out = np.where(covered, (alpha * mesh + (1 - alpha) * image).astype(np.uint8), image)
    if detected is not None:
        out = draw_keypoints(out, detected, confidence, "blazepose33", threshold=0.3, copy=False)
    if fitted is not None:
        for x, y in np.asarray(fitted, np.float64).reshape(-1, 2):
            if np.isfinite([x, y]).all() and -w < x < 2 * w and -h < y < 2 * h:
                cv2.circle(out, (round(x), round(y)), 4, FITTED_COLOR, 1, cv2.LINE_AA)
    if legend:
        draw_legend(out)
    return out
