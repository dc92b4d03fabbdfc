"""Minimal CPU mesh renderer (OpenCV painter's algorithm) and keypoint overlays.

``render_mesh`` draws a triangle mesh given in a camera's optical frame (x right, y down, z
forward) with a pinhole ``K``: faces facing away from the camera are culled, the rest are sorted
far -> near by mean depth and filled one by one with ``cv2.fillConvexPoly`` (sub-pixel vertices,
``shift=4``), flat-shaded with a Lambert term for a light at the camera (``ambient + diffuse *
cos``, cos = angle between the face normal and the direction to the camera). Faces must be wound
counter-clockwise seen from outside (the body model's convention). Painter's ordering is exact for
a body mesh except where two faces' depth ranges interleave; at the resolution used here this is
invisible.

``body_face_colors`` dresses the body model (shirt, trousers, shoes, skin) from its skinning
weights, which makes renders look more like people to off-the-shelf 2D detectors.

This module never imports ROS.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from scorehmr_ros.core.keypoints import get_layout

SKIN = (224, 172, 140)  # RGB
SHIRT = (52, 86, 150)
TROUSERS = (60, 60, 70)
SHOES = (35, 30, 30)
HAIR = (60, 40, 30)
BACKGROUND = (200, 200, 200)
_SHIFT = 4  # cv2 sub-pixel bits


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def render_mesh(
    vertices_cam,
    faces,
    K,
    image_size,
    background=BACKGROUND,
    color=SKIN,
    *,
    ambient: float = 0.35,
    diffuse: float = 0.65,
    cull_backfaces: bool = True,
    near: float = 0.05,
) -> np.ndarray:
    """Render a mesh seen from a camera.

    Args:
        vertices_cam: ``(V, 3)`` vertices in the camera's optical frame (numpy or torch).
        faces: ``(F, 3)`` triangle indices (counter-clockwise seen from outside).
        K: ``(3, 3)`` intrinsics.
        image_size: ``(width, height)``.
        background: RGB tuple, or an ``(H, W, 3)`` uint8 RGB image (copied, not modified).
        color: RGB tuple for the whole mesh, or ``(F, 3)`` per-face RGB colours (0-255).
        ambient, diffuse: shading terms (shade = ambient + diffuse * max(cos, 0), clipped to 1).
        cull_backfaces: skip faces that face away from the camera.
        near: faces with a vertex closer than this depth (metres) are skipped.
    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    w, h = (round(float(s)) for s in _np(image_size).reshape(2))
    if isinstance(background, np.ndarray) and background.ndim == 3:
        if background.shape[:2] != (h, w):
            raise ValueError(f"background is {background.shape[:2]}, expected {(h, w)}")
        img = np.ascontiguousarray(background[..., :3], dtype=np.uint8).copy()
    else:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = np.asarray(background, dtype=np.uint8).reshape(3)
    v = _np(vertices_cam).astype(np.float64).reshape(-1, 3)
    f = _np(faces).astype(np.int64).reshape(-1, 3)
    Km = _np(K).astype(np.float64).reshape(3, 3)
    cols = np.asarray(color, dtype=np.float64)
    per_face = cols.ndim == 2
    if per_face and cols.shape != (f.shape[0], 3):
        raise ValueError(f"per-face colours must be {(f.shape[0], 3)}, got {cols.shape}")

    tri = v[f]  # (F, 3, 3)
    keep = (tri[..., 2] > near).all(1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centroid = tri.mean(1)
    to_cam = -centroid
    cos = (normal * to_cam).sum(1) / (np.linalg.norm(normal, axis=1) * np.linalg.norm(to_cam, axis=1) + 1e-12)
    if cull_backfaces:
        keep &= cos > 0
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        return img
    # Painter's algorithm: far -> near by mean depth.
    idx = idx[np.argsort(-centroid[idx, 2], kind="stable")]
    z = tri[idx, :, 2:3]
    uv = tri[idx, :, :2] / z * Km[[0, 1], [0, 1]] + Km[:2, 2]
    # Discard faces entirely outside the image (speed) and clamp the rest to a sane range.
    lo, hi = uv.min(1), uv.max(1)
    vis = (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < w) & (lo[:, 1] < h)
    idx, uv = idx[vis], uv[vis]
    pts = np.round(np.clip(uv, -4 * w, 4 * w) * (1 << _SHIFT)).astype(np.int32)
    shade = np.clip(ambient + diffuse * np.clip(cos[idx], 0.0, 1.0), 0.0, 1.0)
    base = cols[idx] if per_face else cols.reshape(1, 3)
    rgb = np.clip(base * shade[:, None], 0, 255).astype(np.uint8).tolist()
    fill = cv2.fillConvexPoly
    for p, c in zip(pts, rgb, strict=True):
        fill(img, p, c, cv2.LINE_8, _SHIFT)
    return img


def body_face_colors(
    body_model,
    skin=SKIN,
    shirt=SHIRT,
    trousers=TROUSERS,
    shoes=SHOES,
    hair=None,
) -> np.ndarray:
    """``(F, 3)`` per-face RGB colours that dress the body model.

    Each vertex is assigned to its dominant skinning joint: torso (spine, collars, shoulders) and
    the upper arms -> shirt; pelvis, hips and knees -> trousers; ankles and feet -> shoes; head,
    neck, forearms and hands -> skin. A face takes the colour of its first vertex's group
    (``hair``, when given, colours the top/back of the head).
    """
    weights = _np(body_model.layer.lbs_weights)
    dominant = weights.argmax(1)
    from scorehmr_ros.core.skeleton import SMPL_JOINT_NAMES

    groups = {
        "shirt": (
            "spine1",
            "spine2",
            "spine3",
            "left_collar",
            "right_collar",
            "left_shoulder",
            "right_shoulder",
        ),
        "trousers": ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee"),
        "shoes": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
    }
    palette = {"shirt": shirt, "trousers": trousers, "shoes": shoes}
    vcol = np.tile(np.asarray(skin, np.float64), (weights.shape[0], 1))
    for g, names in groups.items():
        ids = [SMPL_JOINT_NAMES.index(n) for n in names]
        vcol[np.isin(dominant, ids)] = palette[g]
    if hair is not None:
        v = _np(body_model.layer.v_template)
        head = dominant == SMPL_JOINT_NAMES.index("head")
        if head.any():
            hv = v[head]
            top = hv[:, 1].min() + 0.45 * (hv[:, 1].max() - hv[:, 1].min())
            back = hv[:, 2].min() + 0.5 * (hv[:, 2].max() - hv[:, 2].min())
            sel = np.zeros_like(head)
            sel[head] = (hv[:, 1] > top + 0.35 * (hv[:, 1].max() - top)) | (
                (hv[:, 2] < back) & (hv[:, 1] > top)
            )
            vcol[sel] = hair
    f = np.asarray(body_model.faces, np.int64)
    return vcol[f[:, 0]]


# --------------------------------------------------------------------------------------------
# Keypoint overlays
# --------------------------------------------------------------------------------------------
def _layout_edges(layout) -> list[tuple[int, int]]:
    """Skeleton edges of a layout, by keypoint name (only pairs present in the layout)."""
    lay = get_layout(layout)
    names = {n: i for i, n in enumerate(lay.keypoint_names)}
    pairs = [
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_ankle", "left_heel"), ("left_heel", "left_foot_index"), ("left_ankle", "left_foot_index"),
        ("right_ankle", "right_heel"), ("right_heel", "right_foot_index"),
        ("right_ankle", "right_foot_index"),
        ("left_wrist", "left_pinky"), ("left_wrist", "left_index"), ("left_wrist", "left_thumb"),
        ("right_wrist", "right_pinky"), ("right_wrist", "right_index"), ("right_wrist", "right_thumb"),
        ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
        ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"),
        ("mouth_left", "mouth_right"), ("nose", "left_eye"), ("nose", "right_eye"),
        ("left_eye", "left_ear"), ("right_eye", "right_ear"),
        # OpenPose BODY_25 names
        ("Neck", "Nose"), ("Neck", "RShoulder"), ("Neck", "LShoulder"), ("Neck", "MidHip"),
        ("RShoulder", "RElbow"), ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist"),
        ("MidHip", "RHip"), ("MidHip", "LHip"), ("RHip", "RKnee"), ("RKnee", "RAnkle"),
        ("LHip", "LKnee"), ("LKnee", "LAnkle"), ("Nose", "REye"), ("Nose", "LEye"),
        ("REye", "REar"), ("LEye", "LEar"), ("LAnkle", "LBigToe"), ("LAnkle", "LSmallToe"),
        ("LAnkle", "LHeel"), ("RAnkle", "RBigToe"), ("RAnkle", "RSmallToe"), ("RAnkle", "RHeel"),
    ]  # fmt: skip
    return [(names[a], names[b]) for a, b in pairs if a in names and b in names]


LEFT_COLOR = (0, 200, 255)  # RGB: subject's left = cyan/blue
RIGHT_COLOR = (255, 120, 0)  # subject's right = orange
CENTER_COLOR = (80, 255, 80)


def _side_color(name: str):
    low = name.lower()
    if (
        low.startswith("left")
        or low.endswith("_left")
        or (len(name) > 1 and name[0] == "L" and name[1].isupper())
    ):
        return LEFT_COLOR
    if (
        low.startswith("right")
        or low.endswith("_right")
        or (len(name) > 1 and name[0] == "R" and name[1].isupper())
    ):
        return RIGHT_COLOR
    return CENTER_COLOR


def draw_keypoints(
    image: np.ndarray,
    uv,
    conf=None,
    layout="blazepose33",
    *,
    threshold: float = 0.1,
    radius: int = 3,
    thickness: int = 2,
    color=None,
    copy: bool = True,
) -> np.ndarray:
    """Skeleton overlay on an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        uv: ``(K, 2)`` pixels of ``layout``'s keypoints.
        conf: ``(K,)`` confidences (``None`` = all 1); keypoints at or below ``threshold`` are skipped.
        layout: layout name or ``KeypointLayout``.
        color: one RGB colour for everything, or ``None`` for left = cyan, right = orange,
            centre = green (limbs take the colour of their second keypoint's side).
        copy: draw on a copy (default) or in place.
    Returns:
        the image with the overlay (uint8 RGB).
    """
    img = image.copy() if copy else image
    lay = get_layout(layout)
    pts = _np(uv).astype(np.float64).reshape(-1, 2)
    c = np.ones(len(pts)) if conf is None else _np(conf).astype(np.float64).reshape(-1)
    ok = (c > threshold) & np.isfinite(pts).all(1) & (np.abs(pts) < 1e5).all(1)
    names = lay.keypoint_names
    for a, b in _layout_edges(lay):
        if ok[a] and ok[b]:
            col = color or _side_color(names[b])
            p, q = (tuple(round(float(x)) for x in pts[i]) for i in (a, b))
            cv2.line(img, p, q, col, thickness, cv2.LINE_AA)
    for i in np.nonzero(ok)[0]:
        col = color or _side_color(names[i])
        p = tuple(round(float(x)) for x in pts[i])
        cv2.circle(img, p, radius, col, -1, cv2.LINE_AA)
    return img
