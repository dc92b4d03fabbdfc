"""The multi-camera ScoreHMR node: sync -> 2D keypoints -> regression -> windowed refinement -> outputs.

Lifecycle as in ros2/demos ``lifecycle_py``: ``on_configure`` starts the compute process (models,
denoiser engine, warm-up) and creates the lifecycle publishers; ``on_activate`` creates the
subscriptions, timers and the dispatcher thread and enables the publishers; ``on_deactivate`` and
``on_cleanup`` undo exactly what their counterpart created; ``on_shutdown`` (from any state) stops
the synchroniser, timers, dispatcher and compute process. With ``autostart`` (the default of the
``scorehmr-multiview`` entry point) the node configures and activates itself; with
``autostart:=false`` it waits for a lifecycle manager (``~/change_state``; the launch file does
this with launch_ros lifecycle events).

Processes and threads: subscription callbacks cache CameraInfo and extrinsics and feed the
approximate-time synchroniser (ros/sync.py), whose sets go into a bounded queue
(ros/dispatcher.py). One dispatcher thread turns each set into a validated job
(ros/set_conversion.py, checks in ros/validation.py), hands it to the compute process
(ros/compute.py: detection, estimation, output geometry as numpy) and publishes what comes back
(ros/body_publishers.py, messages from ros/outputs.py); with ``pipeline_depth`` 2 (default 1) it
submits the next set before the previous result is back, so the compute process detects one set
while it refines the one before. Parameters: ros/node_parameters.py and
config/multiview.yaml; diagnostics: ros/node_diagnostics.py. The ROS process imports no torch.

People: ``max_people`` = 1 (default) publishes one body, ``b0``; ``max_people`` > 1: the compute
process runs ``api.MultiPersonStream`` (multi-person BlazePose on images, or
``<ns>/<people_topic>`` Keypoints2DArray from detector nodes; association across calibrated
views; tracked ids). REP-155 outputs per id: see ros/body_publishers.py.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.detector import check_landmark_model
from scorehmr_ros.core.limb_model import check_limb_model
from scorehmr_ros.msg import Keypoints2D, Keypoints2DArray
from scorehmr_ros.ros import validation
from scorehmr_ros.ros.body_publishers import BODY_ID, TRACKED_TOPIC, BodyPublishers, due
from scorehmr_ros.ros.compute import BodyResult, ComputeConfig, ComputeProcess, Job
from scorehmr_ros.ros.diagnostics import ERROR, OK, DiagnosticsPublisher
from scorehmr_ros.ros.dispatcher import Dispatcher
from scorehmr_ros.ros.node_diagnostics import NodeMetrics
from scorehmr_ros.ros.node_parameters import (
    NODE_NAME,
    SPECS,
    check_update,
    ros_arguments,
    unknown_parameters,
)
from scorehmr_ros.ros.parameters import declare_parameters, get_parameter_values
from scorehmr_ros.ros.set_conversion import LAYOUT, SetConverter
from scorehmr_ros.ros.sync import SynchronizerNodeAdapter, stamp_to_ns
from scorehmr_ros.ros.tf import STATIC_QOS

__all__ = ["BODY_ID", "LAYOUT", "NODE_NAME", "SPECS", "TRACKED_TOPIC", "MultiviewNode", "main"]

RESULT_POLL_S = 0.005  # while the pipeline has room: how often to look for a queued set
COMPUTE_TIMEOUT_S = 120.0  # a job not answered by then: the compute process is restarted


@dataclass
class _InFlight:
    """A job in the compute process: its set's newest images (overlays), when it was submitted
    (perf_counter s) and how long converting its messages took."""

    images: dict
    submitted: float
    conversion_ms: float


class MultiviewNode(LifecycleNode):
    def __init__(self, parameter_overrides_list=None, **kwargs):
        super().__init__(NODE_NAME, parameter_overrides=parameter_overrides_list or [], **kwargs)
        declare_parameters(self, SPECS)
        unknown = unknown_parameters(getattr(self, "_parameter_overrides", {}))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) for {NODE_NAME}: {', '.join(unknown)} "
                f"(declared: {', '.join(s.name for s in SPECS)})"
            )
        self.p = get_parameter_values(self, SPECS)
        self.cameras = [c.strip() for c in self.p["cameras"].split(",") if c.strip()]
        if not self.cameras:
            raise ValueError("parameter 'cameras' lists no camera namespace")
        if self.p["detector"] == "mediapipe":
            check_landmark_model(self.p["model_complexity"])  # fail at start-up, not in compute
            check_limb_model(self.p["limb_model"], self.p["max_people"])
        self.add_post_set_parameters_callback(self._on_params_changed)  # runs after validation
        self.metrics = NodeMetrics(self.cameras)
        self.diagnostics = DiagnosticsPublisher(self, self.p["diagnostics_period_s"], hardware_id=NODE_NAME)
        self.inputs = SetConverter(self.cameras, self.p, self.metrics, self._drop, self._warn)
        self.outputs: BodyPublishers | None = None  # configure .. cleanup
        self.compute: ComputeProcess | None = None
        self.backend = "not configured"
        self.faces: np.ndarray | None = None
        self.flips_chosen = 0
        self._body_model_source = ""
        self._active: list = []  # subscriptions and timers (activate .. deactivate)
        self._sync: SynchronizerNodeAdapter | None = None
        self.dispatcher: Dispatcher | None = None
        self._in_flight: deque[_InFlight] = deque()  # jobs submitted to the compute process, oldest first
        self._window_lock = threading.Lock()  # _reset_window: executor thread sets, dispatcher takes
        self._reset_state()

    def _reset_state(self) -> None:
        self.inputs.reset()
        self._last_set_stamp: int | None = None
        with self._window_lock:
            self._reset_window = False

    @property
    def static_tf(self) -> dict[str, tuple[str, np.ndarray]]:
        """Extrinsics received on /tf_static: child frame -> (parent, 4x4 child->parent)."""
        return self.inputs.static_tf

    # -- parameters ----------------------------------------------------------------------------
    def set_parameters_atomically(self, parameter_list):
        bad = check_update(parameter_list, [p.name for p in parameter_list if self.has_parameter(p.name)])
        return bad if bad is not None else super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list):
        return [self.set_parameters_atomically([p]) for p in parameter_list]

    def _on_params_changed(self, params) -> None:
        """Apply accepted parameter updates (validated by the callback of declare_parameters)."""
        for prm in params:
            if prm.name == "preset" and prm.value != self.p["preset"]:
                self.get_logger().info(f"preset switched to {prm.value} (from the next set on)")
            if prm.name in self.p:
                self.p[prm.name] = prm.value

    # -- lifecycle ------------------------------------------------------------------------------
    def _compute_config(self) -> ComputeConfig:
        p = self.p
        return ComputeConfig(
            cameras=tuple(self.cameras),
            detector=p["detector"],
            preset=p["preset"],
            body_model_path=p["body_model_path"],
            regressor_path=p["regressor_path"],
            denoiser_path=p["denoiser_path"],
            denoiser_backend=p["denoiser_backend"],
            min_detection_confidence=p["min_detection_confidence"],
            min_tracking_confidence=p["min_tracking_confidence"],
            threads=p["compute_threads"],
            max_people=p["max_people"],
            min_person_confidence=p["min_person_confidence"],
            person_tile_fraction=p["person_tile_fraction"],
            person_mask_others=p["person_mask_others"],
            person_redetect_every=p["person_redetect_every"],
            tile_fallback=p["tile_fallback"],
            model_complexity=p["model_complexity"],
            limb_model=p["limb_model"],
            person_birth_frames=p["person_birth_frames"],
            person_timeout_s=p["person_timeout_s"],
            max_body_error_rel=p["max_body_error_rel"],
        )

    def _start_compute(self) -> None:
        """Spawn the compute process and wait for its warm-up; RuntimeError says why it failed."""
        self.compute = ComputeProcess(self._compute_config())
        try:
            ready = self.compute.start()
        except RuntimeError:
            self.compute = None
            raise
        self.backend, self.faces = ready.backend, ready.faces
        self.get_logger().info(f"denoiser backend: {ready.backend} ({ready.reason})")
        self._body_model_source = ready.body_model_source

    def _stop_compute(self) -> None:
        if self.compute is not None:
            self.compute.stop()
            self.compute = None
        self._in_flight.clear()  # their results went with the process

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._start_compute()
        except RuntimeError as exc:  # missing/corrupt files, unusable backend: fail cleanly, say why
            self.get_logger().error(f"configure failed: cannot start the compute process: {exc}")
            self.diagnostics.update(f"{NODE_NAME}: models", ERROR, f"cannot load models: {exc}", {})
            return TransitionCallbackReturn.FAILURE
        self.diagnostics.remove(f"{NODE_NAME}: models")
        self.outputs = BodyPublishers(
            self,
            self.cameras,
            self.p,
            self.metrics,
            frame_id=self.inputs.frame_id,
            camera_info=self.inputs.camera_info.get,
            faces=self.faces,
        )
        self.get_logger().info(
            f"configured: cameras {self.cameras}, detector {self.p['detector']}, preset {self.p['preset']}, "
            f"body model {self._body_model_source or 'packaged synthetic'}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        group = MutuallyExclusiveCallbackGroup()
        for cam in self.cameras:
            self._active.append(
                self.create_subscription(
                    CameraInfo,
                    f"{cam}/camera_info",
                    lambda m, c=cam: self.inputs.on_info(c, m),
                    qos_profile_sensor_data,
                )
            )
        if self.p["use_extrinsics"]:
            self._active.append(
                self.create_subscription(TFMessage, "/tf_static", self.inputs.on_static_tf, STATIC_QOS)
            )
        if self.p["detector"] == "mediapipe":
            # Sensor-data QoS (best effort) with a history as deep as the synchroniser's queue, so a
            # busy moment does not overwrite images before they are taken.
            image_qos = QoSProfile(
                depth=self.p["sync_queue_size"],
                history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.BEST_EFFORT,
                durability=DurabilityPolicy.VOLATILE,
            )
            if self.p["image_transport"] == "compressed":
                topic, kind = f"{self.p['image_topic']}/compressed", CompressedImage
            else:
                topic, kind = self.p["image_topic"], Image
            inputs = [(kind, f"{c}/{topic}", image_qos) for c in self.cameras]
        elif self.p["max_people"] > 1:
            inputs = [(Keypoints2DArray, f"{c}/{self.p['people_topic']}", 10) for c in self.cameras]
        else:
            inputs = [(Keypoints2D, f"{c}/{self.p['keypoints_topic']}", 10) for c in self.cameras]
        timeout = self.p["partial_timeout_s"]
        self._sync = SynchronizerNodeAdapter(
            self,
            inputs,
            self._on_set,
            queue_size=self.p["sync_queue_size"],
            slop_ns=int(self.p["sync_slop_s"] * 1e9),
            partial_timeout_ns=int(timeout * 1e9) if timeout > 0 else None,
            callback_group=group,
            accept=self._accept_message,
        )
        self._active.append(self.create_timer(self.p["diagnostics_period_s"], self._update_diagnostics))
        self._active.append(self.create_timer(self.p["tracked_period_s"], self._on_tracked_timer))
        self.dispatcher = Dispatcher(
            self._process,
            self._on_process_error,
            capacity=lambda: self.p["worker_queue_size"],
            batch_size=lambda: self.p["max_sets_per_call"],
        )
        self.dispatcher.start()
        self.get_logger().info("active: waiting for synchronised camera sets")
        return super().on_activate(state)  # enables the lifecycle publishers

    def _teardown_active(self) -> None:
        """Undo on_activate (idempotent): dispatcher, synchroniser, subscriptions, timers."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        if self._sync is not None:
            self._sync.destroy()
            self._sync = None
        for entity in self._active:
            if hasattr(entity, "timer_period_ns"):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self._active = []

    def _teardown_configured(self) -> None:
        """Undo on_configure (idempotent): publishers, compute process, cached inputs."""
        if self.outputs is not None:
            self.outputs.destroy()
            self.outputs = None
        self._stop_compute()
        self._reset_state()

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._teardown_active()
        if self.outputs is not None:
            self.outputs.forget_everyone()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._teardown_configured()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._teardown_active()
        self._teardown_configured()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self._teardown_active()
        self._teardown_configured()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Stop threads and the compute process, whatever the state (also after rclpy shut down)."""
        self._teardown_active()
        self._stop_compute()

    # -- callbacks (executor thread; never block) -------------------------------------------------
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=5.0, skip_first=False)

    def _drop(self, camera: str, reason: str, detail: str, dropped: bool = True) -> None:
        """Count on the camera's diagnostics and log (throttled per reason) a problem with its input."""
        self.metrics.drop(camera, reason)
        action = "dropping it" if dropped else "continuing"
        self.get_logger().warning(
            f"{camera}: {reason}: {detail}; {action}",
            throttle_duration_sec=5.0,
            skip_first=False,
        )

    def _accept_message(self, index: int, msg) -> bool:
        """Every input message: counted as received; far-future/far-past stamps kept out of the
        synchroniser; a source clock jumping back resets it."""
        cam = self.cameras[index]
        self.metrics.received(cam)
        stamp = stamp_to_ns(msg.header.stamp)
        problem = validation.check_stamp(
            stamp, self._now_ns(), self.p["max_stamp_age_s"], self.p["max_stamp_future_s"]
        )
        if problem is not None:
            self.metrics.count("dropped_stamp")
            self._drop(cam, *problem)
            return False
        if self._last_set_stamp is not None and stamp < self._last_set_stamp - int(1e9):
            self.metrics.count("clock_jumps")
            self.get_logger().warning(
                "stamps jumped back by more than 1 s: resetting synchroniser and window"
            )
            self._sync.reset()
            with self._window_lock:
                self._reset_window = True
            self._last_set_stamp = None
        return True

    def _on_set(self, *messages) -> None:
        self._last_set_stamp = max(stamp_to_ns(m.header.stamp) for m in messages if m is not None)
        self.metrics.count("sets")
        if self.dispatcher is not None and not self.dispatcher.put(messages):
            self.metrics.count("dropped_queue")

    def _on_tracked_timer(self) -> None:
        """REP-155: /humans/bodies/tracked at least every tracked_period_s, [] once nobody is seen."""
        outputs = self.outputs
        if outputs is not None:
            outputs.on_timer(self._now_ns())

    # -- dispatcher thread ------------------------------------------------------------------------
    def _on_process_error(self, exc: Exception) -> None:
        self.metrics.count("compute_errors")
        self.get_logger().error(f"processing sets failed: {exc!r}", throttle_duration_sec=5.0)
        self.diagnostics.update(f"{NODE_NAME}: pipeline", ERROR, f"set failed: {exc!r}", {})
        if (
            self.dispatcher is not None
            and self.dispatcher.running
            and (self.compute is None or not self.compute.alive())
        ):
            self.metrics.count("compute_restarts")
            self.get_logger().error("compute process is gone: restarting it")
            self._stop_compute()
            try:
                self._start_compute()
            except RuntimeError as err:
                self.get_logger().error(f"compute process restart failed: {err}")

    def _process(self, batch: list) -> None:
        """One dispatcher batch: convert, submit to the compute process, publish what came back.

        Up to ``pipeline_depth`` jobs are in the compute process at once: after submitting, this
        returns while fewer are in flight and the next set is already queued (its detection then
        runs beside this job's refinement); otherwise it waits for results and publishes them."""
        outputs = self.outputs
        if outputs is None:
            return
        with self._window_lock:
            reset, self._reset_window = self._reset_window, False
        t_start = time.perf_counter()
        now_ns = self._now_ns()
        images: dict = {}  # newest image per camera, for overlays
        sets = [j for j in (self.inputs.set_job(m, images, now_ns) for m in batch) if j is not None]
        if not sets:
            self._collect_results(outputs)
            outputs.publish_tracked(self._now_ns())
            return
        t_convert = time.perf_counter()
        job = Job(
            sets,
            self.p["preset"],
            reset=reset,
            mesh=due(outputs.last_mesh_ns, self.p["mesh_rate_hz"], now_ns),
            overlay=bool(images) and due(outputs.last_overlay_ns, self.p["overlay_rate_hz"], now_ns),
        )
        if self.compute is None or not self.compute.alive():
            raise RuntimeError("compute process is not running")
        self.compute.submit(job)
        self._in_flight.append(_InFlight(images, t_convert, 1000 * (t_convert - t_start)))
        self._collect_results(outputs)

    def _collect_results(self, outputs: BodyPublishers) -> None:
        """Publish the results of the jobs in flight, oldest first; return early, leaving fewer than
        ``pipeline_depth`` in flight, as soon as another set is queued."""
        while self._in_flight and self.compute is not None:
            room = len(self._in_flight) < self.p["pipeline_depth"]
            if room and self.dispatcher is not None and self.dispatcher.pending():
                return
            waited = time.perf_counter() - self._in_flight[0].submitted
            if room and waited < COMPUTE_TIMEOUT_S and not self.compute.result_ready(RESULT_POLL_S):
                continue  # look at the queue again
            result = self.compute.collect(max(COMPUTE_TIMEOUT_S - waited, 1.0))
            self._publish_result(outputs, self._in_flight.popleft(), result)

    def _publish_result(self, outputs: BodyPublishers, job: _InFlight, result) -> None:
        """Diagnostics, bodies, tracked ids and timings of one job's result."""
        images = job.images
        t_compute = time.perf_counter()
        if result.error:
            self.metrics.count("compute_errors")
            self.get_logger().error(f"compute process: {result.error}", throttle_duration_sec=5.0)
        for cam, reason, detail in result.view_drops:
            self._drop(cam, reason, detail)
        self.metrics.count("no_person", result.sets_without_person)
        if result.rejected_stamps:  # a set whose every body was rejected has no outcome otherwise
            self.metrics.count("bodies_rejected", len(result.rejected_stamps))
            published = {b.stamp_ns for b in result.bodies}
            self.metrics.count("sets_rejected", len(set(result.rejected_stamps) - published))
            self.get_logger().warning(
                f"{len(result.rejected_stamps)} body(ies) not published: the calibrated views' keypoints "
                "contradict them (reprojection error above max_body_error_rel of the person's size, "
                "or behind a camera)",
                throttle_duration_sec=5.0,
            )
        self.flips_chosen = result.flips_chosen
        by_stamp: dict[int, list[BodyResult]] = {}
        for body in result.bodies:
            by_stamp.setdefault(body.stamp_ns, []).append(body)
        for bodies in by_stamp.values():
            outputs.publish_set(bodies, images)
        if result.tracked_ids is not None:
            outputs.update_ids(result.tracked_ids)
        outputs.publish_tracked(self._now_ns())
        t_pub = time.perf_counter()
        split = {
            "conversion": job.conversion_ms,
            "compute_roundtrip": 1000 * (t_compute - job.submitted),
            "publishing": 1000 * (t_pub - t_compute),
            **result.timings_ms,
        }
        done_ns = self._now_ns()
        self.metrics.record_call(
            result.sets_refined,
            [(done_ns - b.stamp_ns) / 1e6 for b in result.bodies],
            split if result.bodies else None,
        )

    def _update_diagnostics(self) -> None:
        """Diagnostics timer: per-camera levels over a sliding window, pipeline summary."""
        for cam, (level, message, values) in self.metrics.camera_statuses().items():
            self.diagnostics.update(f"{NODE_NAME}: {cam}", level, message, values)
        values = self.metrics.pipeline_values()
        values["preset"] = self.p["preset"]
        values["left_right_swaps_resolved"] = self.flips_chosen
        cam_to_ref, fixed_frame = self.inputs.cam_to_ref()
        values["calibrated"] = bool(cam_to_ref) and all(v is not None for v in cam_to_ref.values())
        values["output_frame"] = fixed_frame or "reference camera"
        values["denoiser_backend"] = self.backend
        values["compute_process"] = "running" if self.compute is not None and self.compute.alive() else "down"
        sync = self._sync
        if sync is not None:
            stats = sync.sync.stats
            for key in (
                "received",
                "dropped_late",
                "dropped_queue_overflow",
                "dropped_unmatched",
                "dropped_timeout",
            ):
                values[f"sync_{key}"] = getattr(stats, key)
            values["sync_full_sets"] = stats.emitted_full
            values["sync_partial_sets"] = stats.emitted_partial
        self.diagnostics.update(f"{NODE_NAME}: pipeline", OK, f"preset {self.p['preset']}", values)


def create_node(argv: list[str] | None = None, context=None) -> MultiviewNode:
    """Initialise rclpy (``context``: default) from command-line ``argv`` and construct the node.

    rcl's precedence: package defaults (first params file) < ``--config`` < the user's
    ``--params-file``s < ``-p``. Raises ValueError for invalid or unknown parameters.
    """
    parser = argparse.ArgumentParser(description="Run the ScoreHMR multi-camera lifecycle node.")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="extra ROS 2 params YAML, applied over the package's config/multiview.yaml "
        "(same as --ros-args --params-file FILE)",
    )
    args, ros_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    rclpy.init(args=[sys.argv[0], *ros_arguments(ros_args, args.config)], context=context)
    try:
        return MultiviewNode(context=context)
    except Exception:
        rclpy.try_shutdown(context=context)
        raise


def _transition_failed(node, name: str) -> int:
    """Exit status after the autostart ``name`` transition did not succeed: 0 when Ctrl-C / SIGTERM
    shut the context down during it (rclpy then fails the transition: a normal end), else 1."""
    if not rclpy.ok(context=node.context):
        return 0
    node.get_logger().error(f"{name} failed; exiting")
    return 1


def main(argv: list[str] | None = None) -> int:
    try:
        node = create_node(argv)
    except ValueError as exc:
        print(f"{NODE_NAME}: {exc}", file=sys.stderr)
        return 2
    status = 0
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.p["autostart"]:
            steps = (("configure", node.trigger_configure), ("activate", node.trigger_activate))
            for name, transition in steps:
                if transition() != TransitionCallbackReturn.SUCCESS:
                    status = _transition_failed(node, name)
                    break
        else:
            node.get_logger().info("autostart off: unconfigured, waiting for a lifecycle manager")
        if status == 0:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C / SIGTERM: a normal end
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C raced spin(): rclpy's signal handler shut the context down while spin() built its
        # wait set (RCLError "the given context is not valid"). The same normal end.
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
