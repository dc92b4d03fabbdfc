"""ROS-free multi-person 2D body keypoint detector from the two BlazePose models in the mediapipe wheel.

The legacy ``mediapipe.solutions.pose`` graph (:mod:`scorehmr_ros.core.detector`) keeps only the
best person detection. This module runs the same two TFLite models with ``ai-edge-litert`` and
keeps every person:

1. Letterbox the RGB image into 224x224 (aspect kept, zero border), values in [-1, 1]; with
   ``tile_fraction`` set, also every square tile of :func:`tile_windows` (side = that fraction of
   the image's short side, half-overlapping), so that people small in the image are seen at a
   larger scale: the detector is trained on people who fill much of its input and misses people
   100-200 px tall in a 640x480 image, or pedestrians in a street scene
   (scripts/eval_person_detection.py, docs/eval/person_detection.json).
2. ``pose_detection.tflite`` -> 2254 anchor regressions ``(2254, 12)`` and score logits
   ``(2254, 1)``. Decode against SSD anchors (5 layers, strides 8/16/32/32/32, fixed unit
   size, offset 0.5), sigmoid the scores, keep those >= ``min_detection_score``, map them to
   image pixels, and merge
   overlapping ones by weighted non-max suppression (IoU > ``nms_iou``, score-weighted
   average of boxes and keypoints). Each detection carries four keypoints, see
   :data:`DETECTOR_KEYPOINTS`.
3. One rotated square ROI per detection: centred on ``hip_centre``, side
   ``2 * |full_body_scale_rotation - hip_centre| * 1.25``, rotated so that the hip -> scale
   point vector points up in the crop.
4. Warp each ROI into 256x256 (``cv2.warpAffine``, replicated border, values in [0, 1]) and run
   ``pose_landmark_full.tflite`` (or lite / heavy, ``model_complexity``): 39 landmarks x
   (x, y, z, visibility logit, presence logit), a pose-presence flag, a 64x64x39 heatmap.
   Landmarks are refined on the heatmap (7x7 score-weighted window, when its peak is >= 0.5),
   mapped back to image pixels, and the first 33 (the ``blazepose33`` layout) are returned.

Settings follow the public MediaPipe pose graphs (``pose_detection_cpu``, ``pose_detection_to_roi``,
``pose_landmark_by_roi_cpu``, ``tensors_to_pose_landmarks_and_segmentation``); the code is our own.
Coordinates are those of :class:`~scorehmr_ros.core.detector.BlazePoseDetector` (``x_norm * W``).
Crops are resampled like MediaPipe's CPU ``ImageToTensorCalculator``: the crop's corner
coordinates map straight onto OpenCV pixel coordinates, with no half-pixel shift. Measured
against the legacy solution, that convention and the detector input range [-1, 1] (the public
graph's and the one embedded in the wheel) agree best; the models are sensitive to a half-pixel
shift of the crop (several pixels of landmark disagreement).

5. With ``mask_others`` (default) and several people found: each person whose crop holds pixels
   of the others (their landmark pass's segmentation > 0.5, outside the person's own) is
   landmarked again on a copy of the image where those pixels are painted with the median colour
   of the image outside every person, and that result replaces the first. The landmark model
   otherwise takes a neighbour's limbs inside the crop for the person's own (held-out two- and
   three-person renders, 3 cameras: limb keypoint error of the people concerned, mean / 90th
   percentile, 7.7 / 22.0 px -> 6.7 / 17.8 px with two people, 6.9 / 17.7 -> 6.1 / 13.4 px with three;
   a probe, see docs/DEVELOPMENT.md).

Differences from the legacy solution: every detection above the threshold is kept (not just the
first), people whose ROIs overlap strongly after landmarking are merged (``dedupe_iou``), people
are landmarked again without their neighbours (``mask_others``), and no temporal tracking or
smoothing is done (every call is "static image mode").

Thread safety: one instance holds two interpreters; ``detect`` serialises calls with a lock.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.core.detector import (
    _MODEL_FILES,
    Detection,
    ModelUnavailableError,
    check_landmark_model,
    validate_image,
)
from scorehmr_ros.core.keypoints import get_layout

LAYOUT = "blazepose33"
LANDMARK_NAMES = get_layout(LAYOUT).keypoint_names
NUM_LANDMARKS = len(LANDMARK_NAMES)  # 33
NUM_MODEL_LANDMARKS = 39  # 33 body + 2 ROI-alignment auxiliary + 4 unused
# The landmark model's auxiliary points after the body: hip centre, full-body scale/rotation point
# (the detector's two alignment keypoints, predicted again for the next frame's crop).
ALIGNMENT_LANDMARKS = (33, 34)
# The four keypoints of a pose-detector box, in the model's order.
DETECTOR_KEYPOINTS = (
    "hip_centre",
    "full_body_scale_rotation",
    "shoulder_centre",
    "upper_body_scale_rotation",
)
_KP = {n: i for i, n in enumerate(DETECTOR_KEYPOINTS)}

DETECTOR_INPUT = 224
LANDMARK_INPUT = 256
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
ROI_SCALE = 1.25


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


@dataclass(frozen=True)
class AnchorOptions:
    """SSD anchor layout of ``pose_detection.tflite`` (MediaPipe ``SsdAnchorsCalculator`` options)."""

    input_size: int = DETECTOR_INPUT
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    anchor_offset: float = 0.5
    anchors_per_cell_per_layer: int = 2  # aspect ratio 1.0 plus the interpolated-scale anchor


def ssd_anchors(options: AnchorOptions = AnchorOptions()) -> np.ndarray:
    """Anchor centres ``(A, 2)`` float32, normalised (x, y) in [0, 1]; A = 2254 for the defaults.

    Fixed anchor size (width = height = 1), so only centres matter. Consecutive layers with the
    same stride share one grid; per cell they contribute ``anchors_per_cell_per_layer`` anchors
    each, cells in row-major order.
    """
    centres = []
    layer = 0
    n_layers = len(options.strides)
    while layer < n_layers:
        stride = options.strides[layer]
        group = 0
        while layer < n_layers and options.strides[layer] == stride:
            group += 1
            layer += 1
        cells = math.ceil(options.input_size / stride)
        grid = (np.arange(cells, dtype=np.float64) + options.anchor_offset) / cells
        gy, gx = np.meshgrid(grid, grid, indexing="ij")
        cell_xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
        centres.append(np.repeat(cell_xy, group * options.anchors_per_cell_per_layer, axis=0))
    return np.concatenate(centres).astype(np.float32)


@dataclass
class PoseBox:
    """A decoded person detection: normalised coordinates of the letterboxed 224 input from
    :func:`decode_boxes`, image pixels from :meth:`MultiPersonPoseDetector.detect_boxes`.

    box: (4,) xmin, ymin, xmax, ymax. keypoints: (4, 2) x, y, ordered as
    :data:`DETECTOR_KEYPOINTS`. score: sigmoid score in [0, 1].
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float


def decode_boxes(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, scale: float = DETECTOR_INPUT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode raw detector outputs against anchors.

    raw_boxes: (A, 12) = (cx, cy, w, h, then 4 keypoints (x, y)) in input pixels relative to
    the anchor centre. raw_scores: (A,) or (A, 1) logits. anchors: (A, 2) centres.
    Returns boxes (A, 4) [xmin, ymin, xmax, ymax], keypoints (A, 4, 2), scores (A,), all
    normalised to the detector input.
    """
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    centre = raw_boxes[:, 0:2] / scale + anchors
    half = raw_boxes[:, 2:4] / scale / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    kps = raw_boxes[:, 4:12].reshape(-1, len(DETECTOR_KEYPOINTS), 2) / scale + anchors[:, None, :]
    scores = _sigmoid(np.asarray(raw_scores, np.float64).reshape(-1)).astype(np.float32)
    return boxes, kps, scores


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) against boxes (N, 4), both [xmin, ymin, xmax, ymax]. Returns (N,)."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0.0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


# A person found again in a later image: its landmark box's centre moved by at most this fraction of
# its box's long side (half a body length: a brisk walk over the ~1 s a search may span at
# a few metres; small people move few pixels, so no fixed pixel limit or box overlap fits all sizes).
MAX_PERSON_SHIFT = 0.5


def match_boxes(
    previous: list[np.ndarray], current: list[np.ndarray], max_shift: float = MAX_PERSON_SHIFT
) -> list[int | None]:
    """One-to-one match of people's boxes (4,) ``[xmin, ymin, xmax, ymax]`` over time: for each of
    ``previous`` the index of its ``current`` box, or None. A pair needs the centres at most
    ``max_shift`` x the longer of the two boxes' long sides apart (a person getting up changes its
    box's shape); greedy, smallest such shift first. (A box spanning two people lies near both but
    stands for one of them.)"""
    match: list[int | None] = [None] * len(previous)
    if not previous or not current:
        return match
    prev = np.stack([np.asarray(p, np.float64) for p in previous])  # (P, 4)
    cur = np.stack([np.asarray(c, np.float64) for c in current])  # (C, 4)
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2.0  # noqa: E731
    long_side = lambda b: (b[:, 2:] - b[:, :2]).max(1)  # noqa: E731
    size = np.maximum(np.maximum(long_side(prev)[:, None], long_side(cur)[None]), 1e-6)  # (P, C)
    shift = np.linalg.norm(centre(prev)[:, None] - centre(cur)[None], axis=-1) / size  # (P, C)
    shift[~np.isfinite(shift)] = np.inf
    taken = set()
    for flat in np.argsort(shift, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(current))
        if shift[i, j] > max_shift:
            break
        if match[i] is None and j not in taken:
            match[i] = j
            taken.add(j)
    return match


def refound_everyone(previous: list, found: list, max_shift: float = MAX_PERSON_SHIFT) -> bool:
    """Whether each of ``previous`` (people with a landmark ``box``) is one of ``found``
    (:func:`match_boxes`, one to one)."""
    match = match_boxes([p.box for p in previous], [p.box for p in found], max_shift)
    return all(m is not None for m in match)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> list[PoseBox]:
    """Weighted non-max suppression, best score first.

    The best remaining candidate and every remaining candidate with IoU > ``iou_threshold``
    against it form a cluster; the output is their score-weighted mean box and keypoints with
    the best score. boxes (N, 4), keypoints (N, K, 2), scores (N,).
    """
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out: list[PoseBox] = []
    while remaining.size:
        best = remaining[0]
        iou = box_iou(boxes[best], boxes[remaining])
        cluster = remaining[iou > iou_threshold]
        if cluster.size == 0 or cluster[0] != best:  # degenerate (empty) box: keep it alone
            cluster = np.concatenate([[best], cluster[cluster != best]])
        w = scores[cluster] / max(float(scores[cluster].sum()), 1e-12)
        out.append(
            PoseBox(
                box=(w[:, None] * boxes[cluster]).sum(0).astype(np.float32),
                keypoints=(w[:, None, None] * keypoints[cluster]).sum(0).astype(np.float32),
                score=float(scores[best]),
            )
        )
        remaining = remaining[~np.isin(remaining, cluster)]
    return out


@dataclass(frozen=True)
class Roi:
    """Rotated square region in image pixels: centre (cx, cy), side ``size``, ``rotation`` in radians.

    ``rotation`` turns the crop's axes clockwise on screen (y down): the crop's x axis is
    ``(cos r, sin r)`` in the image and its upward direction is ``(sin r, -cos r)``.
    """

    cx: float
    cy: float
    size: float
    rotation: float

    def crop_to_image(self, crop_size: int) -> np.ndarray:
        """(2, 3) affine from crop coordinates ``[0, crop_size]^2`` to image pixel coordinates."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / crop_size
        rot = np.array([[c, -s], [s, c]]) * k
        t = np.array([self.cx, self.cy]) - rot @ np.array([crop_size / 2.0, crop_size / 2.0])
        return np.concatenate([rot, t[:, None]], axis=1)

    def corners(self) -> np.ndarray:
        """(4, 2) image pixel corners (top-left, top-right, bottom-right, bottom-left of the crop)."""
        m = self.crop_to_image(1)
        unit = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        return unit @ m[:, :2].T + m[:, 2]


def normalize_radians(angle: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def alignment_roi(hip_centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """BlazePose ROI from two image-pixel points (2,): centre, and the full-body scale/rotation point.

    Side ``2 * |scale_point - hip_centre| * scale``; rotation such that the centre -> scale point
    direction is "up" in the crop (target angle 90 degrees, y flipped for the image).
    """
    d = np.asarray(scale_point, np.float64) - np.asarray(hip_centre, np.float64)
    rotation = normalize_radians(math.pi / 2.0 - math.atan2(-d[1], d[0]))
    size = 2.0 * float(np.hypot(d[0], d[1])) * scale
    return Roi(float(hip_centre[0]), float(hip_centre[1]), size, rotation)


def letterbox(image: np.ndarray, size: int = DETECTOR_INPUT) -> tuple[np.ndarray, float, float, float]:
    """Fit (H, W, 3) uint8 into (size, size, 3) uint8, aspect kept, centred, zero border.

    Returns (image, scale, pad_x, pad_y): input pixel ``p`` lands at ``p * scale + pad``.
    """
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    pad_x, pad_y = (size - w * scale) / 2.0, (size - h * scale) / 2.0
    m = np.array([[scale, 0.0, pad_x], [0.0, scale, pad_y]])
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, scale, pad_x, pad_y


# A person is looked for again (:meth:`MultiPersonPoseDetector.search`) in a window this many times
# its last box's long side: room for a walking person to move for a second at a few metres, and the
# person fills the window about as much as a tile's person fills the tile.
LOCAL_WINDOW_SCALE = 2.0


def tile_windows(width: int, height: int, fraction: float | None) -> list[tuple[int, int, int]]:
    """Square tiles ``(x0, y0, side)`` covering a ``width`` x ``height`` image, side =
    ``fraction`` x the short side, neighbours overlapping by half a tile (so any person at most
    half a tile tall lies wholly inside one). [] when ``fraction`` is None or the tiles would not
    be smaller than the whole image's letterbox scale (``fraction`` * short side >= long side)."""
    if fraction is None:
        return []
    side = round(fraction * min(width, height))
    if side < 16 or side >= max(width, height):
        return []

    def starts(length: int) -> list[int]:
        if side >= length:
            return [0]
        n = math.ceil((length - side) / (side / 2.0)) + 1
        return sorted({round(i * (length - side) / (n - 1)) for i in range(n)})

    return [(x0, y0, min(side, width - x0, height - y0)) for y0 in starts(height) for x0 in starts(width)]


def local_windows(
    boxes: list[np.ndarray], width: int, height: int, min_side: int, scale: float = LOCAL_WINDOW_SCALE
) -> list[tuple[int, int, int]]:
    """One square window ``(x0, y0, side)`` per box (4,) ``[xmin, ymin, xmax, ymax]`` pixels, to look
    for that person again near where it was: centred on the box, side ``scale`` x its long side but
    at least ``min_side`` (the tiles' side: the detector's scale for small people) and at most the
    image's short side, shifted to lie inside the image. Non-finite or empty boxes give none."""
    windows = []
    for box in boxes:
        box = np.asarray(box, np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or (box[2:] <= box[:2]).any():
            continue
        side = int(min(max(round(scale * float((box[2:] - box[:2]).max())), min_side), width, height))
        if side < 16:
            continue
        cx, cy = (box[:2] + box[2:]) / 2.0
        x0 = int(np.clip(round(cx - side / 2.0), 0, width - side))
        y0 = int(np.clip(round(cy - side / 2.0), 0, height - side))
        windows.append((x0, y0, side))
    return windows


def refine_with_heatmap(
    xy_norm: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """Refine landmarks on the model's heatmap.

    xy_norm: (L, 2) landmark positions normalised to the crop. heatmap: (h, w, L) logits.
    For each landmark inside the heatmap, the sigmoid-weighted mean cell index (divided by the
    heatmap size) over a ``kernel`` x ``kernel`` window around it replaces the position when
    the window's peak is >= ``min_confidence``. Returns a refined copy (L, 2).
    """
    hm_h, hm_w, n = heatmap.shape
    out = np.array(xy_norm, np.float32, copy=True)
    half = (kernel - 1) // 2
    for k in range(n):
        col, row = int(out[k, 0] * hm_w), int(out[k, 1] * hm_h)
        if out[k, 0] < 0 or out[k, 1] < 0 or not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1 = max(0, row - half), min(hm_h, row + half + 1)
        c0, c1 = max(0, col - half), min(hm_w, col + half + 1)
        conf = 1.0 / (1.0 + np.exp(-heatmap[r0:r1, c0:c1, k].astype(np.float64)))
        total = conf.sum()
        if total > 0 and conf.max() >= min_confidence:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[k, 0] = (conf * cols).sum() / total / hm_w
            out[k, 1] = (conf * rows).sum() / total / hm_h
    return out


@dataclass
class PersonDetection:
    """One person found by :class:`MultiPersonPoseDetector`.

    xy: (33, 2) float32 image pixels (``blazepose33`` order; may lie outside the image).
    confidence: (33,) float32 = visibility × presence (as :class:`~scorehmr_ros.core.detector.Detection`).
    visibility, presence: (33,) float32 sigmoid outputs of the landmark model.
    score: person-detector score in [0, 1]. pose_presence: landmark model's pose flag in [0, 1].
    box: (4,) float32 [xmin, ymin, xmax, ymax] pixels, bounds of the 33 landmarks clipped to the image.
    roi: the rotated crop the landmarks came from. image_size: (width, height).
    latency_s: wall time of the whole ``detect`` call (shared by all people of one image).
    next_roi: the crop BlazePose tracks the person with in the next frame (from the landmark
        model's two alignment points, as MediaPipe's pose graph derives it;
        :meth:`MultiPersonPoseDetector.track_people`).
    """

    xy: np.ndarray
    confidence: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    score: float
    pose_presence: float
    box: np.ndarray
    roi: Roi
    image_size: tuple[int, int]
    latency_s: float = 0.0
    layout: str = LAYOUT
    next_roi: Roi | None = None

    def as_detection(self) -> Detection:
        """The single-person :class:`~scorehmr_ros.core.detector.Detection` view of this person."""
        return Detection(
            xy=self.xy, confidence=self.confidence, image_size=self.image_size, latency_s=self.latency_s
        )


def _person(landmarks, score: float, roi: Roi, image_size: tuple[int, int]) -> PersonDetection:
    """A PersonDetection from one landmark pass (xy (39, 2), visibility, presence, pose flag)."""
    xy, vis, pres, flag = landmarks
    body = xy[:NUM_LANDMARKS]
    hip_centre, scale_point = xy[ALIGNMENT_LANDMARKS[0]], xy[ALIGNMENT_LANDMARKS[1]]
    lo = np.clip(body.min(0), 0, image_size)
    hi = np.clip(body.max(0), 0, image_size)
    return PersonDetection(
        xy=body,
        confidence=np.clip(vis[:NUM_LANDMARKS] * pres[:NUM_LANDMARKS], 0.0, 1.0).astype(np.float32),
        visibility=vis[:NUM_LANDMARKS].astype(np.float32),
        presence=pres[:NUM_LANDMARKS].astype(np.float32),
        score=score,
        pose_presence=flag,
        box=np.concatenate([lo, hi]).astype(np.float32),
        roi=roi,
        image_size=image_size,
        next_roi=alignment_roi(hip_centre, scale_point),
    )


def _model_dir() -> str:
    import mediapipe

    return os.path.join(os.path.dirname(mediapipe.__file__), "modules")


class MultiPersonPoseDetector:
    """All people in an RGB image, 33 BlazePose landmarks each; see the module docstring.

    Args:
        min_detection_score: person-detector score threshold (MediaPipe's default 0.5).
        nms_iou: IoU above which detector boxes merge (weighted NMS), 0.3 as in MediaPipe.
        min_pose_presence: landmark-model pose flag below which a person is dropped (0.5).
        max_people: keep at most this many detections (best scores first) before landmarking.
        dedupe_iou: after landmarking, a person whose landmark box overlaps a better-scored
            person's by more than this IoU is dropped (two detector hits on one body); None: off.
        tile_fraction: also run the person detector on square tiles of this fraction of the
            short side (:func:`tile_windows`; 0.5 -> 15 extra detector calls on 640x480, each
            ~2x the whole image's scale); None: the whole image only, as MediaPipe does.
        num_threads: TFLite CPU threads per interpreter.
        mask_others: landmark people again without their neighbours (module docstring, step 5).
        enough_people, enough_score: skip the tiles when the whole image already gave this many
            distinct people scored >= ``enough_score`` (a caller that keeps only the first
            ``enough_people`` such people, whole-image ones first, cannot use what tiles add;
            about 15 detector calls saved per 640x480 image); None: tiles always run.
        model_complexity: landmark model, 0 lite, 1 full (ships with the wheel), 2 heavy (see
            :mod:`scorehmr_ros.core.detector`, "Model complexity").
        limb_model: ``"movenet_thunder"``: limb keypoints of isolated people from MoveNet
            (:mod:`scorehmr_ros.core.limb_model`); ``"none"``: BlazePose's alone.
        limb_model_path: its ONNX file (default: the package data path setup writes).
    """

    def __init__(
        self,
        min_detection_score: float = 0.5,
        nms_iou: float = 0.3,
        min_pose_presence: float = 0.5,
        max_people: int = 10,
        dedupe_iou: float | None = 0.6,
        tile_fraction: float | None = 0.5,
        num_threads: int = 2,
        mask_others: bool = True,
        enough_people: int | None = None,
        enough_score: float = 0.0,
        model_complexity: int = 1,
        limb_model: str = "none",
        limb_model_path: str | None = None,
    ) -> None:
        for name, value in (
            ("min_detection_score", min_detection_score),
            ("nms_iou", nms_iou),
            ("min_pose_presence", min_pose_presence),
        ):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if tile_fraction is not None and not 0.0 < float(tile_fraction) <= 1.0:
            raise ValueError(f"tile_fraction must be in (0, 1] or None, got {tile_fraction}")
        det_path = os.path.join(_model_dir(), "pose_detection", "pose_detection.tflite")
        check_landmark_model(model_complexity)
        lm_path = os.path.join(_model_dir(), "pose_landmark", _MODEL_FILES[model_complexity])
        if not os.path.isfile(det_path):
            raise ModelUnavailableError(f"{det_path} is not installed (it ships with the mediapipe wheel)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailableError(
                "MultiPersonPoseDetector needs the 'ai-edge-litert' package (pip install ai-edge-litert)"
            ) from exc
        self.min_detection_score = float(min_detection_score)
        self.nms_iou = float(nms_iou)
        self.min_pose_presence = float(min_pose_presence)
        self.max_people = int(max_people)
        self.dedupe_iou = dedupe_iou
        self.tile_fraction = None if tile_fraction is None else float(tile_fraction)
        self.mask_others = bool(mask_others)
        self.enough_people = None if enough_people is None else int(enough_people)
        self.enough_score = float(enough_score)
        self._lock = threading.Lock()
        self._det = Interpreter(model_path=det_path, num_threads=num_threads)
        self._lm = Interpreter(model_path=lm_path, num_threads=num_threads)
        self._det.allocate_tensors()
        self._lm.allocate_tensors()
        self._det_in = self._det.get_input_details()[0]["index"]
        self._lm_in = self._lm.get_input_details()[0]["index"]
        det_out = {tuple(d["shape"][1:]): d["index"] for d in self._det.get_output_details()}
        self._det_boxes = det_out[(2254, 12)]
        self._det_scores = det_out[(2254, 1)]
        lm_out = {tuple(d["shape"][1:]): d["index"] for d in self._lm.get_output_details()}
        self._lm_landmarks = lm_out[(NUM_MODEL_LANDMARKS * 5,)]
        self._lm_flag = lm_out[(1,)]
        self._lm_heatmap = lm_out[(64, 64, NUM_MODEL_LANDMARKS)]
        self._lm_segmentation = lm_out[(LANDMARK_INPUT, LANDMARK_INPUT, 1)]
        self._anchors = ssd_anchors()
        from scorehmr_ros.core.limb_model import make_limb_model

        self._limbs = make_limb_model(limb_model, limb_model_path)

    # -- stages (public for tests and diagnostics) --------------------------------------------
    def _candidates(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detector candidates above the score threshold in ``image_rgb``'s pixels: boxes (N, 4),
        keypoints (N, 4, 2), scores (N,)."""
        boxed, scale, pad_x, pad_y = letterbox(image_rgb, DETECTOR_INPUT)
        tensor = (boxed.astype(np.float32) / 127.5 - 1.0)[None]
        self._det.set_tensor(self._det_in, tensor)
        self._det.invoke()
        raw_boxes = self._det.get_tensor(self._det_boxes)[0]
        raw_scores = self._det.get_tensor(self._det_scores)[0]
        boxes, kps, scores = decode_boxes(raw_boxes, raw_scores, self._anchors)
        keep = scores >= self.min_detection_score
        offset = np.array([pad_x, pad_y], np.float32)
        boxes_px = (boxes[keep].reshape(-1, 2, 2) * DETECTOR_INPUT - offset) / scale
        kps_px = (kps[keep] * DETECTOR_INPUT - offset) / scale
        return boxes_px.reshape(-1, 4), kps_px, scores[keep]

    def detect_boxes(self, image_rgb: np.ndarray) -> list[tuple[PoseBox, np.ndarray]]:
        """Person-detector stage: NMS-merged detections of the whole image (best score first),
        then those of its tiles that no whole-image detection overlaps (IoU > ``nms_iou``), best
        first. Whole-image detections come first so that a person found there keeps the ROI
        MediaPipe would give it (a tile's detection of the same person is dropped by the landmark
        de-duplication). Each is a PoseBox in image pixels with its 4 keypoints ((4, 2),
        :data:`DETECTOR_KEYPOINTS` order)."""
        whole = self._whole_boxes(image_rgb)
        return [(p, p.keypoints) for p in (whole + self._tile_boxes(image_rgb, whole))[: self.max_people]]

    def _whole_boxes(self, image_rgb: np.ndarray) -> list[PoseBox]:
        """NMS-merged detections of the whole image, best score first."""
        return weighted_nms(*self._candidates(image_rgb), self.nms_iou)

    def _tile_boxes(
        self, image_rgb: np.ndarray, whole: list[PoseBox], windows: list[tuple[int, int, int]] | None = None
    ) -> list[PoseBox]:
        """NMS-merged detections of ``windows`` (default: every tile of :func:`tile_windows`) that no
        box of ``whole`` overlaps, best first."""
        height, width = image_rgb.shape[:2]
        if windows is None:
            windows = tile_windows(width, height, self.tile_fraction)
        found = []
        for x0, y0, side in windows:
            boxes, kps, scores = self._candidates(
                np.ascontiguousarray(image_rgb[y0 : y0 + side, x0 : x0 + side])
            )
            found.append(
                (boxes + np.array([x0, y0, x0, y0], np.float32), kps + np.array([x0, y0], np.float32), scores)
            )
        extra = []
        if found:
            boxes, kps, scores = (np.concatenate(parts) for parts in zip(*found, strict=True))
            for p in weighted_nms(boxes, kps, scores, self.nms_iou):
                if not whole or box_iou(p.box, np.stack([w.box for w in whole])).max() <= self.nms_iou:
                    extra.append(p)
        return extra

    def landmarks_in_roi(self, image_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, ...]:
        """Landmark stage for one ROI: returns xy (39, 2) image px, visibility (39,), presence (39,),
        pose flag (float)."""
        return self._landmark_pass(image_rgb, roi)[:4]

    def _landmark_pass(self, image_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, ...]:
        """:meth:`landmarks_in_roi`'s four outputs and a function that returns the person's
        segmentation (H, W) float32 in [0, 1] in image pixels (0 outside the crop) when called."""
        import cv2

        to_image = roi.crop_to_image(LANDMARK_INPUT)
        to_crop = cv2.invertAffineTransform(to_image)
        crop = cv2.warpAffine(
            image_rgb,
            to_crop,
            (LANDMARK_INPUT, LANDMARK_INPUT),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        self._lm.set_tensor(self._lm_in, (crop.astype(np.float32) / 255.0)[None])
        self._lm.invoke()
        raw = self._lm.get_tensor(self._lm_landmarks)[0].reshape(NUM_MODEL_LANDMARKS, 5)
        flag = float(self._lm.get_tensor(self._lm_flag).reshape(-1)[0])
        heatmap = self._lm.get_tensor(self._lm_heatmap)[0]
        xy_norm = refine_with_heatmap(raw[:, :2] / LANDMARK_INPUT, heatmap)
        xy = xy_norm * LANDMARK_INPUT @ to_image[:, :2].T + to_image[:, 2]
        logits = self._lm.get_tensor(self._lm_segmentation)[0, :, :, 0].copy()
        height, width = image_rgb.shape[:2]

        def segmentation() -> np.ndarray:
            return cv2.warpAffine(_sigmoid(logits).astype(np.float32), to_image, (width, height))

        return xy.astype(np.float32), _sigmoid(raw[:, 3]), _sigmoid(raw[:, 4]), flag, segmentation

    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None) -> list[PersonDetection]:
        """Every person in ``image_rgb`` (H, W, 3) uint8 RGB ([] if none): those the whole image
        shows first, then those only a tile shows, each best detector score first. ``stamp_s``:
        not used (no state between images; the detectors' common interface)."""
        return self._detect(image_rgb, None)[0]

    def search(
        self, image_rgb: np.ndarray, near: list[PersonDetection]
    ) -> tuple[list[PersonDetection], bool]:
        """Look for ``near`` (people of a recent image of the same camera) where they were: the
        whole image as in :meth:`detect`, then instead of the tiles one :func:`local_windows` window
        around each of :meth:`kept` ``(near)`` that no whole-image person stands for
        (:func:`match_boxes` of the landmark boxes): 1-2 detector calls instead of ~15. The search
        is complete when it found every one of them again (:func:`refound_everyone`) and
        :meth:`has_enough` people; otherwise the tiles run as in :meth:`detect` (the windows'
        people are dropped). Returns (people, complete); with ``tile_fraction`` None it is
        :meth:`detect`."""
        return self._detect(image_rgb, near)

    def kept(self, people: list[PersonDetection]) -> list[PersonDetection]:
        """The people :meth:`has_enough` counts: the first ``enough_people`` scored >=
        ``enough_score`` (all of those with ``enough_people`` None)."""
        good = [p for p in people if p.score >= self.enough_score]
        return good if self.enough_people is None else good[: self.enough_people]

    def _detect(
        self, image_rgb: np.ndarray, near: list[PersonDetection] | None
    ) -> tuple[list[PersonDetection], bool]:
        validate_image(image_rgb)
        image = np.ascontiguousarray(image_rgb)
        complete = near is not None
        with self._lock:
            if self._det is None:
                raise RuntimeError("MultiPersonPoseDetector is closed")
            start = time.perf_counter()
            people: list[PersonDetection] = []
            masks: list = []
            whole = self._whole_boxes(image)[: self.max_people]
            self._landmark_boxes(image, whole, people, masks)
            # Tiles only look for people the whole image missed: not needed once it gave enough.
            enough = self.has_enough(self._dedupe(people))
            if self.tile_fraction and len(whole) < self.max_people and not enough:
                room = self.max_people - len(whole)
                if near is not None:
                    from_whole, sought = len(people), self.kept(near)
                    windows = self._near_windows(image, sought, people)
                    self._landmark_boxes(image, self._tile_boxes(image, whole, windows)[:room], people, masks)
                    found = self._dedupe(people)
                    refound = refound_everyone(sought, found)
                    complete = refound and self.has_enough(found)
                    if not complete:
                        del people[from_whole:], masks[from_whole:]
                if not complete:
                    self._landmark_boxes(image, self._tile_boxes(image, whole)[:room], people, masks)
            people = self._with_limbs(image, self._masked(image, self._dedupe(people), people, masks))
            latency = time.perf_counter() - start
        for p in people:
            p.latency_s = latency
        return people, complete

    def _near_windows(
        self, image: np.ndarray, near: list[PersonDetection], found: list[PersonDetection]
    ) -> list[tuple[int, int, int]]:
        """Windows around the people of ``near`` that no person of ``found`` stands for
        (:func:`match_boxes` on the landmark boxes)."""
        height, width = image.shape[:2]
        match = match_boxes([p.box for p in near], [p.box for p in found])
        missing = [p.box for p, m in zip(near, match, strict=True) if m is None]
        min_side = round(self.tile_fraction * min(width, height))
        return local_windows(missing, width, height, min_side)

    def track_people(
        self, image_rgb: np.ndarray, people: list[PersonDetection]
    ) -> list[PersonDetection] | None:
        """BlazePose's tracking step for several people: each of ``people`` (the previous image's)
        landmarked on its ``next_roi``, then de-duplicated and masked as :meth:`detect` does, in the
        same order, each keeping its score. None when any of them is lost (pose flag below
        ``min_pose_presence``, or two tracks ran onto one person): the caller should detect."""
        validate_image(image_rgb)
        image = np.ascontiguousarray(image_rgb)
        height, width = image.shape[:2]
        with self._lock:
            if self._lm is None:
                raise RuntimeError("MultiPersonPoseDetector is closed")
            start = time.perf_counter()
            found: list[PersonDetection] = []
            masks: list = []
            for person in people:
                roi = person.next_roi
                if roi is None or not (roi.size >= 1.0 and math.isfinite(roi.cx) and math.isfinite(roi.cy)):
                    return None  # e.g. non-finite alignment landmarks
                *landmarks, mask = self._landmark_pass(image, roi)
                if landmarks[3] < self.min_pose_presence:
                    return None
                found.append(_person(landmarks, person.score, roi, (width, height)))
                masks.append(mask)
            kept = self._dedupe(found)
            if len(kept) < len(found):
                return None
            found = self._with_limbs(image, self._masked(image, kept, found, masks))
            latency = time.perf_counter() - start
        for p in found:
            p.latency_s = latency
        return found

    def _masked(
        self, image: np.ndarray, kept: list[PersonDetection], people: list[PersonDetection], masks: list
    ) -> list[PersonDetection]:
        """``kept`` (a subset of ``people``, whose lazy segmentations are ``masks``), each landmarked
        again without the others' pixels when ``mask_others`` and there are several."""
        if not self.mask_others or len(kept) < 2:
            return kept
        index = {id(p): k for k, p in enumerate(people)}
        masks = [masks[index[id(p)]]() for p in kept]
        anyone = np.logical_or.reduce([m > 0.5 for m in masks])
        background = image[~anyone] if not anyone.all() else image.reshape(-1, 3)
        fill = np.median(background[:: max(1, len(background) // 4096)], axis=0).astype(np.uint8)
        return [self._without_others(image, masks, kept[i], i, fill) for i in range(len(kept))]

    def _landmark_boxes(self, image: np.ndarray, boxes: list[PoseBox], people: list, masks: list) -> None:
        """Landmark each box's ROI; append the people whose pose flag passes (and their lazy
        segmentation functions) to ``people`` / ``masks``."""
        height, width = image.shape[:2]
        for pose_box in boxes:
            kps = pose_box.keypoints
            roi = alignment_roi(kps[_KP["hip_centre"]], kps[_KP["full_body_scale_rotation"]])
            if roi.size < 1.0:
                continue
            *landmarks, mask = self._landmark_pass(image, roi)
            if landmarks[3] < self.min_pose_presence:
                continue
            people.append(_person(landmarks, pose_box.score, roi, (width, height)))
            masks.append(mask)

    def has_enough(self, people: list[PersonDetection]) -> bool:
        """At least ``enough_people`` people scored >= ``enough_score`` (never with None): the
        tiles could only add people the caller does not keep."""
        if self.enough_people is None:
            return False
        return sum(p.score >= self.enough_score for p in people) >= self.enough_people

    def _without_others(
        self, image: np.ndarray, masks: list[np.ndarray], person: PersonDetection, i: int, fill: np.ndarray
    ) -> PersonDetection:
        """``person`` (``masks[i]`` its segmentation) landmarked again with the other people's pixels
        painted ``fill`` (RGB; see the module docstring, step 5); unchanged when its crop holds none
        of them or the pose is then lost."""
        import cv2

        own = masks[i] > 0.5
        others = np.zeros_like(own)
        for j, m in enumerate(masks):
            if j != i:
                others |= m > 0.5
        others &= ~own
        height, width = own.shape
        in_crop = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(in_crop, np.round(person.roi.corners()).astype(np.int32), 1)
        others &= in_crop.astype(bool)
        if not others.any():
            return person
        painted = image.copy()
        painted[others] = fill
        *landmarks, _ = self._landmark_pass(painted, person.roi)
        if landmarks[3] < self.min_pose_presence:
            return person
        return _person(landmarks, person.score, person.roi, (width, height))

    def _with_limbs(self, image: np.ndarray, people: list[PersonDetection]) -> list[PersonDetection]:
        """``people`` with the limb model's keypoints (``limb_model``; module
        :mod:`~scorehmr_ros.core.limb_model`) for each person whose crop holds no other person."""
        if self._limbs is None:
            return people
        from scorehmr_ros.core.limb_model import isolated, person_roi

        out = []
        for i, p in enumerate(people):
            roi = person_roi(p.xy, p.confidence)
            if isolated(roi, [q.box for j, q in enumerate(people) if j != i]):
                xy, confidence = self._limbs.refine(image, p.xy, p.confidence, roi)
                p = dataclasses.replace(p, xy=xy, confidence=confidence)
            out.append(p)
        return out

    def _dedupe(self, people: list[PersonDetection]) -> list[PersonDetection]:
        if self.dedupe_iou is None:
            return people
        kept: list[PersonDetection] = []
        for p in people:  # whole-image detections first, each group best score first
            if kept and box_iou(p.box, np.stack([k.box for k in kept])).max() > self.dedupe_iou:
                continue
            kept.append(p)
        return kept

    def close(self) -> None:
        """Release the interpreters (idempotent)."""
        with self._lock:
            self._det = None
            self._lm = None
            if self._limbs is not None:
                self._limbs.close()

    def __enter__(self) -> MultiPersonPoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
