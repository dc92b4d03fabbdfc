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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat
from scorehmr_ros.core.camera import project
from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import DEFAULT_PRESET, StreamingConfig, get_preset, one_shot
from scorehmr_ros.core.streaming import LAYOUT, FusedBody, StreamingEstimator, ViewInput


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
    transform from this camera's optical frame to a frame shared by the rig (extrinsics).
    """

    K: np.ndarray
    image: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    confidence: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    camera: str = "camera"
    cam_to_ref: np.ndarray | None = None

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
    projected into it; error_px: mean distance over confident keypoints.
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
    usable view; sets_refined: sets that entered the window; timings_ms: detection / estimation.
    """

    bodies: list[Body] = field(default_factory=list)
    view_drops: list[tuple[str, str, str]] = field(default_factory=list)
    sets_without_person: int = 0
    sets_refined: int = 0
    flips_chosen: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


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
    ):
        self.models = models
        self.config = get_preset(preset) if isinstance(preset, str) else preset
        self.preset_name = preset if isinstance(preset, str) else "custom"
        self.denoiser = denoiser or models.denoiser
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._still_detectors: dict = {}  # camera -> still-image BlazePose, shared by one-shot calls

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
        det = self._one_shot_stream().detector("camera").detect(image)
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

        Calibrated when every view has ``cam_to_ref``; the body is then in the first view's frame.
        """
        return self._one_shot_stream().push_many([(0, views)], vertices=vertices).bodies

    def stream(self, *, vertices=False, detectors: dict | None = None) -> Stream:
        """A causal stream with this estimator's preset (sliding window, warm start).

        ``detectors``: camera -> tracking BlazePose detectors to reuse (another stream's)."""
        return Stream(self, self.config, detector_mode="video", vertices=vertices, detectors=detectors)

    def with_preset(self, preset: str | StreamingConfig) -> Estimator:
        """The same models and engine with another preset."""
        return Estimator(
            self.models, preset, self.denoiser, self.min_detection_confidence, self.min_tracking_confidence
        )

    def _one_shot_stream(self) -> Stream:
        return Stream(self, one_shot(self.config), detector_mode="image", detectors=self._still_detectors)

    # -- conversion ----------------------------------------------------------------------------
    def to_body(self, fused: FusedBody, vertices: bool = False) -> Body:
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
                fits[s.camera] = ViewFit(
                    s.camera,
                    s.observation.keypoints.numpy().copy(),
                    s.observation.confidence.numpy().copy(),
                    uv[i],
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
        )

    def close(self) -> None:
        """Release the still-image detectors."""
        for det in self._still_detectors.values():
            det.close()
        self._still_detectors.clear()


class Stream:
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
        self.detectors: dict = {} if detectors is None else detectors  # camera -> BlazePoseDetector
        self._pool: ThreadPoolExecutor | None = None

    def push(self, views: list[View], stamp_ns: int = 0) -> list[Body]:
        """Add one set (oldest first across calls); returns the bodies that became final."""
        return self.push_many([(stamp_ns, views)]).bodies

    def push_many(self, sets: list[tuple[int, list[View]]], *, vertices: bool | None = None) -> StepReport:
        """Add consecutive sets (oldest first) and refine them in one batched call."""
        report = StepReport()
        t0 = time.perf_counter()
        ready = []
        for stamp_ns, views in sets:
            inputs = self._inputs(views, report)
            if inputs:
                ready.append((stamp_ns, inputs))
            else:
                report.sets_without_person += 1
        t1 = time.perf_counter()
        fused = self._core.process_many(ready) if ready else []
        t2 = time.perf_counter()
        want_vertices = self.vertices if vertices is None else vertices
        report.bodies = [self.estimator.to_body(f, want_vertices) for f in fused]
        if self._static:  # one-shot: publish what is still free
            report.bodies += [self.estimator.to_body(f, want_vertices) for f in self._core.flush()]
        report.sets_refined = len(ready)
        report.flips_chosen = self._core.flips_chosen
        report.timings_ms = {
            "detection": 1000 * (t1 - t0),
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

    def close(self) -> None:
        for det in self.detectors.values():
            det.close()
        self.detectors.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # -- helpers -------------------------------------------------------------------------------
    def detector(self, camera: str):
        """The BlazePose detector of ``camera`` (created on first use)."""
        if camera not in self.detectors:
            from scorehmr_ros.core.detector import BlazePoseDetector

            self.detectors[camera] = BlazePoseDetector(
                static_image_mode=self._static,
                min_detection_confidence=self.estimator.min_detection_confidence,
                min_tracking_confidence=self.estimator.min_tracking_confidence,
            )
        return self.detectors[camera]

    def _detect(self, views: list[View]) -> dict:
        """camera -> Detection | None for views with an image (several cameras in parallel threads:
        MediaPipe releases the GIL while its graph runs)."""
        with_image = [v for v in views if v.image is not None]
        if not with_image:
            return {}
        detectors = [self.detector(v.camera) for v in with_image]
        if len(with_image) == 1:
            return {with_image[0].camera: detectors[0].detect(with_image[0].image)}
        if self._pool is None or self._pool._max_workers < len(with_image):
            self._pool = ThreadPoolExecutor(len(with_image), thread_name_prefix="detect")
        found = self._pool.map(lambda vd: vd[1].detect(vd[0].image), zip(with_image, detectors, strict=True))
        return {v.camera: d for v, d in zip(with_image, found, strict=True)}

    def _inputs(self, views: list[View], report: StepReport) -> list[ViewInput]:
        detected = self._detect(views)
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
            else:
                raise ValueError(f"view {v.camera!r} has neither an image nor keypoints")
            view = ViewInput(
                v.camera,
                torch.as_tensor(np.asarray(kp), dtype=torch.float32),
                torch.as_tensor(np.asarray(conf), dtype=torch.float32),
                torch.as_tensor(np.asarray(v.K), dtype=torch.float32),
                torch.tensor(v.size(), dtype=torch.float32),
                None if v.cam_to_ref is None else torch.as_tensor(v.cam_to_ref, dtype=torch.float32),
            )
            if not view.usable():
                report.view_drops.append((v.camera, "no_person", "too few confident keypoints"))
                continue
            inputs.append(view)
        return inputs
