"""The node's compute process: 2D detection, regression, refinement and fusion, off the ROS process.

Why a process: detection and refinement are hundreds of small Python-level torch/MediaPipe calls
that hold the GIL; in the node's own process they starved the executor threads, and best-effort
images were overwritten before the callbacks took them (about half of the 30 Hz images were
lost). Here the ROS process only takes messages, converts and validates them, and publishes,
while one child process (``spawn``: no inherited DDS state) does the numeric work on numpy
arrays sent through a pipe. Nothing in this module imports rclpy.

Protocol (``ComputeProcess``): ``start()`` waits for the child to load the models, build the
denoiser engine and warm up (or report why it could not); ``run(job)`` sends one :class:`Job` and
blocks until its :class:`JobResult` comes back; the child handles one job at a time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

LAYOUT = "blazepose33"


@dataclass(frozen=True)
class ComputeConfig:
    """What the child needs to build its pipeline (node parameters, see multiview_node.SPECS)."""

    cameras: tuple[str, ...]
    detector: str  # "mediapipe" | "topic"
    preset: str
    body_model_path: str = ""
    regressor_path: str = ""
    denoiser_path: str = ""
    denoiser_backend: str = "auto"
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    threads: int = 1


@dataclass
class ViewJob:
    """One camera of a set. ``image`` (H, W, 3) uint8 RGB for in-process detection, else
    ``keypoints`` (33, 2) px and ``confidence`` (33,). K (3, 3); size (w, h); cam_to_ref (4, 4) | None."""

    camera: str
    K: np.ndarray
    size: tuple[int, int]
    image: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    confidence: np.ndarray | None = None
    cam_to_ref: np.ndarray | None = None


@dataclass
class SetJob:
    stamp_ns: int
    views: list[ViewJob]


@dataclass
class Job:
    """Consecutive sets (oldest first) refined in one call. ``reset``: forget the window first."""

    sets: list[SetJob]
    preset: str
    reset: bool = False
    mesh: bool = False  # return the full mesh of the newest body
    overlay: bool = False  # return each view's projected keypoints for the newest body


@dataclass
class BodyResult:
    """A published body (numpy): rotations (24, 3, 3), betas (nb,), transl (3,), joints (24, 3).

    vertices (V, 3) when the job asked for the mesh; overlay_uv camera -> (33, 2) px.
    """

    stamp_ns: int
    frame: str
    rotations: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    view_errors_px: dict[str, float]
    fit_quality: float
    num_views: int
    vertices: np.ndarray | None = None
    overlay_uv: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class JobResult:
    bodies: list[BodyResult] = field(default_factory=list)
    view_drops: list[tuple[str, str, str]] = field(default_factory=list)  # (camera, reason, detail)
    sets_without_person: int = 0
    flips_chosen: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    sets_refined: int = 0  # sets with a usable view, refined together in this job
    error: str | None = None


@dataclass
class Ready:
    backend: str
    reason: str
    faces: np.ndarray  # (F, 3) mesh triangles
    body_model_source: str


class ComputeProcess:
    """Parent-side handle of the child process (see module docstring)."""

    def __init__(self, config: ComputeConfig):
        self.config = config
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self.ready: Ready | None = None

    def start(self, timeout_s: float = 300.0) -> Ready:
        """Spawn the child and wait until it is warmed up. Raises RuntimeError with the child's reason."""
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_child_main, args=(self.config, child), name="scorehmr_compute", daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent
        reply = self._receive(timeout_s)
        if isinstance(reply, Ready):
            self.ready = reply
            return reply
        self.stop()
        raise RuntimeError(reply if isinstance(reply, str) else f"unexpected reply {reply!r}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def run(self, job: Job, timeout_s: float = 120.0) -> JobResult:
        """Send one job and wait for its result (the GIL is free while waiting)."""
        if not self.alive():
            raise RuntimeError("compute process is not running")
        self._conn.send(job)
        reply = self._receive(timeout_s)
        if not isinstance(reply, JobResult):
            # A stuck child would answer this job later, out of step with the next one: end it, so
            # that alive() is False and the node starts a fresh one.
            self.stop()
            raise RuntimeError(f"compute process: {reply}")
        return reply

    def _receive(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._conn.poll(0.1):
                try:
                    return self._conn.recv()
                except EOFError:
                    break
            if not self.alive():
                break
        if self.alive():
            return f"no reply within {timeout_s:.0f} s"
        code = self._proc.exitcode if self._proc is not None else None
        return f"compute process exited (code {code})"

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        if self._proc is not None:
            self._proc.join(timeout_s)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout_s)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None


# ---------------------------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------------------------
def _child_main(config: ComputeConfig, conn) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    try:
        pipeline = _Pipeline(config)
        conn.send(pipeline.ready)
    except Exception as exc:  # missing/corrupt files, engine errors: tell the parent why
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        try:
            result = pipeline.run(job)
        except Exception as exc:  # one bad job must not end the process
            result = JobResult(error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
        try:
            conn.send(result)
        except (OSError, BrokenPipeError):
            return


class _Pipeline:
    """Detection + StreamingEstimator + output geometry, living in the child."""

    def __init__(self, config: ComputeConfig):
        import torch

        from scorehmr_ros.core.engines import make_denoiser
        from scorehmr_ros.core.models import ScoreHMRModels
        from scorehmr_ros.core.streaming import PRESETS, StreamingEstimator

        torch.set_num_threads(config.threads)
        self.config = config
        self.models = ScoreHMRModels.load(
            config.body_model_path or None, config.regressor_path or None, config.denoiser_path or None
        )
        self.engine = make_denoiser(self.models.denoiser, backend=config.denoiser_backend)
        self.preset = config.preset
        self.estimator = StreamingEstimator(self.models, PRESETS[config.preset], self.engine)
        self.detectors = {}
        self._detect_pool = None
        if config.detector == "mediapipe":
            # One thread per camera: MediaPipe releases the GIL while its graph runs, so the views of a
            # set are detected in parallel (3 views: 31 instead of 52 ms per set on 2 cores).
            self._detect_pool = ThreadPoolExecutor(len(config.cameras), thread_name_prefix="detect")
            from scorehmr_ros.core.detector import BlazePoseDetector

            self.detectors = {
                c: BlazePoseDetector(
                    static_image_mode=False,
                    min_detection_confidence=config.min_detection_confidence,
                    min_tracking_confidence=config.min_tracking_confidence,
                )
                for c in config.cameras
            }
        self._warm_up()
        self.ready = Ready(
            self.engine.backend,
            self.engine.reason,
            np.asarray(self.models.body_model.faces),
            self.models.body_model.source,
        )

    def _warm_up(self) -> None:
        """Dummy sets (1 to 3 views, 1 and 2 sets per call) through a throwaway estimator."""
        from scorehmr_ros.core.streaming import PRESETS, StreamingEstimator

        rng = np.random.default_rng(0)
        K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
        views = [
            ViewJob(f"warmup{i}", K, (640, 480), None, rng.uniform(200, 400, (33, 2)), np.ones(33))
            for i in range(3)
        ]
        est = StreamingEstimator(self.models, PRESETS[self.preset], self.engine)
        est.process_many([(0, [self._view_input(v) for v in views])])
        est.process_many([(1, [self._view_input(v) for v in views]), (2, [self._view_input(views[0])])])
        for det in self.detectors.values():
            det.detect(np.zeros((64, 64, 3), dtype=np.uint8))

    @staticmethod
    def _view_input(view: ViewJob, keypoints=None, confidence=None):
        import torch

        from scorehmr_ros.core.streaming import ViewInput

        kp = view.keypoints if keypoints is None else keypoints
        conf = view.confidence if confidence is None else confidence
        return ViewInput(
            view.camera,
            torch.as_tensor(np.asarray(kp), dtype=torch.float32),
            torch.as_tensor(np.asarray(conf), dtype=torch.float32),
            torch.as_tensor(view.K, dtype=torch.float32),
            torch.tensor(view.size, dtype=torch.float32),
            None if view.cam_to_ref is None else torch.as_tensor(view.cam_to_ref, dtype=torch.float32),
        )

    def run(self, job: Job) -> JobResult:
        from scorehmr_ros.core.streaming import PRESETS, StreamingEstimator

        result = JobResult()
        if job.preset != self.preset:
            self.preset = job.preset
            self.estimator = StreamingEstimator(self.models, PRESETS[job.preset], self.engine)
        if job.reset:
            self.estimator.reset()
        t0 = time.perf_counter()
        sets = []
        for s in job.sets:
            views = []
            detected = self._detect_all(s.views)
            for v in s.views:
                if v.image is not None:
                    det = detected[v.camera]
                    if det is None:
                        result.view_drops.append((v.camera, "no_person", "no person detected"))
                        continue
                    view = self._view_input(v, det.xy, det.confidence)
                else:
                    view = self._view_input(v)
                if not view.usable():
                    result.view_drops.append((v.camera, "no_person", "too few confident keypoints"))
                    continue
                views.append(view)
            if views:
                sets.append((s.stamp_ns, views))
            else:
                result.sets_without_person += 1
        t1 = time.perf_counter()
        bodies = self.estimator.process_many(sets) if sets else []
        t2 = time.perf_counter()
        for i, body in enumerate(bodies):
            newest = i == len(bodies) - 1
            result.bodies.append(self._body_result(body, job.mesh and newest, job.overlay and newest))
        t3 = time.perf_counter()
        result.flips_chosen = self.estimator.flips_chosen
        result.sets_refined = len(sets)
        result.timings_ms = {
            "detection": 1000 * (t1 - t0),
            "estimation": 1000 * (t2 - t1),
            "geometry": 1000 * (t3 - t2),
        }
        return result

    def _detect_all(self, views: list[ViewJob]) -> dict:
        """camera -> MediaPipe Detection (or None) for the views that carry an image, in parallel."""
        with_image = [v for v in views if v.image is not None]
        if not with_image:
            return {}
        found = self._detect_pool.map(lambda v: self.detectors[v.camera].detect(v.image), with_image)
        return {v.camera: d for v, d in zip(with_image, found, strict=True)}

    def _body_result(self, body, mesh: bool, overlay: bool) -> BodyResult:
        import torch

        from scorehmr_ros.core.body_model import pose6d_to_rotmat
        from scorehmr_ros.core.camera import project

        bm = self.models.body_model
        out = BodyResult(
            body.stamp_ns,
            body.frame,
            body.rotations.numpy(),
            body.betas.numpy(),
            body.transl.numpy(),
            body.joints.numpy(),
            dict(body.view_errors_px),
            body.fit_quality,
            len(body.views),
        )
        with torch.no_grad():
            if mesh:
                R = body.rotations
                out.vertices = (
                    bm(R[None, 0], R[None, 1:], body.betas[None], body.transl[None]).vertices[0].numpy()
                )
            if overlay:
                for state in body.views:
                    R = pose6d_to_rotmat(state.x.reshape(24, 6))
                    kp = bm.pose_keypoints(
                        R[None, 0], R[None, 1:], state.betas[None], state.transl[None], LAYOUT
                    )
                    out.overlay_uv[state.camera] = project(kp, state.observation.K[None])[0].numpy()
        return out
