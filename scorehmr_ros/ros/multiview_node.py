"""The multi-camera ScoreHMR node: sync -> 2D keypoints -> regression -> windowed refinement -> outputs.

Lifecycle as in ros2/demos ``lifecycle_py``: ``on_configure`` starts the compute process (models,
denoiser engine, warm-up) and creates the lifecycle publishers; ``on_activate`` creates the
subscriptions, timers and the dispatcher thread and enables the publishers; ``on_deactivate`` and
``on_cleanup`` undo exactly what their counterpart created; ``on_shutdown`` (from any state) stops
the synchroniser, timers, dispatcher and compute process. With ``autostart`` (the default of the
``scorehmr-multiview`` entry point) the node configures and activates itself; with
``autostart:=false`` it waits for a lifecycle manager (``~/change_state``; the launch file does
this with launch_ros lifecycle events).

Processes and threads: subscription callbacks cache CameraInfo and feed the approximate-time
synchroniser, whose sets go into a bounded queue (ros/dispatcher.py). One dispatcher thread
converts and validates the messages (ros/validation.py), hands them to the compute process
(ros/compute.py: detection, estimation, output geometry) and publishes what comes back
(ros/outputs.py). Parameters: ros/node_parameters.py and config/multiview.yaml; diagnostics:
ros/node_diagnostics.py. The ROS process imports no torch.

People: ``max_people`` = 1 (default) publishes one body, ``b0``, as long as one is refreshed within
``person_lost_s``. ``max_people`` > 1: the compute process runs ``api.MultiPersonStream``
(multi-person BlazePose on images, or ``<ns>/<people_topic>`` Keypoints2DArray from detector nodes;
association across calibrated views; tracked ids). Per REP-155, ``/humans/bodies/tracked`` lists
every id alive in the tracker; each id has ``/humans/bodies/<id>/joint_states`` (created with the
id, destroyed when it is removed), TF ``body_<id>`` / ``<joint>_<id>``, markers coloured per id
(deleted when it is removed), and ~/bodies carries every body of a set in one BodyArray. An id is
removed when the tracker drops it (``person_timeout_s`` unseen), or when no body at all came for
``person_timeout_s + person_lost_s`` (silent cameras).
"""

from __future__ import annotations

import argparse
import sys
import threading

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from hri_msgs.msg import IdsList
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
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehmr_ros.msg import BodyArray, Keypoints2D, Keypoints2DArray
from scorehmr_ros.ros import validation
from scorehmr_ros.ros.compute import BodyResult, ComputeConfig, ComputeProcess, Job, SetJob, ViewJob
from scorehmr_ros.ros.diagnostics import ERROR, OK, DiagnosticsPublisher
from scorehmr_ros.ros.dispatcher import Dispatcher
from scorehmr_ros.ros.image_conversion import ImageConversionError, cv2_to_imgmsg, imgmsg_to_cv2
from scorehmr_ros.ros.messages import BodyEstimate, body_to_msg, keypoints_from_msg
from scorehmr_ros.ros.node_diagnostics import NodeMetrics
from scorehmr_ros.ros.node_parameters import (
    NODE_NAME,
    SPECS,
    check_update,
    ros_arguments,
    unknown_parameters,
)
from scorehmr_ros.ros.outputs import (
    body_transforms,
    delete_all_markers,
    delete_body_markers,
    joint_state,
    serialize_markers,
)
from scorehmr_ros.ros.overlays import draw_estimate
from scorehmr_ros.ros.parameters import declare_parameters, get_parameter_values
from scorehmr_ros.ros.sync import SynchronizerNodeAdapter, stamp_to_ns
from scorehmr_ros.ros.tf import DYNAMIC_QOS, STATIC_QOS, static_transforms

__all__ = ["BODY_ID", "LAYOUT", "NODE_NAME", "SPECS", "MultiviewNode", "main"]

LAYOUT = "blazepose33"
NUM_KEYPOINTS = 33
# The id of the one body of single-person mode (max_people = 1: MediaPipe's legacy pose solution
# detects one). ROS4HRI-style ids: topic name tokens cannot start with a digit, so
# /humans/bodies/b0/joint_states, TF body_b0. Multi-person mode: the compute process's tracked
# ids b0, b1, ... (core.tracking), each with /humans/bodies/<id>/joint_states while it lives.
BODY_ID = "b0"
TRACKED_TOPIC = "/humans/bodies/tracked"


def _stamp_msg(ns: int) -> TimeMsg:
    return TimeMsg(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


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
        self.multi = self.p["max_people"] > 1
        self._id_pubs: dict[str, object] = {}  # multi-person: id -> /humans/bodies/<id>/joint_states
        self._ids_lock = threading.RLock()  # ids and their publishers: dispatcher thread vs timer
        self.add_post_set_parameters_callback(self._on_params_changed)  # runs after validation
        self.metrics = NodeMetrics(self.cameras)
        self.diagnostics = DiagnosticsPublisher(self, self.p["diagnostics_period_s"], hardware_id=NODE_NAME)
        self.compute: ComputeProcess | None = None
        self.backend = "not configured"
        self.faces: np.ndarray | None = None
        self.flips_chosen = 0
        self._body_model_source = ""
        self.pubs: dict = {}  # lifecycle publishers (configure .. cleanup)
        self._active: list = []  # subscriptions and timers (activate .. deactivate)
        self._sync: SynchronizerNodeAdapter | None = None
        self.dispatcher: Dispatcher | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.camera_info: dict[str, CameraInfo] = {}
        self.static_tf: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, 4x4 child->parent)
        self._last_set_stamp: int | None = None
        self._reset_window = False
        self._last_body_ns: int | None = None  # ROS clock time of the last published body
        self._tracked = False
        self._last_tracked_ns = 0
        self._ids: list[str] = []  # multi-person: ids alive after the last compute result
        self._last_overlay_ns = 0
        self._last_mesh_ns = 0

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
            person_birth_frames=p["person_birth_frames"],
            person_timeout_s=p["person_timeout_s"],
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

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._start_compute()
        except RuntimeError as exc:  # missing/corrupt files, unusable backend: fail cleanly, say why
            self.get_logger().error(f"configure failed: cannot start the compute process: {exc}")
            self.diagnostics.update(f"{NODE_NAME}: models", ERROR, f"cannot load models: {exc}", {})
            return TransitionCallbackReturn.FAILURE
        self.diagnostics.remove(f"{NODE_NAME}: models")
        pub = self.create_lifecycle_publisher
        self.pubs = {
            "bodies": pub(BodyArray, "~/bodies", 10),
            "markers": pub(MarkerArray, "~/markers", 10),
            "tracked": pub(IdsList, TRACKED_TOPIC, 10),
        }
        if not self.multi:  # multi-person: one joint-state publisher per live id (_joint_publisher)
            self.pubs["joints"] = pub(JointState, f"/humans/bodies/{BODY_ID}/joint_states", 10)
        self.pubs |= {
            "tf": pub(TFMessage, "/tf", DYNAMIC_QOS),
            **{f"overlay/{c}": pub(Image, f"~/overlay/{c}", 2) for c in self.cameras},
        }
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
                    lambda m, c=cam: self._on_info(c, m),
                    qos_profile_sensor_data,
                )
            )
        if self.p["use_extrinsics"]:
            self._active.append(
                self.create_subscription(TFMessage, "/tf_static", self._on_static_tf, STATIC_QOS)
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
            inputs = [(Image, f"{c}/image_raw", image_qos) for c in self.cameras]
        elif self.multi:
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
        for publisher in self.pubs.values():
            self.destroy_lifecycle_publisher(publisher)
        self.pubs = {}
        with self._ids_lock:
            for publisher in self._id_pubs.values():
                self.destroy_publisher(publisher)
            self._id_pubs = {}
        self._stop_compute()
        self._reset_state()

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._teardown_active()
        if self._tracked:
            self._lose_person()
        self._remove_ids(list(self._ids))
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

    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        self.camera_info[camera] = msg

    def _on_static_tf(self, msg: TFMessage) -> None:
        self.static_tf.update(static_transforms(msg))

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
            self._reset_window = True
            self._last_set_stamp = None
        return True

    def _on_set(self, *messages) -> None:
        self._last_set_stamp = max(stamp_to_ns(m.header.stamp) for m in messages if m is not None)
        self.metrics.count("sets")
        if self.dispatcher is not None and not self.dispatcher.put(messages):
            self.metrics.count("dropped_queue")

    def _on_tracked_timer(self) -> None:
        """REP-155: /humans/bodies/tracked at least every tracked_period_s, [] once the person is lost."""
        now = self._now_ns()
        if now - self._last_tracked_ns >= 0.9 * self.p["tracked_period_s"] * 1e9:
            self._publish_tracked(now)

    def _person_present(self, now_ns: int) -> bool:
        return self._last_body_ns is not None and now_ns - self._last_body_ns <= self.p["person_lost_s"] * 1e9

    def _publish_tracked(self, now_ns: int) -> None:
        if self.multi:
            self._publish_tracked_ids(now_ns)
            return
        present = self._person_present(now_ns)
        if self._tracked and not present:
            self._lose_person()
        self._tracked = present
        self._last_tracked_ns = now_ns
        pub = self.pubs.get("tracked")
        if pub is not None:
            pub.publish(IdsList(header=Header(stamp=_stamp_msg(now_ns)), ids=[BODY_ID] if present else []))

    def _publish_tracked_ids(self, now_ns: int) -> None:
        """Multi-person: every id alive in the tracker; all removed once no body came for
        person_timeout_s + person_lost_s (no set reaches the tracker when every camera is silent)."""
        with self._ids_lock:
            self._publish_tracked_ids_locked(now_ns)

    def _publish_tracked_ids_locked(self, now_ns: int) -> None:
        quiet_s = self.p["person_timeout_s"] + self.p["person_lost_s"]
        if self._ids and (self._last_body_ns is None or now_ns - self._last_body_ns > quiet_s * 1e9):
            self._remove_ids(list(self._ids))
        self._last_tracked_ns = now_ns
        pub = self.pubs.get("tracked")
        if pub is not None:
            pub.publish(IdsList(header=Header(stamp=_stamp_msg(now_ns)), ids=list(self._ids)))

    def _update_ids(self, tracked: list[str]) -> None:
        """Multi-person: the compute result's alive ids; ids no longer in it are removed."""
        with self._ids_lock:
            self._remove_ids([i for i in self._ids if i not in tracked])
            self._ids = list(tracked)

    def _remove_ids(self, ids: list[str]) -> None:
        """Everything of these ids goes: joint-state publisher, markers, tracked-list entry."""
        header = Header(stamp=_stamp_msg(self._now_ns()))
        with self._ids_lock:
            for body_id in ids:
                publisher = self._id_pubs.pop(body_id, None)
                if publisher is not None:
                    self.destroy_publisher(publisher)
                if "markers" in self.pubs:
                    self.pubs["markers"].publish(delete_body_markers(header, body_id))
                self.get_logger().info(f"person {body_id} removed")
            self._ids = [i for i in self._ids if i not in ids]

    def _joint_publisher(self, body_id: str):
        if body_id not in self._id_pubs:
            self._id_pubs[body_id] = self.create_publisher(
                JointState, f"/humans/bodies/{body_id}/joint_states", 10
            )
        return self._id_pubs[body_id]

    def _lose_person(self) -> None:
        self._tracked = False
        pub = self.pubs.get("markers")
        if pub is not None:
            pub.publish(delete_all_markers(Header(stamp=_stamp_msg(self._now_ns()))))

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

    def _cam_to_ref(self) -> tuple[dict[str, np.ndarray | None], str | None]:
        """Each camera's 4x4 transform into the fixed frame the calibrated cameras share on
        /tf_static, and that frame's name (None: uncalibrated). Cameras lacking extrinsics while
        others have them are absent (their views are dropped)."""
        if not self.p["use_extrinsics"]:
            return dict.fromkeys(self.cameras), None
        frames = {c: m.header.frame_id for c, m in self.camera_info.items()}
        cam_to_ref, missing, fixed = validation.calibrated_cameras(self.cameras, frames, self.static_tf)
        if not cam_to_ref:
            return dict.fromkeys(self.cameras), None  # no extrinsics at all: uncalibrated (paper) mode
        return {c: cam_to_ref.get(c) for c in self.cameras if c not in missing}, fixed

    def _set_job(self, messages, images: dict, now_ns: int) -> SetJob | None:
        """Validated, converted views of one synchronised set; None when the set is dropped."""
        newest = max(stamp_to_ns(m.header.stamp) for m in messages if m is not None)
        present = [c for c, m in zip(self.cameras, messages, strict=True) if m is not None]
        problem = validation.check_stamp(
            newest, now_ns, self.p["max_stamp_age_s"], self.p["max_stamp_future_s"]
        )
        if problem is not None:  # e.g. waited in the queue past max_stamp_age_s
            self.metrics.count("dropped_stamp")
            for cam in present:
                self._drop(cam, "stale_set", f"set {problem[1]}")
            return None
        cam_to_ref, fixed_frame = self._cam_to_ref()
        views = []
        for cam, msg in zip(self.cameras, messages, strict=True):
            if msg is None:
                continue
            if cam not in cam_to_ref:
                self._drop(
                    cam, "no_extrinsics", "frame missing from /tf_static while other cameras have extrinsics"
                )
                continue
            view = self._view_job(cam, msg, images, cam_to_ref[cam])
            if view is not None:
                view.reference = fixed_frame
                views.append(view)
        if not views:
            self.metrics.count("no_person")
            return None
        return SetJob(newest, views)

    def _people(self, cam: str, msg) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Every valid person of a Keypoints2DArray (invalid ones dropped); None: drop the view."""
        people = []
        for person in msg.people:
            try:
                xy, conf = keypoints_from_msg(person)
            except ValueError as exc:
                self._drop(cam, "bad_keypoints", str(exc), dropped=False)
                continue
            problem = validation.check_keypoints(person.layout, xy, conf, LAYOUT, NUM_KEYPOINTS)
            if problem is not None:
                self._drop(cam, *problem, dropped=False)
                continue
            bad = validation.nonfinite_keypoints(xy, conf)
            if bad:
                self._drop(cam, "nonfinite_keypoints", f"{bad} NaN/inf keypoints zero-weighted", False)
            people.append((np.asarray(xy), np.asarray(conf)))
        return people

    def _view_job(self, cam: str, msg, images: dict, cam_to_ref) -> ViewJob | None:
        info = self.camera_info.get(cam)
        if info is None:
            self._drop(cam, "no_camera_info", "no CameraInfo received yet")
            return None
        for problem in (
            validation.check_frame_id(info.header.frame_id),
            validation.check_frame_id(msg.header.frame_id),
            validation.check_intrinsics(info.k, int(info.width), int(info.height)),
        ):
            if problem is not None:
                self._drop(cam, *problem)
                return None
        size = (int(info.width), int(info.height))
        view = ViewJob(cam, np.asarray(info.k, dtype=np.float64).reshape(3, 3), size, cam_to_ref=cam_to_ref)
        if isinstance(msg, Image):
            problem = validation.check_image_size((msg.width, msg.height), size)
            if problem is not None:
                self._drop(cam, *problem)
                return None
            try:
                view.image = imgmsg_to_cv2(msg, "rgb8")
            except ImageConversionError as exc:
                self._drop(cam, "bad_image", str(exc))
                return None
            images[cam] = view.image
            return view
        if isinstance(msg, Keypoints2DArray):
            view.people = self._people(cam, msg)
            return view
        try:
            xy, conf = keypoints_from_msg(msg)
        except ValueError as exc:
            self._drop(cam, "bad_keypoints", str(exc))
            return None
        problem = validation.check_keypoints(msg.layout, xy, conf, LAYOUT, NUM_KEYPOINTS)
        if problem is not None:
            self._drop(cam, *problem)
            return None
        bad = validation.nonfinite_keypoints(xy, conf)
        if bad:
            self._drop(cam, "nonfinite_keypoints", f"{bad} NaN/inf keypoints zero-weighted", dropped=False)
        view.keypoints, view.confidence = np.asarray(xy), np.asarray(conf)
        return view

    def _due(self, last_ns: int, rate_hz: float, now_ns: int) -> bool:
        return rate_hz > 0 and now_ns - last_ns >= 1e9 / rate_hz

    def _process(self, batch: list) -> None:
        import time

        reset, self._reset_window = self._reset_window, False
        t_start = time.perf_counter()
        now_ns = self._now_ns()
        images: dict = {}  # newest image per camera, for overlays
        sets = [j for j in (self._set_job(m, images, now_ns) for m in batch) if j is not None]
        if not sets:
            self._publish_tracked(self._now_ns())
            return
        t_convert = time.perf_counter()
        job = Job(
            sets,
            self.p["preset"],
            reset=reset,
            mesh=self._due(self._last_mesh_ns, self.p["mesh_rate_hz"], now_ns),
            overlay=bool(images) and self._due(self._last_overlay_ns, self.p["overlay_rate_hz"], now_ns),
        )
        if self.compute is None or not self.compute.alive():
            raise RuntimeError("compute process is not running")
        result = self.compute.run(job)
        t_compute = time.perf_counter()
        if result.error:
            self.metrics.count("compute_errors")
            self.get_logger().error(f"compute process: {result.error}", throttle_duration_sec=5.0)
        for cam, reason, detail in result.view_drops:
            self._drop(cam, reason, detail)
        self.metrics.count("no_person", result.sets_without_person)
        self.flips_chosen = result.flips_chosen
        by_stamp: dict[int, list[BodyResult]] = {}
        for body in result.bodies:
            by_stamp.setdefault(body.stamp_ns, []).append(body)
        for bodies in by_stamp.values():
            self._publish_set(bodies, images)
        if result.tracked_ids is not None:
            self._update_ids(result.tracked_ids)
        self._publish_tracked(self._now_ns())
        t_pub = time.perf_counter()
        split = {
            "conversion": 1000 * (t_convert - t_start),
            "compute_roundtrip": 1000 * (t_compute - t_convert),
            "publishing": 1000 * (t_pub - t_compute),
            **result.timings_ms,
        }
        done_ns = self._now_ns()
        self.metrics.record_call(
            result.sets_refined,
            [(done_ns - b.stamp_ns) / 1e6 for b in result.bodies],
            split if result.bodies else None,
        )

    # -- outputs ----------------------------------------------------------------------------------
    def _frame_id(self, camera: str) -> str:
        info = self.camera_info.get(camera)
        return info.header.frame_id if info is not None else camera

    def _publish_set(self, bodies: list[BodyResult], images: dict) -> None:
        """The bodies of one stamp: one BodyArray with every body, then each body's own outputs."""
        if not self.pubs:
            return
        header = Header(stamp=_stamp_msg(bodies[0].stamp_ns), frame_id=self._frame_id(bodies[0].frame))
        msgs = [body_to_msg(self._estimate(b), Header(stamp=header.stamp, frame_id=self._frame_id(b.frame)))
                for b in bodies]  # fmt: skip
        self.pubs["bodies"].publish(BodyArray(header=header, bodies=msgs))
        for body in bodies:
            self._publish(body, images)

    def _estimate(self, body: BodyResult) -> BodyEstimate:
        return BodyEstimate(
            body_id=body.body_id,
            rotations=body.rotations,
            betas=body.betas,
            translation=body.transl,
            joints=body.joints,
            view_frame_ids=[self._frame_id(c) for c in body.view_errors_px],
            reprojection_error_px=list(body.view_errors_px.values()),
            fit_quality=body.fit_quality,
            num_views=body.num_views,
        )

    def _publish(self, body: BodyResult, images: dict) -> None:
        """One body's joint states, markers (coloured per id), TF and overlays."""
        pubs = self.pubs
        if not pubs:
            return
        frame_id = self._frame_id(body.frame)
        stamp = _stamp_msg(body.stamp_ns)
        header = Header(stamp=stamp, frame_id=frame_id)
        body_id = body.body_id
        with self._ids_lock:
            joints_pub = self._joint_publisher(body_id) if self.multi else pubs["joints"]
            joints_pub.publish(joint_state(body_id, stamp, body.rotations))
        lost_s = self.p["person_lost_s"]
        now_ns = self._now_ns()
        if body.vertices is not None:
            self._last_mesh_ns = now_ns
        mesh_rate = self.p["mesh_rate_hz"]
        lifetime = max(lost_s, 1.5 / mesh_rate) if mesh_rate > 0 else lost_s
        pubs["markers"].publish(
            serialize_markers(header, body_id, body.joints, body.vertices, self.faces, lifetime_s=lifetime)
        )
        if self.p["publish_tf"]:
            pubs["tf"].publish(
                TFMessage(transforms=body_transforms(body_id, frame_id, stamp, body.rotations, body.joints))
            )
        self.metrics.count("published")
        self._last_body_ns = now_ns
        self._publish_overlays(body, images)

    def _publish_overlays(self, body: BodyResult, images: dict) -> None:
        if not body.overlay_uv:
            return
        self._last_overlay_ns = self._now_ns()
        for cam, uv in body.overlay_uv.items():
            if cam not in images or f"overlay/{cam}" not in self.pubs:
                continue
            info = self.camera_info[cam]
            self.pubs[f"overlay/{cam}"].publish(
                cv2_to_imgmsg(
                    draw_estimate(images[cam], uv),
                    "rgb8",
                    Header(stamp=info.header.stamp, frame_id=info.header.frame_id),
                )
            )

    def _update_diagnostics(self) -> None:
        """Diagnostics timer: per-camera levels over a sliding window, pipeline summary."""
        for cam, (level, message, values) in self.metrics.camera_statuses().items():
            self.diagnostics.update(f"{NODE_NAME}: {cam}", level, message, values)
        values = self.metrics.pipeline_values()
        values["preset"] = self.p["preset"]
        values["left_right_swaps_resolved"] = self.flips_chosen
        cam_to_ref, fixed_frame = self._cam_to_ref()
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
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("configure failed; exiting")
                status = 1
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("activate failed; exiting")
                status = 1
        else:
            node.get_logger().info("autostart off: unconfigured, waiting for a lifecycle manager")
        if status == 0:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C / SIGTERM: a normal end
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
