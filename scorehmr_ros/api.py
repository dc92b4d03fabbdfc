"""The public estimator: numpy in, numpy bodies out (one image, one multi-view set, a stream).

    from scorehmr_ros import Estimator, View
    est = Estimator.from_pretrained(preset="quality")
    bodies = est.estimate_image(rgb)                       # (H, W, 3) uint8, focal guessed
    bodies = est.estimate_views([View(K1, image=rgb1, camera="left"), View(K2, image=rgb2, camera="right")])
    stream = est.stream()                                  # causal, sliding window of the preset
    for stamp_ns, views in sets: bodies = stream.push(views, stamp_ns)
    bodies += stream.flush()

Under it: ``core.detector`` (MediaPipe BlazePose-33) → ``core.streaming.StreamingEstimator``
(per-view regression, ScoreHMR refinement, fusion) with a preset from ``core.presets``. The node's
compute process, the benchmark and the ``scorehmr-estimate`` command use this module.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import roma
import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat
from scorehmr_ros.core.camera import project
from scorehmr_ros.core.distortion import Distortion
from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.keypoints import TORSO_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.limb_model import LIMB_MODELS, WithLimbModel, resolve_limb_model, use_limbs
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import DEFAULT_PRESET, StreamingConfig, get_preset, one_shot
from scorehmr_ros.core.streaming import LAYOUT, FusedBody, StreamingEstimator, ViewInput, process_people


def default_focal(width: int, height: int) -> float:
    """Focal length (px) assumed for a photo without intrinsics: the image diagonal (≈ 53° diagonal FOV)."""
    return float(math.hypot(width, height))


def intrinsics_matrix(focal: float, width: int, height: int) -> np.ndarray:
    """(3, 3) pinhole K with square pixels and the principal point at the image centre."""
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


@dataclass
class View:
    """One camera's observation in a synchronised set.

    K: (3, 3) intrinsics. Either ``image`` (H, W, 3) uint8 RGB (detected with BlazePose) or
    ``keypoints`` (33, 2) px in the BlazePose-33 layout with ``confidence`` (33,) in [0, 1].
    image_size: (width, height); taken from ``image`` when omitted. cam_to_ref: optional (4, 4)
    transform from this camera's optical frame to a frame shared by the rig (extrinsics), named
    ``reference`` (calibrated bodies are published in it).
    people: multi-person mode only, instead of ``image``/``keypoints``: every person of this view as
    (keypoints (33, 2) px, confidence (33,)) pairs, e.g. from an external detector.
    distortion: the lens distortion of the image the keypoints are in (``core.distortion``; None:
    an ideal pinhole camera). Keypoints are undistorted on input; the bodies' :class:`ViewFit`
    keypoints and projections are given back in the distorted image's pixels.
    """

    K: np.ndarray
    image: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    confidence: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    camera: str = "camera"
    cam_to_ref: np.ndarray | None = None
    people: list[tuple[np.ndarray, np.ndarray]] | None = None
    reference: str | None = None
    distortion: Distortion | None = None

    def problem(self) -> tuple[str, str] | None:
        """(reason, detail) when the view's geometry cannot be used (non-finite or singular ``K``,
        a ``cam_to_ref`` that is not a finite rigid transform), else None."""
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            return "bad_intrinsics", f"view {self.camera!r}: K {K.ravel().tolist()}"
        if self.cam_to_ref is not None:
            T = np.asarray(self.cam_to_ref, dtype=np.float64)
            R = T[:3, :3] if T.shape == (4, 4) else np.zeros((3, 3))
            rigid = T.shape == (4, 4) and np.isfinite(T).all() and np.allclose(R.T @ R, np.eye(3), atol=1e-3)
            if not rigid or np.linalg.det(R) <= 0:
                return "bad_extrinsics", f"view {self.camera!r}: cam_to_ref is not a finite rigid transform"
        return None

    def ideal(self, keypoints: np.ndarray) -> np.ndarray:
        """Keypoints (N, 2) of this view's image in ideal pinhole pixels of ``K`` (undistorted)."""
        if self.distortion is None:
            return np.asarray(keypoints)
        return self.distortion.undistort(keypoints, self.K).astype(np.float32)

    def size(self) -> tuple[int, int]:
        if self.image_size is not None:
            return (int(self.image_size[0]), int(self.image_size[1]))
        if self.image is not None:
            return (int(self.image.shape[1]), int(self.image.shape[0]))
        raise ValueError(f"view {self.camera!r}: give image_size (width, height) with keypoints")


@dataclass
class ViewFit:
    """How the body fits one view: keypoints as used (after left/right resolution) and as fitted.

    keypoints (33, 2) px, confidence (33,); projected (33, 2) px: this view's own refined estimate
    projected into it (both in the view's image pixels, distorted like it when the view has a
    ``distortion``); error_px: mean distance over confident keypoints (measured undistorted).
    """

    camera: str
    keypoints: np.ndarray
    confidence: np.ndarray
    projected: np.ndarray
    error_px: float


@dataclass
class Body:
    """One person at one instant, in the camera frame ``frame`` (plain numpy).

    global_orient (3,) and body_pose (23, 3): axis-angle, as smplx takes them; rotations
    (24, 3, 3) the same as matrices; betas (10,); transl (3,) the smplx translation; joints
    (24, 3) m in ``frame``; vertices (N, 3) when asked for; views: per-view fit.
    id: the person's tracked id (REP-155 style ``b0``, ``b1``, ...); always ``b0`` with one person.
    """

    stamp_ns: int
    frame: str
    global_orient: np.ndarray
    body_pose: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    fit_quality: float
    views: dict[str, ViewFit] = field(default_factory=dict)
    vertices: np.ndarray | None = None
    id: str = "b0"

    @property
    def view_errors_px(self) -> dict[str, float]:
        return {name: v.error_px for name, v in self.views.items()}

    def to_dict(self) -> dict:
        """JSON-ready (lists and floats; NaN becomes None)."""

        def clean(x):
            if isinstance(x, np.ndarray):
                return clean(x.tolist())
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, float) and not math.isfinite(x):
                return None
            return x

        return clean(asdict(self))


@dataclass
class StepReport:
    """What one :meth:`Stream.push_many` call did, for diagnostics.

    view_drops: (camera, reason, detail) for views left out; sets_without_person: sets with no
    usable view; sets_refined: sets that entered the window; rejected_stamps: stamps of bodies not
    published because their views contradict them (``StreamingConfig.max_body_error_rel``, or
    ``max_view_error_rel`` for uncalibrated sets);
    timings_ms: detection / estimation.
    Multi-person mode: tracked_ids: ids alive after the call (seen or coasting); removed_ids: ids
    whose track ended in this call (their remaining frames are in ``bodies``); people_per_set:
    confirmed people estimated in each set.
    """

    bodies: list[Body] = field(default_factory=list)
    view_drops: list[tuple[str, str, str]] = field(default_factory=list)
    sets_without_person: int = 0
    sets_refined: int = 0
    flips_chosen: int = 0
    rejected_stamps: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    tracked_ids: list[str] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    people_per_set: list[int] = field(default_factory=list)


@dataclass
class DetectedSets:
    """Consecutive sets after 2D detection (``Stream.detect_many`` / ``MultiPersonStream.detect_many``),
    to be refined by the same stream's ``push_detected``.

    report: the step report so far (views dropped in detection, sets without a person);
    sets: the stream's per-set detections (opaque to callers); detection_ms: time spent.
    """

    report: StepReport
    sets: list
    detection_ms: float


def _take_rejected(cores) -> list[int]:
    """Stamps of the bodies the cores did not publish since last asked (core.streaming.body_agrees)."""
    stamps = []
    for core in cores:
        stamps += core.rejected_stamps
        core.rejected_stamps.clear()
    return stamps


class Estimator:
    """Loaded models + denoiser engine + preset; cheap to call, safe to reuse (no state between calls).

    Streams (:meth:`stream`) keep their own sliding window and detectors.
    """

    def __init__(
        self,
        models: ScoreHMRModels,
        preset: str | StreamingConfig = DEFAULT_PRESET,
        denoiser=None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        *,
        max_people: int = 1,
        min_person_confidence: float = 0.5,
        person_tile_fraction: float | None = 0.5,
        person_mask_others: bool = True,
        person_birth_frames: int = 3,
        person_timeout_s: float = 1.0,
        min_person_views: int = 2,
        model_complexity: int = 1,
        tile_fallback: bool = True,
        person_redetect_every: int = 5,
        person_track_gap_s: float = 0.1,
        limb_model: str = "auto",
    ):
        """``model_complexity``: BlazePose landmark model of the streams' detectors (0 lite, 1 full,
        2 heavy; only 1 ships with the mediapipe wheel, see :mod:`core.detector`).
        ``max_people`` > 1: multi-person mode (see :class:`MultiPersonStream`); the other
        ``person_*`` settings apply to it only (``min_person_views``: in calibrated sets of >= 2
        views, people associated in fewer views are left out; ``person_tile_fraction``: the
        detector's tiles, :func:`core.multiperson.tile_windows`, None = whole image only;
        ``person_mask_others``: landmark each person again without the others' pixels,
        :class:`core.multiperson.MultiPersonPoseDetector` ``mask_others``). ``tile_fallback``:
        single-person mode, where MediaPipe's pose solution finds nobody in an image, look again
        with the multi-person detector on tiles of ``person_tile_fraction``
        (:class:`core.fallback_detector.FallbackPoseDetector`; people small in the image).
        ``person_redetect_every``: multi-person streams (not one-shot photos) run the person
        detector on every n-th image and track each person's landmarks in between
        (:class:`core.tracked_detector.TrackingMultiPersonDetector`); 1: detect every image.
        ``person_track_gap_s``: images further apart (by their set stamps) are not tracked
        (:data:`core.tracked_detector.MAX_TRACK_GAP_S`; one person: MediaPipe's pose solution
        processes such an image as a single image, :class:`core.detector.BlazePoseDetector`); up to
        :data:`core.tracked_detector.MAX_SEARCH_GAP_S` apart the person detector looks for the
        previous people near where they were (whole image and one window each instead of the
        tiles), beyond that it detects. ``limb_model``: where the limb keypoints of each person
        BlazePose finds come from, ``"movenet_thunder"`` (MoveNet on a crop around the person,
        isolated people only; :mod:`core.limb_model`), ``"none"`` (BlazePose's) or ``"auto"``
        (MoveNet for one person in calibrated sets of two or more views, BlazePose's otherwise:
        :func:`core.limb_model.resolve_limb_model`, :func:`core.limb_model.use_limbs`)."""
        if limb_model not in LIMB_MODELS:
            raise ValueError(f"limb_model must be one of {LIMB_MODELS}, got {limb_model!r}")
        self.limb_model = limb_model
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if model_complexity not in (0, 1, 2):
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        self.model_complexity = int(model_complexity)
        self.max_people = int(max_people)
        self.min_person_confidence = float(min_person_confidence)
        self.person_tile_fraction = person_tile_fraction
        self.tile_fallback = bool(tile_fallback)
        self.person_mask_others = bool(person_mask_others)
        self.person_birth_frames = int(person_birth_frames)
        self.person_timeout_s = float(person_timeout_s)
        self.min_person_views = int(min_person_views)
        if int(person_redetect_every) < 1:
            raise ValueError(f"person_redetect_every must be >= 1, got {person_redetect_every}")
        self.person_redetect_every = int(person_redetect_every)
        if not person_track_gap_s > 0:
            raise ValueError(f"person_track_gap_s must be > 0, got {person_track_gap_s}")
        self.person_track_gap_s = float(person_track_gap_s)
        self.models = models
        self.config = get_preset(preset) if isinstance(preset, str) else preset
        self.preset_name = preset if isinstance(preset, str) else "custom"
        self.denoiser = denoiser or models.denoiser
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._still_detectors: dict = {}  # camera -> still-image BlazePose, shared by one-shot calls
        self._multi_detectors: dict = {}  # camera -> MultiPersonPoseDetector, shared by one-shot calls

    @classmethod
    def from_pretrained(
        cls,
        preset: str = "quality",
        body_model_path: str | Path | None = None,
        *,
        regressor_path: str | Path | None = None,
        denoiser_path: str | Path | None = None,
        backend: str = "torch",
        **kwargs,
    ) -> Estimator:
        """The packaged weights (or the given files) with the denoiser ``backend``
        (``torch`` | ``compile`` | ``onnxruntime`` | ``tensorrt`` | ``auto``, see core.engines)."""
        models = ScoreHMRModels.load(body_model_path, regressor_path, denoiser_path)
        engine = None if backend == "torch" else make_denoiser(models.denoiser, backend=backend)
        return cls(models, preset, engine, **kwargs)

    # -- one-shot calls ----------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """BlazePose-33 keypoints (33, 2) px and confidences (33,) of one photo; None if nobody."""
        stream = self._one_shot_stream()
        det = stream.detect_view("camera", image, limbs=use_limbs(self.limb_model, calibrated_views=0))
        return None if det is None else (det.xy, det.confidence)

    def estimate_image(
        self, image: np.ndarray, K: np.ndarray | None = None, *, focal: float | None = None, vertices=False
    ) -> list[Body]:
        """Bodies in one RGB photo (H, W, 3) uint8. K (3, 3), else ``focal`` px (default
        :func:`default_focal`) with the principal point at the centre. Frame: ``"camera"``."""
        h, w = image.shape[:2]
        if K is None:
            K = intrinsics_matrix(focal or default_focal(w, h), w, h)
        return self.estimate_views([View(K, image=image)], vertices=vertices)

    def estimate_keypoints(
        self, keypoints: np.ndarray, confidence: np.ndarray, K: np.ndarray, image_size, *, vertices=False
    ) -> list[Body]:
        """The body of one view's BlazePose-33 keypoints (33, 2) px with confidences (33,)."""
        view = View(K, keypoints=keypoints, confidence=confidence, image_size=tuple(image_size))
        return self.estimate_views([view], vertices=vertices)

    def estimate_views(self, views: list[View], *, vertices=False) -> list[Body]:
        """Bodies of one synchronised multi-view set (no history; published at once).

        Calibrated when every view has ``cam_to_ref``: one body in the frame they map into (``reference``).
        """
        return self._one_shot_stream().push_many([(0, views)], vertices=vertices).bodies

    def detect_people(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every person of one photo (multi-person BlazePose, at most ``max_people``) in either
        mode, best first: (keypoints (33, 2) px, confidences (33,)) each."""
        stream = MultiPersonStream(
            self, one_shot(self.config), detectors=self._multi_detectors, one_shot=True
        )
        return [(p.xy, p.confidence) for p in stream.detect_people(image, "camera")]

    def stream(self, *, vertices=False, detectors: dict | None = None) -> Stream | MultiPersonStream:
        """A causal stream with this estimator's preset (sliding window, warm start); a
        :class:`MultiPersonStream` when ``max_people`` > 1.

        ``detectors``: camera -> detectors to reuse (another stream's)."""
        if self.max_people > 1:
            return MultiPersonStream(self, self.config, vertices=vertices, detectors=detectors)
        return Stream(self, self.config, detector_mode="video", vertices=vertices, detectors=detectors)

    def with_preset(self, preset: str | StreamingConfig) -> Estimator:
        """The same models and engine with another preset."""
        return Estimator(
            self.models,
            preset,
            self.denoiser,
            self.min_detection_confidence,
            self.min_tracking_confidence,
            max_people=self.max_people,
            min_person_confidence=self.min_person_confidence,
            person_tile_fraction=self.person_tile_fraction,
            person_mask_others=self.person_mask_others,
            person_birth_frames=self.person_birth_frames,
            person_timeout_s=self.person_timeout_s,
            min_person_views=self.min_person_views,
            model_complexity=self.model_complexity,
            tile_fallback=self.tile_fallback,
            person_redetect_every=self.person_redetect_every,
            person_track_gap_s=self.person_track_gap_s,
            limb_model=self.limb_model,
        )

    def _one_shot_stream(self) -> Stream | MultiPersonStream:
        if self.max_people > 1:
            return MultiPersonStream(
                self, one_shot(self.config), detectors=self._multi_detectors, one_shot=True
            )
        return Stream(self, one_shot(self.config), detector_mode="image", detectors=self._still_detectors)

    # -- conversion ----------------------------------------------------------------------------
    def to_body(self, fused: FusedBody, vertices: bool = False, body_id: str = "b0") -> Body:
        """Numpy :class:`Body` of a :class:`core.streaming.FusedBody`, with each view's fit."""
        bm = self.models.body_model
        rot = fused.rotations
        aa = roma.rotmat_to_rotvec(rot).numpy()
        fits = {}
        with torch.no_grad():
            states = fused.views
            R = pose6d_to_rotmat(torch.stack([s.x for s in states]).reshape(-1, 24, 6))
            betas = torch.stack([s.betas for s in states])
            transl = torch.stack([s.transl for s in states])
            kp = bm.pose_keypoints(R[:, 0], R[:, 1:], betas, transl, LAYOUT)
            uv = project(kp, torch.stack([s.observation.K for s in states]).float()).numpy()
            for i, s in enumerate(states):
                keypoints, projected = s.observation.keypoints.numpy().copy(), uv[i]
                lens = s.observation.distortion
                if lens is not None:  # back into the image's own (distorted) pixels
                    K = s.observation.K.numpy()
                    keypoints = lens.distort(keypoints, K).astype(np.float32)
                    projected = lens.distort(projected, K).astype(np.float32)
                fits[s.camera] = ViewFit(
                    s.camera,
                    keypoints,
                    s.observation.confidence.numpy().copy(),
                    projected,
                    float(fused.view_errors_px.get(s.camera, float("nan"))),
                )
            verts = None
            if vertices:
                out = bm(rot[None, 0], rot[None, 1:], fused.betas[None], fused.transl[None])
                verts = out.vertices[0].numpy()
        return Body(
            stamp_ns=int(fused.stamp_ns),
            frame=fused.frame,
            global_orient=aa[0],
            body_pose=aa[1:],
            rotations=rot.numpy(),
            betas=fused.betas.numpy(),
            transl=fused.transl.numpy(),
            joints=fused.joints.numpy(),
            fit_quality=float(fused.fit_quality),
            views=fits,
            vertices=verts,
            id=body_id,
        )

    def close(self) -> None:
        """Release the still-image detectors."""
        for dets in (self._still_detectors, self._multi_detectors):
            for det in dets.values():
                det.close()
            dets.clear()


class _CameraDetectors:
    """One detector per camera, made on first use (:meth:`_make_detector`), and a thread pool that
    runs them on the views of a set in parallel (the detectors release the GIL while they run);
    also what the stream learned of the rig from its views (:meth:`_with_reference`)."""

    def __init__(self, detectors: dict | None = None):
        self.detectors: dict = {} if detectors is None else detectors  # camera -> detector
        self._pool: ThreadPoolExecutor | None = None
        self._rig_reference: str | None = None  # the camera whose cam_to_ref is the identity

    def _with_reference(self, views: list[View]) -> list[View]:
        """The set's views, those with ``cam_to_ref`` but no ``reference`` named after the rig's
        reference camera: the one whose ``cam_to_ref`` is the identity, in this set or an earlier
        one of the stream, whether or not anybody was detected in it. Without this, a person first
        seen in sets where that camera found nobody was published in another camera's frame (correctly
        labelled, but unlike every other body of the stream)."""
        for v in views:
            if v.reference is None and v.cam_to_ref is not None and v.problem() is None:
                if np.allclose(np.asarray(v.cam_to_ref, dtype=np.float64), np.eye(4), atol=1e-6):
                    self._rig_reference = v.camera
        if self._rig_reference is None:
            return views
        return [
            replace(v, reference=self._rig_reference)
            if v.reference is None and v.cam_to_ref is not None
            else v
            for v in views
        ]

    def _make_detector(self):
        raise NotImplementedError

    def detector(self, camera: str):
        """The detector of ``camera`` (created on first use)."""
        if camera not in self.detectors:
            self.detectors[camera] = self._make_detector()
        return self.detectors[camera]

    def _map_views(self, fn, views: list[View]) -> list:
        """``[fn(view) for view in views]``, the views in parallel threads when there are several."""
        for v in views:  # made here, not in the worker threads
            self.detector(v.camera)
        if len(views) < 2:
            return [fn(v) for v in views]
        if self._pool is None or self._pool._max_workers < len(views):
            self._pool = ThreadPoolExecutor(len(views), thread_name_prefix="detect")
        return list(self._pool.map(fn, views))

    def close(self) -> None:
        """Release the detectors and the thread pool."""
        for det in self.detectors.values():
            det.close()
        self.detectors.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class Stream(_CameraDetectors):
    """A causal stream of synchronised sets through one :class:`StreamingEstimator`.

    Views with images are detected by one BlazePose detector per camera (tracking mode for a
    stream, still-image mode for one-shot calls, which share the estimator's), the cameras of a set
    in parallel threads.
    """

    def __init__(
        self,
        estimator: Estimator,
        config: StreamingConfig,
        detector_mode: str = "video",
        vertices=False,
        detectors: dict | None = None,
    ):
        self.estimator = estimator
        self.config = config
        self.vertices = vertices
        self._static = detector_mode == "image"
        self._core = StreamingEstimator(estimator.models, config, estimator.denoiser)
        super().__init__(detectors)  # camera -> BlazePoseDetector

    def push(self, views: list[View], stamp_ns: int = 0) -> list[Body]:
        """Add one set (oldest first across calls); returns the bodies that became final."""
        return self.push_many([(stamp_ns, views)]).bodies

    def push_many(self, sets: list[tuple[int, list[View]]], *, vertices: bool | None = None) -> StepReport:
        """Add consecutive sets (oldest first) and refine them in one batched call."""
        return self.push_detected(self.detect_many(sets), vertices=vertices)

    def detect_many(self, sets: list[tuple[int, list[View]]]) -> DetectedSets:
        """First half of :meth:`push_many`: the 2D detection of consecutive sets (oldest first).
        Touches only the cameras' detectors, so it may run in another thread while
        :meth:`push_detected` refines earlier sets (the node's compute process pipelines them)."""
        report = StepReport()
        t0 = time.perf_counter()
        ready = []
        for stamp_ns, views in sets:
            inputs = self._inputs(self._with_reference(views), report, stamp_ns * 1e-9)
            if inputs:
                ready.append((stamp_ns, inputs))
            else:
                report.sets_without_person += 1
        return DetectedSets(report, ready, 1000 * (time.perf_counter() - t0))

    def push_detected(self, detected: DetectedSets, *, vertices: bool | None = None) -> StepReport:
        """Second half of :meth:`push_many`: refine what :meth:`detect_many` returned (calls in the
        order of their detection)."""
        report, ready = detected.report, detected.sets
        t1 = time.perf_counter()
        fused = self._core.process_many(ready) if ready else []
        t2 = time.perf_counter()
        want_vertices = self.vertices if vertices is None else vertices
        report.bodies = [self.estimator.to_body(f, want_vertices) for f in fused]
        if self._static:  # one-shot: publish what is still free
            report.bodies += [self.estimator.to_body(f, want_vertices) for f in self._core.flush()]
        report.sets_refined = len(ready)
        report.flips_chosen = self._core.flips_chosen
        report.rejected_stamps = _take_rejected([self._core])
        report.timings_ms = {
            "detection": detected.detection_ms,
            "estimation": 1000 * (t2 - t1),
            "geometry": 1000 * (time.perf_counter() - t2),
        }
        return report

    def flush(self) -> list[Body]:
        """Publish every frame still in the window (end of stream)."""
        return [self.estimator.to_body(f, self.vertices) for f in self._core.flush()]

    def reset(self) -> None:
        """Forget the window and the published anchors (detectors keep tracking)."""
        self._core.reset()

    # -- helpers -------------------------------------------------------------------------------
    def _make_detector(self):
        from scorehmr_ros.core.fallback_detector import single_person_detector

        est = self.estimator
        return single_person_detector(
            static_image_mode=self._static,
            min_detection_confidence=est.min_detection_confidence,
            min_tracking_confidence=est.min_tracking_confidence,
            model_complexity=est.model_complexity,
            tile_fraction=est.person_tile_fraction,
            mask_others=est.person_mask_others,
            tile_fallback=est.tile_fallback,
            limb_model=resolve_limb_model(est.limb_model, est.max_people),
            max_track_gap_s=est.person_track_gap_s,
        )

    def _detect(self, views: list[View], stamp_s: float | None = None) -> dict:
        """camera -> Detection | None for the views that carry an image (taken at ``stamp_s``);
        with the limb model's keypoints where :func:`core.limb_model.use_limbs` says so."""
        with_image = [v for v in views if v.image is not None]
        limbs = use_limbs(self.estimator.limb_model, sum(v.cam_to_ref is not None for v in with_image))
        found = self._map_views(lambda v: self.detect_view(v.camera, v.image, stamp_s, limbs), with_image)
        return {v.camera: d for v, d in zip(with_image, found, strict=True)}

    def detect_view(self, camera: str, image: np.ndarray, stamp_s: float | None = None, limbs: bool = False):
        """Detection | None of one camera's image; ``limbs``: with the limb model's keypoints (when
        the detector has one, :class:`core.limb_model.WithLimbModel`)."""
        det = self.detector(camera)
        if isinstance(det, WithLimbModel):
            return det.detect(image, stamp_s=stamp_s, limbs=limbs)
        return det.detect(image, stamp_s=stamp_s)

    def _inputs(self, views: list[View], report: StepReport, stamp_s: float | None = None) -> list[ViewInput]:
        views = _with_usable_geometry(views, report)
        detected = self._detect(views, stamp_s)
        inputs = []
        for v in views:
            if v.image is not None:
                det = detected[v.camera]
                if det is None:
                    report.view_drops.append((v.camera, "no_person", "no person detected"))
                    continue
                kp, conf = det.xy, det.confidence
            elif v.keypoints is not None:
                kp = v.keypoints
                conf = v.confidence if v.confidence is not None else np.ones(len(v.keypoints))
            elif v.people is not None:  # single-person mode: the first (best) person
                if not v.people:
                    report.view_drops.append((v.camera, "no_person", "no person given"))
                    continue
                kp, conf = v.people[0]
            else:
                raise ValueError(f"view {v.camera!r} has neither an image nor keypoints")
            view = _view_input(v, v.ideal(kp), conf)
            if not view.usable():
                report.view_drops.append((v.camera, "no_person", "too few confident keypoints"))
                continue
            inputs.append(view)
        return inputs


def _with_usable_geometry(views: list[View], report: StepReport) -> list[View]:
    """The views whose ``K`` and ``cam_to_ref`` can be used; the others reported as dropped."""
    usable = []
    for v in views:
        problem = v.problem()
        if problem is None:
            usable.append(v)
        else:
            report.view_drops.append((v.camera, *problem))
    return usable


def _view_input(v: View, kp, conf) -> ViewInput:
    """core ViewInput of one person in view ``v``."""
    return ViewInput(
        v.camera,
        torch.as_tensor(np.asarray(kp), dtype=torch.float32),
        torch.as_tensor(np.asarray(conf), dtype=torch.float32),
        torch.as_tensor(np.asarray(v.K), dtype=torch.float32),
        torch.tensor(v.size(), dtype=torch.float32),
        None if v.cam_to_ref is None else torch.as_tensor(v.cam_to_ref, dtype=torch.float32),
        v.reference,
        v.distortion,
    )


# Shoulder-to-hip length (m) assumed to place a person seen in one view only (tracking position).
TORSO_LENGTH_M = 0.5
_NAMES = get_layout(LAYOUT).keypoint_names
# Shoulders then hips, left before right; and the two shoulder-hip pairs (one per side).
_TORSO = [_NAMES.index(n) for n in TORSO_KEYPOINT_NAMES]
_TORSO_SIDES = [(_NAMES.index(f"{side}_shoulder"), _NAMES.index(f"{side}_hip")) for side in ("left", "right")]


@dataclass
class _Person2D:
    """One person in one view, whatever its source: xy (33, 2) px, confidence (33,), score in [0, 1]."""

    xy: np.ndarray
    confidence: np.ndarray
    score: float = 1.0


class MultiPersonStream(_CameraDetectors):
    """Several people per set (``Estimator(max_people > 1)``): the same interface as :class:`Stream`.

    Per set:
      1. People per view: multi-person BlazePose (:class:`core.multiperson.MultiPersonPoseDetector`,
         one per camera, detector score >= ``min_person_confidence``) for views with an image,
         ``View.people`` lists, or ``View.keypoints`` as one person.
      2. Calibrated sets (every view has ``cam_to_ref``, >= 2 views): :func:`core.association.associate`
         on the projections ``K [R|t]`` of the rig frame gives one multi-view observation per person;
         a group whose triangulated torso is implausible (a person in front of every camera, shoulder
         width 0.15-0.7 m, shoulder-hip length 0.25-0.9 m) is split into its views, and people seen
         in fewer than ``min_person_views`` views are left out (association failures and people
         half out of the rig would otherwise become extra, badly placed "ghost" people).
         Uncalibrated sets: people of ONE view only, the preset's ``reference_camera`` when in the
         set, else the first view (the other views are reported as dropped, reason
         ``uncalibrated_multi_person``): without extrinsics nothing says which person in one
         view is which in another, and per-view bodies of one person would be tracked twice.
      3. Each person's torso centre in the rig frame (calibrated) or the camera frame: weighted
         DLT triangulation of the hips and shoulders for multi-view groups; for single-view ones
         the back-projection at the depth where the shoulder-hip length is ``TORSO_LENGTH_M``.
         At most ``max_people`` people per set (more views first, then detector score).
      4. :class:`core.tracking.PersonTracker` on these centres: ids ``b0``, ``b1``, ... born after
         ``person_birth_frames`` consecutive frames, removed ``person_timeout_s`` after last seen and
         two missed sets in a row (a person back within the timeout and the gate keeps the id;
         later: a new id).
      5. One :class:`core.streaming.StreamingEstimator` per id (its own window and anchors); the
         windows of every id are refined together in ONE batched refine() call
         (:func:`core.streaming.process_people`). A removed id's window is flushed into that
         call's bodies and its estimator dropped.
    """

    def __init__(
        self,
        estimator: Estimator,
        config: StreamingConfig,
        vertices=False,
        detectors: dict | None = None,
        one_shot: bool = False,
    ):
        from scorehmr_ros.core.tracking import PersonTracker

        self.estimator = estimator
        self.config = config
        self.vertices = vertices
        self.one_shot = one_shot
        super().__init__(detectors)  # camera -> MultiPersonPoseDetector
        self.tracker = PersonTracker(
            min_hits=1 if one_shot else estimator.person_birth_frames,
            timeout_s=estimator.person_timeout_s,
        )
        self.cores: dict[str, StreamingEstimator] = {}
        self.flips_chosen = 0

    # -- public ----------------------------------------------------------------------------------
    def push(self, views: list[View], stamp_ns: int = 0) -> list[Body]:
        return self.push_many([(stamp_ns, views)]).bodies

    def push_many(self, sets: list[tuple[int, list[View]]], *, vertices: bool | None = None) -> StepReport:
        """Add consecutive sets (oldest first): detect, associate, track, refine per id."""
        return self.push_detected(self.detect_many(sets), vertices=vertices)

    def detect_many(self, sets: list[tuple[int, list[View]]]) -> DetectedSets:
        """The people of every view of consecutive sets (see :meth:`Stream.detect_many`)."""
        report = StepReport()
        t0 = time.perf_counter()
        per_set = []
        for stamp_ns, views in sets:
            views = self._with_reference(views)
            per_set.append((stamp_ns, views, self._people(views, report, stamp_ns * 1e-9)))
        return DetectedSets(report, per_set, 1000 * (time.perf_counter() - t0))

    def push_detected(self, detected: DetectedSets, *, vertices: bool | None = None) -> StepReport:
        """Associate, track and refine per id what :meth:`detect_many` returned (in its order)."""
        report, per_set = detected.report, detected.sets
        want_vertices = self.vertices if vertices is None else vertices
        t1 = time.perf_counter()
        work: dict[str, list[tuple[int, list[ViewInput]]]] = {}
        removed: list[str] = []
        for stamp_ns, views, people in per_set:
            observations = self._observations(views, people, report)
            if not observations:
                report.sets_without_person += 1
            positions = np.array([o[0] for o in observations]).reshape(-1, 3)
            alive_before = {tr.id for tr in self.tracker.confirmed_tracks()}
            tracked = self.tracker.update(stamp_ns * 1e-9, positions)
            alive = {tr.id for tr in self.tracker.confirmed_tracks()}
            removed += sorted(alive_before - alive)
            for person in tracked:
                work.setdefault(person.id, []).append((stamp_ns, observations[person.observation][1]))
            report.people_per_set.append(len(tracked))
            if tracked:
                report.sets_refined += 1
        t2 = time.perf_counter()
        fused: list[tuple[str, FusedBody]] = []
        for body_id in work:
            if body_id not in self.cores:
                self.cores[body_id] = StreamingEstimator(
                    self.estimator.models, self.config, self.estimator.denoiser
                )
        # Every id's window in one batched refine() call.
        results = process_people([(self.cores[body_id], id_sets) for body_id, id_sets in work.items()])
        for body_id, bodies in zip(work, results, strict=True):
            fused += [(body_id, f) for f in bodies]
        for body_id in removed:
            core = self.cores.pop(body_id, None)
            if core is not None:
                fused += [(body_id, f) for f in core.flush()]
                self.flips_chosen += core.flips_chosen
                report.rejected_stamps += _take_rejected([core])
        if self.one_shot:
            for body_id, core in self.cores.items():
                fused += [(body_id, f) for f in core.flush()]
        t3 = time.perf_counter()
        fused.sort(key=lambda bf: (bf[1].stamp_ns, bf[0]))
        report.bodies = [self.estimator.to_body(f, want_vertices, body_id) for body_id, f in fused]
        report.tracked_ids = sorted((tr.id for tr in self.tracker.confirmed_tracks()), key=_id_key)
        report.removed_ids = removed
        report.flips_chosen = self.flips_chosen + sum(c.flips_chosen for c in self.cores.values())
        report.rejected_stamps += _take_rejected(self.cores.values())
        report.timings_ms = {
            "detection": detected.detection_ms,
            "association": 1000 * (t2 - t1),
            "estimation": 1000 * (t3 - t2),
            "geometry": 1000 * (time.perf_counter() - t3),
        }
        return report

    def flush(self) -> list[Body]:
        """Publish every frame still in every id's window (end of stream)."""
        out = []
        for body_id, core in self.cores.items():
            out += [(body_id, f) for f in core.flush()]
        out.sort(key=lambda bf: (bf[1].stamp_ns, bf[0]))
        return [self.estimator.to_body(f, self.vertices, body_id) for body_id, f in out]

    def reset(self) -> None:
        """Forget every id, window and track."""
        from scorehmr_ros.core.tracking import PersonTracker

        self.cores.clear()
        old = self.tracker
        self.tracker = PersonTracker(
            min_hits=old.min_hits, timeout_s=old.timeout_s, min_misses=old.min_misses, id_prefix=old.id_prefix
        )
        self.tracker._next_id = old._next_id  # ids are never reused within a stream

    def _make_detector(self):
        from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
        from scorehmr_ros.core.tracked_detector import TrackingMultiPersonDetector

        detector = MultiPersonPoseDetector(
            min_detection_score=min(self.estimator.min_person_confidence, 0.5),
            max_people=max(self.estimator.max_people, 1) + 2,
            tile_fraction=self.estimator.person_tile_fraction,
            mask_others=self.estimator.person_mask_others,
            num_threads=1,
            # detect_people keeps the first max_people people scored >= min_person_confidence
            enough_people=self.estimator.max_people,
            enough_score=self.estimator.min_person_confidence,
            model_complexity=self.estimator.model_complexity,
            limb_model=resolve_limb_model(self.estimator.limb_model, self.estimator.max_people),
        )
        if self.one_shot or self.estimator.person_redetect_every == 1:
            return detector  # unrelated photos are never tracked
        est = self.estimator
        return TrackingMultiPersonDetector(detector, est.person_redetect_every, est.person_track_gap_s)

    def detect_people(self, image: np.ndarray, camera: str, stamp_s: float | None = None) -> list:
        """PersonDetection list of one image (taken at ``stamp_s``, for the detector's tracking),
        score >= min_person_confidence, at most max_people."""
        found = self.detector(camera).detect(image, stamp_s=stamp_s)
        keep = [p for p in found if p.score >= self.estimator.min_person_confidence]
        return keep[: self.estimator.max_people]

    # -- steps -----------------------------------------------------------------------------------
    def _people(
        self, views: list[View], report: StepReport, stamp_s: float | None = None
    ) -> dict[str, list[_Person2D]]:
        """camera -> people of that view (images detected, the cameras in parallel threads)."""
        out: dict[str, list[_Person2D]] = {}
        views = _with_usable_geometry(views, report)
        with_image = [v for v in views if v.image is not None]
        found = self._map_views(lambda v: self.detect_people(v.image, v.camera, stamp_s), with_image)
        for v, people in zip(with_image, found, strict=True):
            out[v.camera] = [_Person2D(v.ideal(p.xy), p.confidence, float(p.score)) for p in people]
        for v in views:
            if v.image is not None:
                pass
            elif v.people is not None:
                out[v.camera] = [_Person2D(v.ideal(k), np.asarray(c)) for k, c in v.people]
            elif v.keypoints is not None:
                c = v.confidence if v.confidence is not None else np.ones(len(v.keypoints))
                out[v.camera] = [_Person2D(v.ideal(v.keypoints), np.asarray(c))]
            else:
                raise ValueError(f"view {v.camera!r} has neither an image, keypoints nor people")
            usable = [p for p in out[v.camera] if _view_input(v, p.xy, p.confidence).usable()]
            out[v.camera] = usable[: self.estimator.max_people]
            if not out[v.camera]:
                report.view_drops.append((v.camera, "no_person", "no person with enough confident keypoints"))
        return out

    def _observations(
        self, views: list[View], people: dict[str, list[_Person2D]], report: StepReport
    ) -> list[tuple[np.ndarray, list[ViewInput]]]:
        """One (torso centre (3,), view inputs) per person of the set, best first, <= max_people."""
        from scorehmr_ros.core.association import associate, triangulate_weighted_dlt
        from scorehmr_ros.core.tracking import torso_centre

        views = [v for v in views if people.get(v.camera)]
        if not views:
            return []
        calibrated = len(views) >= 2 and all(v.cam_to_ref is not None for v in views)
        if not calibrated and len(views) > 1:
            names = [v.camera for v in views]
            keep = names.index(self.config.reference_camera) if self.config.reference_camera in names else 0
            for v in views:
                if v is not views[keep]:
                    report.view_drops.append(
                        (v.camera, "uncalibrated_multi_person", "several people need a calibrated rig")
                    )
            views = [views[keep]]
        dets = [people[v.camera] for v in views]
        if calibrated:
            to_cam = [np.linalg.inv(np.asarray(v.cam_to_ref, np.float64)) for v in views]
            P = np.stack([np.asarray(v.K, np.float64) @ T[:3] for v, T in zip(views, to_cam, strict=True)])
            groups = [g.views for g in associate(P, dets)]
        else:
            P = None
            groups = [{0: j} for j in range(len(dets[0]))]
        out = []
        for members in groups:
            vs = sorted(members)
            centre = None
            if P is not None and len(vs) >= 2:
                xy = np.stack([dets[v][members[v]].xy for v in vs]).astype(np.float64)
                w = np.stack([dets[v][members[v]].confidence for v in vs]).astype(np.float64)
                w = np.where(np.isfinite(xy).all(-1) & (w >= 0.3), w, 0.0)
                X = triangulate_weighted_dlt(P[vs], np.nan_to_num(xy), w)
                if not _plausible_torso(X, [to_cam[v] for v in vs]):
                    groups += [{v: members[v]} for v in vs]  # split: judged one view at a time below
                    continue
                centre = torso_centre(X)
            if P is not None and len(vs) < min(self.estimator.min_person_views, len(views)):
                continue
            if centre is None:
                v = vs[0]
                centre = _single_view_centre(dets[v][members[v]], views[v])
            if centre is None:
                continue
            inputs = [
                _view_input(views[v], dets[v][members[v]].xy, dets[v][members[v]].confidence) for v in vs
            ]
            score = sum(dets[v][members[v]].score for v in vs)
            out.append((len(vs), score, centre, inputs))
        out.sort(key=lambda o: (-o[0], -o[1]))
        return [(c, inputs) for _, _, c, inputs in out[: self.estimator.max_people]]


def _plausible_torso(X: np.ndarray, to_cam: list[np.ndarray]) -> bool:
    """Triangulated BlazePose-33 points X (33, 3) in the rig frame look like one person's torso:
    finite shoulders and hips in front of every camera (``to_cam``: rig -> camera (4, 4)),
    shoulder width 0.15-0.7 m, mean shoulder-hip length 0.25-0.9 m."""
    torso = X[_TORSO]
    if not np.isfinite(torso).all():
        return True  # too few keypoints to judge: keep the association
    for T in to_cam:
        if np.any(torso @ T[:3, :3].T + T[:3, 3] <= 0, axis=0)[2]:
            return False
    width = np.linalg.norm(torso[0] - torso[1])
    length = 0.5 * (np.linalg.norm(torso[0] - torso[2]) + np.linalg.norm(torso[1] - torso[3]))
    return bool(0.15 <= width <= 0.7 and 0.25 <= length <= 0.9)


def _single_view_centre(person: _Person2D, view: View) -> np.ndarray | None:
    """Torso centre (3,) of one view's person in the rig frame (or the camera frame without
    ``cam_to_ref``): back-projected at the depth where the shoulder-hip length is TORSO_LENGTH_M."""
    from scorehmr_ros.core.tracking import torso_centre

    c2 = torso_centre(np.concatenate([person.xy, np.zeros((len(person.xy), 1))], 1), person.confidence)
    if c2 is None:
        return None
    lengths = [
        np.linalg.norm(person.xy[s] - person.xy[h])
        for s, h in _TORSO_SIDES
        if min(person.confidence[s], person.confidence[h]) >= 0.3
    ]
    if not lengths or max(lengths) < 1.0:
        return None
    K = np.asarray(view.K, np.float64)
    depth = K[0, 0] * TORSO_LENGTH_M / float(np.mean(lengths))
    ray = np.linalg.solve(K, np.array([c2[0], c2[1], 1.0]))
    p = ray * depth
    if view.cam_to_ref is not None:
        T = np.asarray(view.cam_to_ref, np.float64)
        p = T[:3, :3] @ p + T[:3, 3]
    return p


def _id_key(body_id: str) -> tuple[int, str]:
    digits = body_id.lstrip("abcdefghijklmnopqrstuvwxyz_")
    return (int(digits) if digits.isdigit() else 1 << 30, body_id)
