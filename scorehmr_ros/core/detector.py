"""ROS-free 2D body keypoint detector: MediaPipe BlazePose (legacy ``mediapipe.solutions.pose``).

:class:`BlazePoseDetector` runs BlazePose on one RGB image and returns a :class:`Detection`
with the 33 landmarks in pixels, in the ``blazepose33`` layout order
(:func:`scorehmr_ros.core.keypoints.get_layout`). BlazePose finds at most one person (the most
prominent one).

Modes
    ``static_image_mode=False`` (default, "video" mode): the person detector runs on the first
    frame and then only when tracking is lost; later frames reuse the previous landmarks' region
    of interest and landmarks are smoothed over time. Use this for a camera stream, one detector
    per stream. The solution assumes 30 fps (it stamps every call 33 ms after the last); given
    stamps, an image more than ``max_track_gap_s`` after the previous one (or before it) is
    processed as a single image instead, by a second solution in static mode (made on first
    need): a node that refines a few sets per second would otherwise crop each image where the
    person was a fraction of a second earlier and smooth the landmarks toward that pose. The
    video solution takes over again, started afresh, after ``RESUME_AFTER`` images in a row
    close enough to track (restarting it reloads its graph, about 50 ms here, so a rate near
    the limit does not restart it on every other image). ``static_image_mode=True``: every
    image is processed independently (detector every time, no smoothing), for unrelated single
    images.

Confidence
    ``confidence[k] = visibility[k] * presence[k]``: *visibility* is BlazePose's estimate that the
    landmark is in the image and not occluded, *presence* that it is in the image at all. The
    legacy solution API fills only ``visibility`` (``presence`` is not set), in which case the
    confidence is the visibility alone. Landmarks outside the image (e.g. hips of an upper-body
    shot) still get coordinates, extrapolated, with low confidence; ``xy`` may therefore lie
    outside ``[0, W) x [0, H)``.

Model complexity
    The PyPI ``mediapipe`` wheel ships only ``pose_landmark_full.tflite`` (``model_complexity=1``).
    Complexity 0 (lite) and 2 (heavy) make MediaPipe download the model from GitHub on first use,
    which fails offline; the constructor checks for the model file first and raises
    :class:`ModelUnavailableError` with an explanation instead. ``scripts/fetch_pose_models.sh``
    installs both from the ``@mediapipe/pose`` npm package (same release: its full model is
    byte-identical to the wheel's) into the mediapipe package, where both detectors find them.

Thread safety
    A MediaPipe graph is stateful (tracking, smoothing) and not safe to call from several threads
    at once. Use one instance per camera stream, called from one thread at a time; ``detect`` holds
    an internal lock so accidental concurrent calls are serialised rather than corrupting state.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from scorehmr_ros.core.tracked_detector import MAX_TRACK_GAP_S, TrackClock

LAYOUT = "blazepose33"
# Images in a row close enough to track (by their stamps) before the video solution, out of step
# after a gap, is restarted and used again.
RESUME_AFTER = 3
NUM_LANDMARKS = 33

_MODEL_FILES = {
    0: "pose_landmark_lite.tflite",
    1: "pose_landmark_full.tflite",
    2: "pose_landmark_heavy.tflite",
}


class ModelUnavailableError(RuntimeError):
    """The requested BlazePose model is not installed (and cannot be downloaded offline)."""


@dataclass
class Detection:
    """One detected person.

    xy: (33, 2) float32 pixel coordinates (x right, y down; may lie outside the image).
    confidence: (33,) float32 in [0, 1] (visibility × presence, see the module docstring).
    image_size: (width, height) of the processed image. latency_s: time spent in MediaPipe.
    """

    xy: np.ndarray
    confidence: np.ndarray
    image_size: tuple[int, int]
    latency_s: float
    layout: str = LAYOUT


def _landmark_model_path(model_complexity: int) -> str:
    import mediapipe

    return os.path.join(
        os.path.dirname(mediapipe.__file__), "modules", "pose_landmark", _MODEL_FILES[model_complexity]
    )


def missing_model_message(model_complexity: int, path: str) -> str:
    """Why a landmark model other than the wheel's is missing, and how to install it."""
    return (
        f"BlazePose model_complexity={model_complexity} needs {path}, which is not installed "
        "(the PyPI mediapipe wheel ships only model_complexity=1, pose_landmark_full; MediaPipe "
        "would try to download the others from GitHub). Use model_complexity=1, or install lite "
        "and heavy with scripts/fetch_pose_models.sh (npm)."
    )


def check_landmark_model(model_complexity: int) -> None:
    """Raise ValueError for an unknown complexity, ModelUnavailableError when its file is missing."""
    if model_complexity not in _MODEL_FILES:
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
    path = _landmark_model_path(model_complexity)
    if not os.path.isfile(path):
        raise ModelUnavailableError(missing_model_message(model_complexity, path))


def validate_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is an (H, W, 3) uint8 array with H, W > 0."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array (H, W, 3) uint8 RGB image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image, shape {image.shape}")


class BlazePoseDetector:
    """MediaPipe BlazePose wrapper; see the module docstring for modes, confidence and threading."""

    def __init__(
        self,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model_complexity: int = 1,
        smooth_landmarks: bool = True,
        max_track_gap_s: float = MAX_TRACK_GAP_S,
    ) -> None:
        for name, value in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
        ):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        check_landmark_model(model_complexity)
        from mediapipe.python.solutions import pose as mp_pose

        self.static_image_mode = bool(static_image_mode)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.model_complexity = int(model_complexity)
        self._lock = threading.Lock()
        self._clock = TrackClock(max_track_gap_s)
        self._options = dict(
            model_complexity=self.model_complexity,
            smooth_landmarks=bool(smooth_landmarks),
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )
        self._pose = mp_pose.Pose(static_image_mode=self.static_image_mode, **self._options)
        self._single = None  # video mode: the static-mode solution for images after a gap
        self._in_step = True  # the video solution saw the previous image
        self._close_run = 0  # images in a row at most max_track_gap_s after the one before
        self.single_images = 0  # images processed as single images because of a gap
        self.restarts = 0  # times the video solution was restarted after a gap

    def detect(self, image_rgb: np.ndarray, stamp_s: float | None = None) -> Detection | None:
        """Landmarks of the most prominent person in ``image_rgb`` (H, W, 3) uint8 RGB; None if nobody.
        ``stamp_s``: the image's time (s); in video mode an image more than ``max_track_gap_s``
        after the previous one is processed as a single image, not tracked (module docstring;
        None: time unknown, the track carries over).

        Raises ValueError for a wrong type, dtype or shape, RuntimeError after :meth:`close`.
        """
        validate_image(image_rgb)
        image = np.ascontiguousarray(image_rgb)
        height, width = image.shape[:2]
        with self._lock:
            if self._pose is None:
                raise RuntimeError("BlazePoseDetector is closed")
            start = time.perf_counter()
            result = self._solution(stamp_s).process(image)
            latency = time.perf_counter() - start
        if result.pose_landmarks is None:
            return None
        landmarks = result.pose_landmarks.landmark
        xy = np.empty((NUM_LANDMARKS, 2), np.float32)
        confidence = np.empty(NUM_LANDMARKS, np.float32)
        for k, lm in enumerate(landmarks):
            xy[k] = (lm.x * width, lm.y * height)
            vis = lm.visibility if lm.HasField("visibility") else 1.0
            pres = lm.presence if lm.HasField("presence") else 1.0
            confidence[k] = vis * pres
        np.clip(confidence, 0.0, 1.0, out=confidence)
        return Detection(xy=xy, confidence=confidence, image_size=(width, height), latency_s=latency)

    def _solution(self, stamp_s: float | None):
        """The solution for an image at ``stamp_s`` (module docstring: gaps in video mode)."""
        recent = self._clock.tick(stamp_s)
        if self.static_image_mode:
            return self._pose
        self._close_run = self._close_run + 1 if recent else 0
        if self._in_step and (recent or self._clock.gap_s is None):
            return self._pose
        if recent and self._close_run >= RESUME_AFTER:
            self._pose.reset()
            self.restarts += 1
            self._in_step = True
            return self._pose
        if self._single is None:
            from mediapipe.python.solutions import pose as mp_pose

            self._single = mp_pose.Pose(static_image_mode=True, **self._options)
        self._in_step = False
        self.single_images += 1
        return self._single

    def close(self) -> None:
        """Release the MediaPipe graphs (idempotent)."""
        with self._lock:
            for pose in (self._pose, self._single):
                if pose is not None:
                    pose.close()
            self._pose = self._single = None

    def __enter__(self) -> BlazePoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
