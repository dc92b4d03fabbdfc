"""The multi-camera node over real DDS: outputs, bad input, silent cameras, parameters, configure errors."""

import threading
import time

import numpy as np
import pytest
import rclpy
from hri_msgs.msg import IdsList
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.msg import BodyArray, Keypoints2D
from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
from scorehmr_ros.ros.messages import keypoints_to_msg
from scorehmr_ros.ros.multiview_node import BODY_ID, MultiviewNode
from scorehmr_ros.ros.parameters import parameter_overrides

pytestmark = pytest.mark.ros
CAMS = ("cam1", "cam2", "cam3")


@pytest.fixture(scope="module")
def scene():
    from scorehmr_ros.eval.heldout import heldout_scenes

    return heldout_scenes(load_body_model(), num_views=3, seed=5, frame_stride=3, max_frames=14)[1]


class Harness:
    """The node plus a test node (publishers/subscribers) spinning in a background executor."""

    def __init__(self, context, **params):
        # A deep worker queue: these tests check outputs, not throughput (drop-oldest is by design).
        values = {"detector": "topic", "overlay_rate_hz": 0.0, "mesh_rate_hz": 2.0, "partial_timeout_s": 0.3}
        values["worker_queue_size"] = 50
        values.update(params)
        from scorehmr_ros.ros.multiview_node import SPECS

        self.node = MultiviewNode(parameter_overrides(values, SPECS), context=context)
        self.io = Node("test_node_io", context=context)
        self.received = {"bodies": [], "tf": [], "tracked": [], "joints": [], "diag": []}
        self.io.create_subscription(
            BodyArray, "/scorehmr_multiview/bodies", self.received["bodies"].append, 50
        )
        self.io.create_subscription(TFMessage, "/tf", self.received["tf"].append, 100)
        self.io.create_subscription(IdsList, "/humans/bodies/tracked", self.received["tracked"].append, 50)
        self.io.create_subscription(
            JointState, f"/humans/bodies/{BODY_ID}/joint_states", self.received["joints"].append, 50
        )
        from diagnostic_msgs.msg import DiagnosticArray

        self.io.create_subscription(DiagnosticArray, "/diagnostics", self.received["diag"].append, 50)
        self.kp_pubs = {c: self.io.create_publisher(Keypoints2D, f"{c}/keypoints", 10) for c in CAMS}
        self.img_pubs = {
            c: self.io.create_publisher(Image, f"{c}/image_raw", qos_profile_sensor_data) for c in CAMS
        }
        self.info_pubs = {
            c: self.io.create_publisher(CameraInfo, f"{c}/camera_info", qos_profile_sensor_data) for c in CAMS
        }
        self.executor = MultiThreadedExecutor(num_threads=3, context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        try:
            while rclpy.ok(context=self.executor.context):
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # shutdown while spinning
            pass

    def start(self):
        assert self.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert self.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        time.sleep(0.5)  # discovery

    def camera_info(self, scene, v, stamp, k_scale=1.0):
        msg = CameraInfo()
        msg.header = Header(stamp=stamp, frame_id=f"{CAMS[v]}_optical_frame")
        w, h = (int(x) for x in scene.cameras.image_size[v])
        msg.width, msg.height = w, h
        msg.k = (scene.cameras.K[v].double().numpy() * k_scale).reshape(-1).tolist()
        return msg

    def publish_frame(self, scene, t, stamp, skip=(), mutate=None):
        for v, cam in enumerate(CAMS):
            if v in skip:
                continue
            self.info_pubs[cam].publish(self.camera_info(scene, v, stamp))
            xy = scene.keypoints2d[t, v].numpy().copy()
            conf = scene.confidence[t, v].numpy().copy()
            if mutate is not None:
                xy, conf = mutate(v, xy, conf)
            header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
            self.kp_pubs[cam].publish(keypoints_to_msg(header, "blazepose33", xy, conf, (640, 480)))

    def now(self, offset_s=0.0):
        return (self.io.get_clock().now() + rclpy.duration.Duration(seconds=offset_s)).to_msg()

    def wait(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.05)
        return predicate()

    def diag_values(self, name):
        for msg in reversed(self.received["diag"]):
            for status in msg.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def close(self):
        self.node._stop_worker()
        self.node._stop_compute()
        self.executor.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()


def test_stream_outputs_bodies_tf_and_rep155(ros_context, scene):
    # Full sets only (partial sets under load are covered by the bad-input test).
    h = Harness(ros_context, partial_timeout_s=0.0)
    try:
        h.start()
        for t in range(scene.num_frames):
            h.publish_frame(scene, t, h.now())
            time.sleep(0.15)
        assert h.wait(lambda: len(h.received["bodies"]) >= scene.num_frames - 2)
        body = h.received["bodies"][-1]
        assert body.header.frame_id == "cam1_optical_frame"
        b = body.bodies[0]
        assert b.body_id == BODY_ID and b.num_views == 3 and len(b.reprojection_error_px) == 3
        assert 0.0 < b.fit_quality <= 1.0 and max(b.reprojection_error_px) < 40.0
        frames = {t.child_frame_id for m in h.received["tf"] for t in m.transforms}
        assert f"body_{BODY_ID}" in frames and f"left_wrist_{BODY_ID}" in frames and len(frames) == 25
        assert h.received["tracked"][-1].ids == [BODY_ID]
        assert len(h.received["joints"][-1].position) == 23 * 3
        assert h.wait(lambda: "latency_p95_ms" in h.diag_values("scorehmr_multiview: pipeline"))
        stats = h.diag_values("scorehmr_multiview: pipeline")
        assert float(stats["latency_p50_ms"]) > 0 and stats["preset"] == "realtime"
    finally:
        h.close()


def test_bad_input_is_dropped_and_counted_while_other_cameras_continue(ros_context, scene):
    h = Harness(ros_context)
    try:
        h.start()

        def nan_cam2(v, xy, conf):
            if v == 1:
                xy[:5] = np.nan
                conf[5:8] = np.inf
            return xy, conf

        h.publish_frame(scene, 0, h.now(), mutate=nan_cam2)
        assert h.wait(lambda: len(h.received["bodies"]) >= 1)
        # Zero intrinsics on cam3: that view is dropped, the body still comes from cam1 + cam2.
        stamp = h.now()
        h.info_pubs["cam3"].publish(h.camera_info(scene, 2, stamp, k_scale=0.0))
        time.sleep(0.2)
        for v, cam in enumerate(CAMS):
            if v != 2:
                h.info_pubs[cam].publish(h.camera_info(scene, v, stamp))
            header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
            h.kp_pubs[cam].publish(
                keypoints_to_msg(
                    header, "blazepose33", scene.keypoints2d[1, v], scene.confidence[1, v], (640, 480)
                )
            )
        assert h.wait(lambda: len(h.received["bodies"]) >= 2)
        assert h.received["bodies"][-1].bodies[0].num_views == 2
        assert h.wait(lambda: "bad_intrinsics" in h.diag_values("scorehmr_multiview: cam3"))
        assert "nonfinite_keypoints" in h.diag_values("scorehmr_multiview: cam2")
        # Far-future and far-past stamps (a clock jump): dropped, counted.
        n = len(h.received["bodies"])
        h.publish_frame(scene, 2, h.now(3600.0))
        h.publish_frame(scene, 3, h.now(-3600.0))
        assert h.wait(lambda: int(h.diag_values("scorehmr_multiview: pipeline").get("dropped_stamp", 0)) >= 1)
        # Wrong layout on every camera: no body, node alive.
        header = Header(stamp=h.now(), frame_id="cam1_optical_frame")
        for cam in CAMS:
            h.kp_pubs[cam].publish(
                keypoints_to_msg(header, "coco17", np.zeros((17, 2)), np.ones(17), (640, 480))
            )
        time.sleep(1.0)
        # A camera going silent, then coming back: partial sets keep bodies coming.
        for t in range(4, 8):
            h.publish_frame(scene, t, h.now(), skip=(2,))
            time.sleep(0.4)
        for t in range(8, 11):
            h.publish_frame(scene, t, h.now())
            time.sleep(0.3)
        assert h.wait(lambda: len(h.received["bodies"]) >= n + 6)
        views = [m.bodies[0].num_views for m in h.received["bodies"][n:]]
        assert 2 in views and 3 in views
    finally:
        h.close()


def test_a_dead_compute_process_is_restarted(ros_context, scene):
    import os
    import signal

    h = Harness(ros_context, partial_timeout_s=0.0)
    try:
        h.start()
        h.publish_frame(scene, 0, h.now())
        assert h.wait(lambda: len(h.received["bodies"]) >= 1)
        os.kill(h.node.compute._proc.pid, signal.SIGKILL)  # e.g. the OOM killer
        deadline = time.monotonic() + 60
        t = 1
        while time.monotonic() < deadline and len(h.received["bodies"]) < 3:
            h.publish_frame(scene, t % scene.num_frames, h.now())
            t += 1
            time.sleep(0.3)
        assert len(h.received["bodies"]) >= 3
        stats = h.diag_values("scorehmr_multiview: pipeline")
        assert int(stats["compute_restarts"]) >= 1 and stats["compute_process"] == "running"
    finally:
        h.close()


def test_parameter_updates_are_validated(ros_context):
    h = Harness(ros_context)
    try:
        h.start()
        bad = h.node.set_parameters([Parameter("preset", value="fastest")])[0]
        assert not bad.successful and "preset" in bad.reason
        bad = h.node.set_parameters([Parameter("overlay_rate_hz", value=-1.0)])[0]
        assert not bad.successful
        ro = h.node.set_parameters([Parameter("cameras", value="a,b")])[0]
        assert not ro.successful
        ok = h.node.set_parameters([Parameter("preset", value="quality")])[0]
        assert ok.successful and h.node.p["preset"] == "quality"
    finally:
        h.close()


def test_configure_fails_cleanly_on_corrupt_weights(ros_context, tmp_path):
    corrupt = tmp_path / "denoiser.pt"
    corrupt.write_bytes(b"\x00" * 100)
    h = Harness(ros_context, denoiser_path=str(corrupt))
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        h2_missing = tmp_path / "missing.npz"
        assert not h2_missing.exists()
    finally:
        h.close()


def test_images_through_mediapipe_and_bad_images(ros_context):
    from scorehmr_ros.sim.sequence import load_or_build

    seq = load_or_build("humanoid3d_dance_b", num_views=3, seed=0, num_frames=6, frame_stride=4)
    h = Harness(ros_context, detector="mediapipe", overlay_rate_hz=10.0, partial_timeout_s=1.0)
    try:
        h.start()

        class _S:  # camera_info() reads cameras.K / image_size like a Scene
            cameras = type("C", (), {})()

        import torch

        _S.cameras.K, _S.cameras.image_size = torch.as_tensor(seq.K), torch.tensor([seq.image_size] * 3)
        for t in range(seq.num_frames):
            stamp = h.now()
            for v, cam in enumerate(CAMS):
                h.info_pubs[cam].publish(h.camera_info(_S, v, stamp))
                h.img_pubs[cam].publish(
                    cv2_to_imgmsg(
                        seq.images[t, v], "rgb8", Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
                    )
                )
            time.sleep(0.5)
        assert h.wait(lambda: len(h.received["bodies"]) >= 3, timeout=60)
        # Unsupported encoding, truncated data and a size mismatch on cam2: dropped and counted.
        stamp = h.now()
        for v, cam in enumerate(CAMS):
            h.info_pubs[cam].publish(h.camera_info(_S, v, stamp))
            header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
            img = cv2_to_imgmsg(seq.images[0, v], "rgb8", header)
            if v == 1:
                img.encoding = "yuv422"
            h.img_pubs[cam].publish(img)
        time.sleep(1.0)
        stamp = h.now()
        for v, cam in enumerate(CAMS):
            h.info_pubs[cam].publish(h.camera_info(_S, v, stamp))
            header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
            image = seq.images[1, v] if v != 1 else np.ascontiguousarray(seq.images[1, v][:100])
            h.img_pubs[cam].publish(cv2_to_imgmsg(image, "rgb8", header))
        assert h.wait(
            lambda: {"bad_image", "size_mismatch"} <= set(h.diag_values("scorehmr_multiview: cam2")), 30
        )
        n = len(h.received["bodies"])
        assert h.wait(lambda: len(h.received["bodies"]) > n or n >= 4, timeout=10)
    finally:
        h.close()
