"""The multi-camera ScoreHMR node: sync → 2D keypoints → regression → windowed refinement → outputs.

Lifecycle (rclpy.lifecycle): configure starts the compute process (models, denoiser engine,
warm-up); activate creates the subscriptions; deactivate/cleanup undo them. ``scorehmr-multiview``
runs the node and drives it through configure + activate itself (there is no lifecycle manager here).

Processes and threads: subscription callbacks only cache CameraInfo and feed the approximate-time
synchroniser, whose sets go into a bounded queue (drop-oldest, counted). One dispatcher thread
takes everything queued (up to ``max_sets_per_call``), converts and validates the messages, hands
them to the compute process (ros/compute.py: detection, estimation) and publishes what comes
back. The ROS process therefore never runs the numeric work and its callbacks are not starved.
See config/multiview.yaml.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import deque

import numpy as np
import rclpy
import roma
import torch
from hri_msgs.msg import IdsList
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import SingleThreadedExecutor
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

from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.render import draw_keypoints
from scorehmr_ros.msg import BodyArray, Keypoints2D
from scorehmr_ros.ros.compute import BodyResult, ComputeConfig, ComputeProcess, Job, SetJob, ViewJob
from scorehmr_ros.ros.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from scorehmr_ros.ros.image_conversion import ImageConversionError, cv2_to_imgmsg, imgmsg_to_cv2
from scorehmr_ros.ros.messages import BodyEstimate, body_to_msg, keypoints_from_msg
from scorehmr_ros.ros.outputs import body_transforms, joint_state, mesh_marker, skeleton_marker
from scorehmr_ros.ros.parameters import (
    ParamSpec,
    cli_parameter_names,
    declare_parameters,
    get_parameter_values,
    load_yaml_parameters,
    parameter_overrides,
)
from scorehmr_ros.ros.sync import SynchronizerNodeAdapter, stamp_to_ns
from scorehmr_ros.ros.tf import STATIC_QOS, TransformBroadcaster

NODE_NAME = "scorehmr_multiview"
LAYOUT = "blazepose33"
# One tracked person (MediaPipe's legacy pose solution detects one). ROS4HRI-style id: topic
# name tokens cannot start with a digit, so /humans/bodies/b0/joint_states, TF body_b0.
BODY_ID = "b0"

SPECS = [
    ParamSpec(
        "cameras",
        "cam1,cam2,cam3",
        "Comma-separated camera namespaces (<ns>/image_raw, <ns>/camera_info)",
        read_only=True,
    ),
    ParamSpec(
        "detector",
        "mediapipe",
        "2D keypoints: 'mediapipe' in this node, or 'topic' (<ns>/<keypoints_topic>, Keypoints2D)",
        choices=("mediapipe", "topic"),
        read_only=True,
    ),
    ParamSpec(
        "keypoints_topic",
        "keypoints",
        "Keypoints2D topic name under each camera namespace (detector='topic')",
        read_only=True,
    ),
    ParamSpec(
        "preset",
        "realtime",
        "Refinement preset: 'realtime' (warm start, few DDIM steps) or 'quality' (paper-like steps)",
        choices=("realtime", "quality"),
    ),
    ParamSpec(
        "sync_queue_size",
        10,
        "Approximate-time synchroniser queue size per input",
        min_value=1,
        max_value=100,
        read_only=True,
    ),
    ParamSpec(
        "sync_slop_s",
        0.03,
        "Maximum stamp spread of a synchronised set (s)",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "partial_timeout_s",
        0.5,
        "Emit a partial set when a camera is silent this long (s); 0 disables",
        min_value=0.0,
        max_value=10.0,
        read_only=True,
    ),
    ParamSpec(
        "worker_queue_size",
        1,
        "Synchronised sets waiting for the worker (oldest dropped beyond); 1 = always the newest set",
        min_value=1,
        max_value=100,
        read_only=True,
    ),
    ParamSpec(
        "max_sets_per_call",
        1,
        "Queued sets refined together in one batched call (more throughput, more latency; "
        "needs worker_queue_size >= this)",
        min_value=1,
        max_value=32,
    ),
    ParamSpec(
        "compute_threads",
        1,
        "Torch threads in the compute process (1 is fastest for the node's small batches)",
        min_value=1,
        max_value=64,
        read_only=True,
    ),
    ParamSpec(
        "max_stamp_age_s",
        5.0,
        "Sets whose newest stamp is older than this (vs the node clock) are dropped",
        min_value=0.0,
        max_value=3600.0,
    ),
    ParamSpec(
        "max_stamp_future_s",
        1.0,
        "Sets stamped further in the future than this are dropped",
        min_value=0.0,
        max_value=3600.0,
    ),
    ParamSpec(
        "body_model_path",
        "",
        "SMPL .pkl/.npz path; empty = packaged licence-free synthetic model",
        read_only=True,
    ),
    ParamSpec("regressor_path", "", "Regressor weights; empty = packaged", read_only=True),
    ParamSpec("denoiser_path", "", "Denoiser weights; empty = packaged", read_only=True),
    ParamSpec(
        "denoiser_backend",
        "auto",
        "Denoiser engine: auto (TensorRT on CUDA, else ONNX Runtime), torch, compile, onnxruntime, tensorrt",
        choices=("auto", "torch", "compile", "onnxruntime", "tensorrt"),
        read_only=True,
    ),
    ParamSpec(
        "use_extrinsics",
        True,
        "Use camera extrinsics from /tf_static (common parent frame) when known: calibrated multi-view "
        "fusion and left/right disambiguation; otherwise the uncalibrated (paper) mode",
        read_only=True,
    ),
    ParamSpec(
        "mesh_rate_hz",
        5.0,
        "Rate of the full-mesh TRIANGLE_LIST marker (0 disables; the skeleton goes out every frame)",
        min_value=0.0,
        max_value=120.0,
    ),
    ParamSpec("publish_tf", True, "Broadcast body_<id> and <joint>_<id> frames on /tf"),
    ParamSpec(
        "overlay_rate_hz",
        2.0,
        "Rate of ~/overlay/<camera> images (0 disables)",
        min_value=0.0,
        max_value=60.0,
    ),
    ParamSpec(
        "min_detection_confidence",
        0.5,
        "MediaPipe detection threshold",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "min_tracking_confidence",
        0.5,
        "MediaPipe tracking threshold",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Period of /diagnostics messages (s)",
        min_value=0.05,
        max_value=60.0,
        read_only=True,
    ),
]


def _percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


class MultiviewNode(LifecycleNode):
    def __init__(self, parameter_overrides_list=None, **kwargs):
        super().__init__(NODE_NAME, parameter_overrides=parameter_overrides_list or [], **kwargs)
        declare_parameters(self, SPECS)
        self.p = get_parameter_values(self, SPECS)
        self.cameras = [c.strip() for c in self.p["cameras"].split(",") if c.strip()]
        if not self.cameras:
            raise ValueError("parameter 'cameras' lists no camera namespace")
        self.add_post_set_parameters_callback(self._on_params_changed)  # runs after validation
        self.compute: ComputeProcess | None = None
        self.backend = "not configured"
        self.faces: np.ndarray | None = None
        self.flips_chosen = 0
        self.camera_info: dict[str, CameraInfo] = {}
        self.queue: deque = deque()
        self.queue_lock = threading.Condition()
        self.stats = {
            "sets": 0,
            "dropped_queue": 0,
            "dropped_stamp": 0,
            "clock_jumps": 0,
            "published": 0,
            "no_person": 0,
            "compute_errors": 0,
            "compute_restarts": 0,
        }
        self._last_set_stamp: int | None = None
        self._reset_window = False
        self.view_drops: dict[str, dict[str, int]] = {c: {} for c in self.cameras}
        self.view_counts: dict[str, deque] = {c: deque(maxlen=300) for c in self.cameras}
        self.latencies_ms: deque = deque(maxlen=500)
        self.split_ms: dict[str, deque] = {}
        self.sets_per_call: deque = deque(maxlen=500)
        # The dispatcher thread records into the five containers above; the diagnostics timer (on the
        # executor thread) reads them once per period. This lock keeps the two from interleaving.
        self._metrics_lock = threading.Lock()
        self._sync = None
        self._info_subs = []
        self.static_tf: dict[str, tuple[str, np.ndarray]] = {}  # child frame -> (parent, 4x4 child->parent)
        self._worker: threading.Thread | None = None
        self._running = False
        self._last_overlay = 0.0
        self._last_mesh = 0.0
        self.diagnostics = DiagnosticsPublisher(self, self.p["diagnostics_period_s"], hardware_id=NODE_NAME)

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

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._start_compute()
        except RuntimeError as exc:  # missing/corrupt files, unusable backend: fail cleanly, say why
            self.get_logger().error(f"configure failed: cannot start the compute process: {exc}")
            self.diagnostics.update(f"{NODE_NAME}: models", ERROR, f"cannot load models: {exc}", {})
            return TransitionCallbackReturn.FAILURE
        self.pubs = {
            "bodies": self.create_publisher(BodyArray, "~/bodies", 10),
            "markers": self.create_publisher(MarkerArray, "~/markers", 10),
            "tracked": self.create_publisher(IdsList, "/humans/bodies/tracked", 10),
        }
        self.joint_pubs: dict = {}
        self.overlay_pubs = {c: self.create_publisher(Image, f"~/overlay/{c}", 2) for c in self.cameras}
        self.tf = TransformBroadcaster(self)
        self.get_logger().info(
            f"configured: cameras {self.cameras}, detector {self.p['detector']}, preset {self.p['preset']}, "
            f"body model {self._body_model_source or 'packaged synthetic'}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        group = MutuallyExclusiveCallbackGroup()
        for cam in self.cameras:
            self._info_subs.append(
                self.create_subscription(
                    CameraInfo,
                    f"{cam}/camera_info",
                    lambda m, c=cam: self._on_info(c, m),
                    qos_profile_sensor_data,
                )
            )
        if self.p["use_extrinsics"]:
            self._info_subs.append(
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
            accept=self._accept_stamp,
        )
        self._diag_timer = self.create_timer(self.p["diagnostics_period_s"], self._update_diagnostics)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="scorehmr_worker", daemon=True)
        self._worker.start()
        self.get_logger().info("active: waiting for synchronised camera sets")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        if getattr(self, "_diag_timer", None) is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._sync is not None:
            self._sync.destroy()
            self._sync = None
        for sub in self._info_subs:
            self.destroy_subscription(sub)
        self._info_subs = []
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._stop_compute()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_worker()
        self._stop_compute()
        return TransitionCallbackReturn.SUCCESS

    def _stop_compute(self) -> None:
        if self.compute is not None:
            self.compute.stop()
            self.compute = None

    def _stop_worker(self) -> None:
        self._running = False
        with self.queue_lock:
            self.queue_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None

    def _on_params_changed(self, params) -> None:
        """Apply accepted parameter updates (validated by the callback of declare_parameters)."""
        for prm in params:
            if prm.name == "preset" and prm.value != self.p["preset"]:
                self.get_logger().info(f"preset switched to {prm.value} (from the next set on)")
            if prm.name in self.p:
                self.p[prm.name] = prm.value

    # -- callbacks (never block) -----------------------------------------------------------------
    def _on_info(self, camera: str, msg: CameraInfo) -> None:
        self.camera_info[camera] = msg

    def _on_static_tf(self, msg) -> None:
        for t in msg.transforms:
            q, p = t.transform.rotation, t.transform.translation
            T = np.eye(4)
            T[:3, :3] = roma.unitquat_to_rotmat(
                torch.tensor([q.x, q.y, q.z, q.w], dtype=torch.float64)
            ).numpy()
            T[:3, 3] = [p.x, p.y, p.z]
            self.static_tf[t.child_frame_id] = (t.header.frame_id, T)

    def _cam_to_ref(self, camera: str) -> np.ndarray | None:
        """4x4 transform ``camera`` optical frame -> reference camera frame, if both hang off one parent."""
        ref = self.cameras[0]
        if not self.p["use_extrinsics"] or camera not in self.camera_info or ref not in self.camera_info:
            return None
        cam_entry = self.static_tf.get(self.camera_info[camera].header.frame_id)
        ref_entry = self.static_tf.get(self.camera_info[ref].header.frame_id)
        if cam_entry is None or ref_entry is None or cam_entry[0] != ref_entry[0]:
            return None
        return np.linalg.inv(ref_entry[1]) @ cam_entry[1]

    def _accept_stamp(self, index: int, msg) -> bool:
        """Keep far-future/far-past stamps out of the synchroniser; reset it when the source clock jumps."""
        stamp = stamp_to_ns(msg.header.stamp)
        now = self.get_clock().now().nanoseconds
        if stamp > now + self.p["max_stamp_future_s"] * 1e9 or stamp < now - self.p["max_stamp_age_s"] * 1e9:
            self.stats["dropped_stamp"] += 1
            self.get_logger().warning(
                f"{self.cameras[index]}: dropping message stamped {(stamp - now) / 1e9:+.2f} s from now "
                "(bad stamp or clock jump)",
                throttle_duration_sec=5.0,
            )
            return False
        if self._last_set_stamp is not None and stamp < self._last_set_stamp - int(1e9):
            self.stats["clock_jumps"] += 1
            self.get_logger().warning(
                "stamps jumped back by more than 1 s: resetting synchroniser and window"
            )
            self._sync.reset()
            self._reset_window = True
            self._last_set_stamp = None
        return True

    def _on_set(self, *messages) -> None:
        self._last_set_stamp = max(stamp_to_ns(m.header.stamp) for m in messages if m is not None)
        with self.queue_lock:
            self.stats["sets"] += 1
            if len(self.queue) >= self.p["worker_queue_size"]:
                self.queue.popleft()
                self.stats["dropped_queue"] += 1
            self.queue.append((time.monotonic(), messages))
            self.queue_lock.notify()

    # -- worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            with self.queue_lock:
                while self._running and not self.queue:
                    self.queue_lock.wait(timeout=0.2)
                if not self._running:
                    return
                batch = [
                    self.queue.popleft()[1] for _ in range(min(len(self.queue), self.p["max_sets_per_call"]))
                ]
            try:
                self._process(batch)
            except Exception as exc:  # never let one bad batch kill the worker
                self.stats["compute_errors"] += 1
                self.get_logger().error(f"processing sets failed: {exc!r}")
                self.diagnostics.update(f"{NODE_NAME}: pipeline", ERROR, f"set failed: {exc!r}", {})
                if self._running and (self.compute is None or not self.compute.alive()):
                    self._restart_compute()

    def _restart_compute(self) -> None:
        self.stats["compute_restarts"] += 1
        self.get_logger().error("compute process is gone: restarting it")
        self._stop_compute()
        try:
            self._start_compute()
        except RuntimeError as exc:
            self.get_logger().error(f"compute process restart failed: {exc}")
            time.sleep(1.0)

    def _drop_view(self, camera: str, reason: str, detail: str, dropped: bool = True) -> None:
        """Count and log (throttled) a problem with one camera's input; ``dropped``: the view is unused."""
        with self._metrics_lock:
            drops = self.view_drops[camera]
            drops[reason] = drops.get(reason, 0) + 1
        action = "dropping this view of the set" if dropped else "continuing"
        self.get_logger().warning(f"{camera}: {reason}: {detail}; {action}", throttle_duration_sec=5.0)

    def _set_job(self, messages, images: dict) -> SetJob | None:
        """Validated, converted views of one synchronised set; None when the set is dropped."""
        stamps = [stamp_to_ns(m.header.stamp) for m in messages if m is not None]
        newest = max(stamps)
        now = self.get_clock().now().nanoseconds
        if (
            newest < now - self.p["max_stamp_age_s"] * 1e9
            or newest > now + self.p["max_stamp_future_s"] * 1e9
        ):
            self.stats["dropped_stamp"] += 1
            self.get_logger().warning(
                f"dropping set stamped {(newest - now) / 1e9:+.2f} s from now (clock jump or bad stamps)",
                throttle_duration_sec=5.0,
            )
            return None
        views = []
        for cam, msg in zip(self.cameras, messages, strict=True):
            if msg is None:
                continue
            with self._metrics_lock:
                self.view_counts[cam].append(time.monotonic())
            view = self._view_job(cam, msg, images)
            if view is not None:
                views.append(view)
        if not views:
            self.stats["no_person"] += 1
            return None
        return SetJob(newest, views)

    def _process(self, batch: list) -> None:
        reset = self._reset_window
        self._reset_window = False
        t_start = time.perf_counter()
        images: dict = {}  # newest image per camera, for overlays
        sets = [j for j in (self._set_job(m, images) for m in batch) if j is not None]
        if not sets:
            return
        t_convert = time.perf_counter()
        now = time.monotonic()
        job = Job(
            sets,
            self.p["preset"],
            reset=reset,
            mesh=self.p["mesh_rate_hz"] > 0 and now - self._last_mesh >= 1.0 / self.p["mesh_rate_hz"],
            overlay=bool(images)
            and self.p["overlay_rate_hz"] > 0
            and now - self._last_overlay >= 1.0 / self.p["overlay_rate_hz"],
        )
        if self.compute is None or not self.compute.alive():
            raise RuntimeError("compute process is not running")
        result = self.compute.run(job)
        t_compute = time.perf_counter()
        if result.error:
            self.stats["compute_errors"] += 1
            self.get_logger().error(f"compute process: {result.error}", throttle_duration_sec=5.0)
        for cam, reason, detail in result.view_drops:
            self._drop_view(cam, reason, detail)
        self.stats["no_person"] += result.sets_without_person
        self.flips_chosen = result.flips_chosen
        for body in result.bodies:
            self._publish(body, images)
        t_pub = time.perf_counter()
        now_ns = self.get_clock().now().nanoseconds
        split = {
            "conversion": 1000 * (t_convert - t_start),
            "compute_roundtrip": 1000 * (t_compute - t_convert),
            "publishing": 1000 * (t_pub - t_compute),
            **result.timings_ms,
        }
        with self._metrics_lock:  # published by the diagnostics timer, not per set
            self.sets_per_call.append(result.sets_refined)
            self.latencies_ms.extend((now_ns - body.stamp_ns) / 1e6 for body in result.bodies)
            if result.bodies:
                for k, v in split.items():
                    self.split_ms.setdefault(k, deque(maxlen=500)).append(v)

    def _view_job(self, cam: str, msg, images: dict) -> ViewJob | None:
        info = self.camera_info.get(cam)
        if info is None:
            self._drop_view(cam, "no_camera_info", "no CameraInfo received yet")
            return None
        K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            self._drop_view(
                cam, "bad_intrinsics", f"CameraInfo K has zero/NaN focal lengths: {K.ravel().tolist()}"
            )
            return None
        size = (int(info.width), int(info.height))
        view = ViewJob(cam, K, size, cam_to_ref=self._cam_to_ref(cam))
        if isinstance(msg, Image):
            if (msg.width, msg.height) != size:
                self._drop_view(
                    cam, "size_mismatch", f"image {msg.width}x{msg.height} vs CameraInfo {size[0]}x{size[1]}"
                )
                return None
            try:
                view.image = imgmsg_to_cv2(msg, "rgb8")
            except ImageConversionError as exc:
                self._drop_view(cam, "bad_image", str(exc))
                return None
            images[cam] = view.image
            return view
        if msg.layout != LAYOUT:
            self._drop_view(cam, "bad_keypoints", f"layout '{msg.layout}' (expected {LAYOUT})")
            return None
        try:
            xy, conf = keypoints_from_msg(msg)
        except ValueError as exc:
            self._drop_view(cam, "bad_keypoints", str(exc))
            return None
        if len(conf) != len(get_layout(LAYOUT)):
            self._drop_view(
                cam, "bad_keypoints", f"{len(conf)} keypoints (expected {len(get_layout(LAYOUT))})"
            )
            return None
        if not (np.isfinite(xy).all() and np.isfinite(conf).all()):
            bad = int((~np.isfinite(xy).all(-1) | ~np.isfinite(conf)).sum())
            self._drop_view(
                cam, "nonfinite_keypoints", f"{bad} NaN/inf keypoints zero-weighted", dropped=False
            )
        view.keypoints, view.confidence = np.asarray(xy), np.asarray(conf)
        return view

    # -- outputs -------------------------------------------------------------------------------
    def _publish(self, body: BodyResult, images: dict) -> None:
        frame_id = (
            self.camera_info[body.frame].header.frame_id if body.frame in self.camera_info else body.frame
        )
        stamp = rclpy.time.Time(nanoseconds=body.stamp_ns).to_msg()
        header = Header(stamp=stamp, frame_id=frame_id)
        est = BodyEstimate(
            body_id=BODY_ID,
            rotations=body.rotations,
            betas=body.betas,
            translation=body.transl,
            joints=body.joints,
            view_frame_ids=[
                self.camera_info[c].header.frame_id if c in self.camera_info else c
                for c in body.view_errors_px
            ],
            reprojection_error_px=list(body.view_errors_px.values()),
            fit_quality=body.fit_quality,
            num_views=body.num_views,
        )
        self.pubs["bodies"].publish(BodyArray(header=header, bodies=[body_to_msg(est, header)]))
        self.pubs["tracked"].publish(IdsList(header=header, ids=[BODY_ID]))
        if BODY_ID not in self.joint_pubs:
            self.joint_pubs[BODY_ID] = self.create_publisher(
                JointState, f"/humans/bodies/{BODY_ID}/joint_states", 10
            )
        rotations = torch.as_tensor(body.rotations)
        self.joint_pubs[BODY_ID].publish(joint_state(BODY_ID, stamp, rotations))
        markers = MarkerArray()
        if body.vertices is not None:
            self._last_mesh = time.monotonic()
            markers.markers.append(mesh_marker(header, BODY_ID, body.vertices, self.faces))
        markers.markers.append(skeleton_marker(header, BODY_ID, body.joints))
        self.pubs["markers"].publish(markers)
        if self.p["publish_tf"]:
            self.tf.send_transform(body_transforms(BODY_ID, frame_id, stamp, rotations, body.joints))
        self.stats["published"] += 1
        self._publish_overlays(body, images)

    def _publish_overlays(self, body: BodyResult, images: dict) -> None:
        if not body.overlay_uv:
            return
        self._last_overlay = time.monotonic()
        for cam, uv in body.overlay_uv.items():
            if cam not in images:
                continue
            canvas = draw_keypoints(images[cam].copy(), uv, np.ones(len(uv)), LAYOUT)
            info = self.camera_info[cam]
            self.overlay_pubs[cam].publish(
                cv2_to_imgmsg(canvas, "rgb8", Header(stamp=info.header.stamp, frame_id=info.header.frame_id))
            )

    def _update_diagnostics(self) -> None:
        """Diagnostics timer: snapshot the dispatcher's records under the lock, then summarise."""
        now = time.monotonic()
        sync_stats = self._sync.sync.stats if self._sync is not None else None
        with self._metrics_lock:
            view_times = {c: list(self.view_counts[c]) for c in self.cameras}
            view_drops = {c: dict(self.view_drops[c]) for c in self.cameras}
            latencies = list(self.latencies_ms)
            splits = {k: list(v) for k, v in self.split_ms.items()}
            sets_per_call = list(self.sets_per_call)
        for cam in self.cameras:
            rate = sum(1 for t in view_times[cam] if now - t < 5.0) / 5.0
            drops = view_drops[cam]
            level = WARN if drops or rate == 0 else OK
            self.diagnostics.update(
                f"{NODE_NAME}: {cam}",
                level,
                "receiving" if rate else "silent",
                {"input_rate_hz": rate, **drops},
            )
        values = dict(self.stats)
        values["latency_p50_ms"] = _percentile(latencies, 50)
        values["latency_p95_ms"] = _percentile(latencies, 95)
        for k, v in splits.items():
            values[f"{k}_p50_ms"] = _percentile(v, 50)
            values[f"{k}_p95_ms"] = _percentile(v, 95)
        values["sets_per_call_mean"] = float(np.mean(sets_per_call)) if sets_per_call else 0.0
        values["preset"] = self.p["preset"]
        values["left_right_swaps_resolved"] = self.flips_chosen
        values["calibrated"] = all(self._cam_to_ref(c) is not None for c in self.cameras)
        values["denoiser_backend"] = self.backend
        values["compute_process"] = "running" if self.compute is not None and self.compute.alive() else "down"
        if sync_stats is not None:
            for key in (
                "received",
                "dropped_late",
                "dropped_queue_overflow",
                "dropped_unmatched",
                "dropped_timeout",
            ):
                values[f"sync_{key}"] = getattr(sync_stats, key)
            values["sync_full_sets"] = sync_stats.emitted_full
            values["sync_partial_sets"] = sync_stats.emitted_partial
        self.diagnostics.update(f"{NODE_NAME}: pipeline", OK, f"preset {self.p['preset']}", values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the ScoreHMR multi-camera node (configure + activate).")
    parser.add_argument(
        "--config", default=None, help="ROS 2 params YAML (default: the package's config/multiview.yaml)"
    )
    args, ros_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    from scorehmr_ros.ros.paths import package_config

    config = args.config or str(package_config("multiview.yaml"))
    values = load_yaml_parameters(config, NODE_NAME)
    for name in cli_parameter_names(ros_args):  # --ros-args -p beats the YAML
        values.pop(name, None)
    unknown = sorted(set(values) - {s.name for s in SPECS})
    if unknown:
        parser.error(f"unknown parameter(s) in {config}: {', '.join(unknown)}")
    rclpy.init(args=[sys.argv[0], *ros_args])
    node = MultiviewNode(parameter_overrides(values, SPECS))
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("configure failed; exiting")
        node.destroy_node()
        rclpy.shutdown()
        return 1
    node.trigger_activate()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except KeyboardInterrupt:
        pass
    finally:
        node._stop_worker()
        node._stop_compute()
        executor.shutdown()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
