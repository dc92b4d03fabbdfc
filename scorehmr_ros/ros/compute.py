"""The node's compute process: 2D detection, regression, refinement and fusion, off the ROS process.

Why a process: detection and refinement are hundreds of small Python-level torch/MediaPipe calls
that hold the GIL; in the node's own process they starved the executor threads, and best-effort
images were overwritten before the callbacks took them (about half of the 30 Hz images were
lost). Here the ROS process only takes messages, converts and validates them, and publishes,
while one child process (``spawn``: no inherited DDS state) does the numeric work on numpy
arrays sent through a pipe. Nothing in this module imports rclpy.

Protocol (``ComputeProcess``): ``start()`` waits for the child to load the models, build the
denoiser engine and warm up (or report why it could not); ``submit(job)`` sends a :class:`Job`,
``collect()`` blocks until the oldest job's :class:`JobResult` comes back (``run(job)``: both).
The child works in two stages, one thread each: a reader thread receives jobs and runs their 2D
detection, the main thread refines them in order and sends the results; so while job n is refined
the detection of job n + 1, when already submitted, runs beside it (``api.Stream.detect_many`` /
``push_detected``); the node's ``pipeline_depth`` says how many jobs it keeps in flight.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.core.distortion import Distortion

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
    max_people: int = 1  # > 1: multi-person (api.MultiPersonStream), bodies carry tracked ids
    min_person_confidence: float = 0.5
    person_tile_fraction: float = 0.5  # 0: whole image only
    person_mask_others: bool = True  # landmark people again without their neighbours
    person_redetect_every: int = 5  # multi-person: person detector on every n-th image, tracked between
    tile_fallback: bool = True  # single person: tiles where MediaPipe's solution finds nobody
    model_complexity: int = 1  # BlazePose landmark model (1: full, the wheel's)
    limb_model: str = "auto"  # limb keypoints: MoveNet for one person (core.limb_model); "none"
    person_birth_frames: int = 3
    person_timeout_s: float = 1.0
    max_body_error_rel: float = 0.1  # StreamingConfig.max_body_error_rel of every preset; 0: off


@dataclass
class ViewJob:
    """One camera of a set. ``image`` (H, W, 3) uint8 RGB for in-process detection, else
    ``keypoints`` (33, 2) px and ``confidence`` (33,), or (multi-person) ``people``: every person
    as (keypoints, confidence), in the image's pixels. K (3, 3); size (w, h); cam_to_ref (4, 4) | None."""

    camera: str
    K: np.ndarray
    size: tuple[int, int]
    image: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    confidence: np.ndarray | None = None
    cam_to_ref: np.ndarray | None = None
    reference: str | None = None  # the frame cam_to_ref maps into (calibrated rigs publish in it)
    people: list[tuple[np.ndarray, np.ndarray]] | None = None
    distortion: Distortion | None = None  # the raw image's lens distortion (None: pinhole or rectified)


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
    body_id: the tracked id (``b0`` with one person).
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
    body_id: str = "b0"


@dataclass
class JobResult:
    bodies: list[BodyResult] = field(default_factory=list)
    view_drops: list[tuple[str, str, str]] = field(default_factory=list)  # (camera, reason, detail)
    sets_without_person: int = 0
    flips_chosen: int = 0
    rejected_stamps: list[int] = field(default_factory=list)  # bodies the views contradicted, not published
    timings_ms: dict[str, float] = field(default_factory=dict)
    sets_refined: int = 0  # sets with a usable view, refined together in this job
    error: str | None = None
    # Multi-person only (None with one person): ids alive after the job, ids removed in it.
    tracked_ids: list[str] | None = None
    removed_ids: list[str] = field(default_factory=list)


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
        self.in_flight = 0  # jobs submitted and not collected

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
        """Send one job and wait for its result (nothing else in flight)."""
        if self.in_flight:
            raise RuntimeError(f"run() with {self.in_flight} job(s) in flight: collect() them first")
        self.submit(job)
        return self.collect(timeout_s)

    def submit(self, job: Job) -> None:
        """Send a job without waiting: the child detects it while it refines the jobs before it."""
        if not self.alive():
            raise RuntimeError("compute process is not running")
        self._conn.send(job)
        self.in_flight += 1

    def result_ready(self, timeout_s: float = 0.0) -> bool:
        """Whether the oldest job's result (or the child's end) can be collected without waiting."""
        return self.in_flight > 0 and self._conn is not None and self._conn.poll(timeout_s)

    def collect(self, timeout_s: float = 120.0) -> JobResult:
        """The result of the oldest job in flight (the GIL is free while waiting)."""
        if not self.in_flight:
            raise RuntimeError("no job in flight")
        reply = self._receive(timeout_s)
        self.in_flight -= 1
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
        self.in_flight = 0


# ---------------------------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------------------------
def _child_main(config: ComputeConfig, conn) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent node ends this child (stop()
    # or pipe closed), so the child ignores SIGINT instead of dying mid-job with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    try:
        pipeline = _Pipeline(config)
        conn.send(pipeline.ready)
    except Exception as exc:  # missing/corrupt files, engine errors: tell the parent why
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    # Two stages: this thread refines job n while the reader thread already detects job n + 1
    # (the node keeps up to its pipeline_depth jobs in flight). Results go back in order.
    detected: queue.Queue = queue.Queue(maxsize=1)
    threading.Thread(
        target=_detect_stage, args=(pipeline, conn, detected), name="detect_stage", daemon=True
    ).start()
    while True:
        item = detected.get()
        if item is None:
            return
        job, found = item
        try:
            if isinstance(found, str):
                raise RuntimeError(found)
            result = pipeline.finish(job, found)
        except Exception as exc:  # one bad job must not end the process
            result = JobResult(error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
        try:
            conn.send(result)
        except (OSError, BrokenPipeError):
            return


def _detect_stage(pipeline: _Pipeline, conn, detected: queue.Queue) -> None:
    """Reader thread of the child: receive jobs, run their 2D detection, hand them on in order
    (None at the end: the parent's stop() or a closed pipe)."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            job = None
        if job is None:
            detected.put(None)
            return
        try:
            found = pipeline.detect(job)
        except Exception as exc:  # reported as this job's error by the refining stage
            found = f"detection failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        detected.put((job, found))


class _Pipeline:
    """The public :class:`scorehmr_ros.Estimator` and one :class:`~scorehmr_ros.api.Stream`, in the child."""

    def __init__(self, config: ComputeConfig):
        import torch

        from scorehmr_ros.api import Estimator

        torch.set_num_threads(config.threads)
        self.config = config
        self.estimator = Estimator.from_pretrained(
            self._preset(config.preset),
            config.body_model_path or None,
            regressor_path=config.regressor_path or None,
            denoiser_path=config.denoiser_path or None,
            backend=config.denoiser_backend,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
            max_people=config.max_people,
            min_person_confidence=config.min_person_confidence,
            person_tile_fraction=config.person_tile_fraction or None,
            person_mask_others=config.person_mask_others,
            person_redetect_every=config.person_redetect_every,
            tile_fallback=config.tile_fallback,
            person_birth_frames=config.person_birth_frames,
            person_timeout_s=config.person_timeout_s,
            model_complexity=config.model_complexity,
            limb_model=config.limb_model,
        )
        self.multi = config.max_people > 1
        self.preset = config.preset
        self.stream = self.estimator.stream()
        self._warm_up()
        engine = self.estimator.denoiser
        self.ready = Ready(
            getattr(engine, "backend", "torch"),
            getattr(engine, "reason", "eager PyTorch"),
            np.asarray(self.estimator.models.body_model.faces),
            self.estimator.models.body_model.source,
        )

    def _warm_up(self) -> None:
        """Dummy sets (1 to 3 views, 1 and 2 sets per call) through a throwaway stream, and each
        camera's detector on a blank image."""
        from scorehmr_ros.api import Stream, View

        rng = np.random.default_rng(0)
        K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
        views = [
            View(K, keypoints=rng.uniform(200, 400, (33, 2)), confidence=np.ones(33), image_size=(640, 480),
                 camera=f"warmup{i}")
            for i in range(3)
        ]  # fmt: skip
        # Single-person stream even in multi-person mode: a new person needs several sets to be
        # born, and the per-id estimators are the same StreamingEstimator.
        stream = Stream(self.estimator, self.estimator.config)
        stream.push_many([(0, views)])
        stream.push_many([(1, views), (2, views[:1])])
        if self.config.detector == "mediapipe":
            for camera in self.config.cameras:
                self.stream.detector(camera).detect(np.zeros((64, 64, 3), dtype=np.uint8))

    @staticmethod
    def _view(job: ViewJob):
        from scorehmr_ros.api import View

        return View(
            job.K,
            job.image,
            job.keypoints,
            job.confidence,
            tuple(job.size),
            job.camera,
            job.cam_to_ref,
            job.people,
            job.reference,
            job.distortion,
        )

    def _preset(self, name: str):
        """The named preset with the node's own settings (its publication guard)."""
        from dataclasses import replace

        from scorehmr_ros.core.presets import get_preset

        preset = get_preset(name)
        if not self.config.max_body_error_rel:  # 0: publish every body, calibrated or not
            return replace(preset, max_body_error_rel=None, max_view_error_rel=None)
        return replace(preset, max_body_error_rel=self.config.max_body_error_rel)

    def run(self, job: Job) -> JobResult:
        """Detect and refine one job (both stages in this thread)."""
        return self.finish(job, self.detect(job))

    def detect(self, job: Job):
        """Stage 1: the 2D detection of the job's sets (api ``detect_many``; only the cameras'
        detectors, which every preset's stream shares)."""
        return self.stream.detect_many([(s.stamp_ns, [self._view(v) for v in s.views]) for s in job.sets])

    def finish(self, job: Job, detected) -> JobResult:
        """Stage 2: window, refinement and the bodies' records for a job :meth:`detect` handled."""
        if job.preset != self.preset:  # a new window, the cameras' detectors keep tracking
            self.preset = job.preset
            self.estimator = self.estimator.with_preset(self._preset(job.preset))
            old, self.stream = self.stream, self.estimator.stream(detectors=self.stream.detectors)
            if self.multi:  # ids survive a preset switch (new windows, same tracks)
                self.stream.tracker = old.tracker
        if job.reset:
            self.stream.reset()
        step = self.stream.push_detected(detected, vertices=job.mesh)
        bodies = step.bodies
        t0 = time.perf_counter()
        last = {b.id: i for i, b in enumerate(bodies)}  # newest body of each id
        results = [self._body_result(b, newest=last[b.id] == i, job=job) for i, b in enumerate(bodies)]
        timings = dict(step.timings_ms)
        timings["geometry"] += 1000 * (time.perf_counter() - t0)
        return JobResult(
            bodies=results,
            view_drops=step.view_drops,
            sets_without_person=step.sets_without_person,
            flips_chosen=step.flips_chosen,
            rejected_stamps=list(step.rejected_stamps),
            timings_ms=timings,
            sets_refined=step.sets_refined,
            tracked_ids=list(step.tracked_ids) if self.multi else None,
            removed_ids=list(step.removed_ids),
        )

    @staticmethod
    def _body_result(body, newest: bool, job: Job) -> BodyResult:
        """The node's record of an API body: mesh and overlays for the newest body (of each id)."""
        out = BodyResult(
            body.stamp_ns,
            body.frame,
            body.rotations,
            body.betas,
            body.transl,
            body.joints,
            body.view_errors_px,
            body.fit_quality,
            len(body.views),
            body_id=body.id,
        )
        if newest and job.mesh:
            out.vertices = body.vertices
        if newest and job.overlay:
            out.overlay_uv = {name: fit.projected for name, fit in body.views.items()}
        return out
