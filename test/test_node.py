"""The multi-camera node over real DDS: outputs, bad input, silent cameras, parameters, configure errors."""

import threading
import time

import numpy as np
import pytest
import rclpy
import torch
from hri_msgs.msg import IdsList
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.msg import BodyArray, Keypoints2D
from scorehmr_ros.ros.diagnostics import ERROR
from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
from scorehmr_ros.ros.messages import keypoints_to_msg
from scorehmr_ros.ros.multiview_node import BODY_ID, MultiviewNode
from scorehmr_ros.ros.parameters import parameter_overrides
from scorehmr_ros.ros.sync import stamp_to_ns

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
        self.jpeg_pubs = {
            c: self.io.create_publisher(CompressedImage, f"{c}/image_raw/compressed", qos_profile_sensor_data)
            for c in CAMS
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
        # Discovery: wait until the node's subscriptions match our publishers (graph state).
        inputs = self.kp_pubs if self.node.p["detector"] == "topic" else self.img_pubs
        if self.node.p["detector"] != "topic" and self.node.p["image_transport"] == "compressed":
            inputs = self.jpeg_pubs
        pubs = [*inputs.values(), *self.info_pubs.values()]
        assert self.wait(lambda: all(p.get_subscription_count() >= 1 for p in pubs), timeout=10)

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
        self.node.close()
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
        # While bodies come the tracked list names b0 (the last message may already be [] when the
        # test thread ran late: person_lost_s after the last body; that is tested on its own below).
        tracked = [m.ids for m in h.received["tracked"]]
        assert [BODY_ID] in tracked and all(ids in ([], [BODY_ID]) for ids in tracked), tracked
        assert len(h.received["joints"][-1].position) == 23 * 3
        assert h.wait(lambda: "latency_p95_ms" in h.diag_values("scorehmr_multiview: pipeline"))
        stats = h.diag_values("scorehmr_multiview: pipeline")
        assert float(stats["latency_p50_ms"]) > 0 and stats["preset"] == "realtime"
    finally:
        h.close()


def test_pipelined_node_publishes_every_set_in_order_the_last_one_included(ros_context, scene):
    """pipeline_depth 2: a burst of sets is refined two jobs at a time; every body comes out, in
    stamp order, and the last job's result is published although no set follows it."""
    h = Harness(ros_context, partial_timeout_s=0.0, pipeline_depth=2)
    try:
        h.start()
        stamps = []
        for t in range(scene.num_frames):  # faster than the node refines: a backlog builds up
            stamps.append(h.now())
            h.publish_frame(scene, t, stamps[-1])
            time.sleep(0.03)
        assert h.wait(lambda: len(h.received["bodies"]) >= scene.num_frames), len(h.received["bodies"])
        got = [stamp_to_ns(m.header.stamp) for m in h.received["bodies"]]
        assert got == [stamp_to_ns(s) for s in stamps]
        assert not h.node._in_flight
    finally:
        h.close()


def _start_calibrated(h: Harness, scene):
    """The scene's extrinsics on /tf_static (world -> each optical frame), then start the node."""
    from scorehmr_ros.ros.replay import camera_pose_in_world
    from scorehmr_ros.ros.tf import StaticTransformBroadcaster, make_transform

    static = StaticTransformBroadcaster(h.io)
    R, t = scene.cameras.R.double().numpy(), scene.cameras.t.double().numpy()
    poses = [camera_pose_in_world(R[v], t[v]) for v in range(3)]
    stamp = h.now()
    static.send_transform(
        [make_transform("world", f"{c}_optical_frame", stamp, *poses[v]) for v, c in enumerate(CAMS)]
    )
    h.start()
    assert h.wait(lambda: len(h.node.static_tf) == 3, timeout=10)
    return static


def test_calibrated_bodies_are_in_the_fixed_frame_even_when_cam1_misses_the_first_set(ros_context, scene):
    """Extrinsics on /tf_static (world -> each optical frame): bodies come out in ``world``, never in
    a camera frame chosen by arrival order, and their joints are there (checked against the truth)."""
    h = Harness(ros_context, partial_timeout_s=0.2)
    try:
        _static = _start_calibrated(h, scene)
        n = 6
        for k in range(n):
            h.publish_frame(scene, k, h.now(), skip=(0,) if k == 0 else ())
            time.sleep(0.15)
        assert h.wait(lambda: len(h.received["bodies"]) >= n - 1)
        frames = {m.header.frame_id for m in h.received["bodies"]}
        assert frames == {"world"}, frames
        last = h.received["bodies"][-1]
        joints = np.array([[p.x, p.y, p.z] for p in last.bodies[0].joints])
        gt = scene.joints_world.numpy()[:n]
        # The newest body is one of the published frames: its pelvis lies near that frame's true pelvis.
        err = np.linalg.norm(gt[:, 0] - joints[0], axis=-1).min()
        assert err < 0.3, err
        assert h.wait(lambda: h.diag_values("scorehmr_multiview: pipeline").get("output_frame") == "world")
    finally:
        h.close()


@pytest.mark.parametrize("guard", [0.1, 0.0])
def test_a_body_its_calibrated_views_contradict_is_not_published(ros_context, scene, guard):
    """cam2 and cam3 see the person 1 m and 2 m higher than cam1 does (as if each held someone
    else): no body explains the set, so none is published; the sets are counted in the diagnostics
    and the next consistent set gives a body again. ``max_body_error_rel:=0`` publishes them."""
    # Every set here is complete: a long partial timeout keeps a camera's message delayed on a busy
    # machine from splitting a set into partial ones (a one-view partial set is not contradicted).
    h = Harness(ros_context, partial_timeout_s=5.0, max_body_error_rel=guard)
    try:
        _static = _start_calibrated(h, scene)
        cams = scene.cameras

        def lifted(t):
            def mutate(v, xy, conf):
                if v == 0:
                    return xy, conf
                X = scene.keypoints3d_world[t] + torch.tensor([0.0, float(v), 0.0])  # world: y up
                uvw = (X @ cams.R[v].T + cams.t[v]) @ cams.K[v].T
                return (uvw[:, :2] / uvw[:, 2:]).numpy(), conf

            return mutate

        n_bad = 3
        for t in range(n_bad):
            h.publish_frame(scene, t, h.now(), mutate=lifted(t))
            time.sleep(0.2)
        pipeline = "scorehmr_multiview: pipeline"
        if not guard:
            assert h.wait(lambda: len(h.received["bodies"]) == n_bad)
            assert h.wait(lambda: "bodies_rejected" in h.diag_values(pipeline))
            assert int(h.diag_values(pipeline)["bodies_rejected"]) == 0
            return
        rejected = lambda: int(h.diag_values(pipeline).get("sets_rejected", 0))  # noqa: E731
        assert h.wait(lambda: rejected() >= n_bad), h.diag_values(pipeline)
        assert rejected() == n_bad and int(h.diag_values(pipeline)["bodies_rejected"]) == n_bad, (
            h.diag_values(pipeline)
        )
        assert h.received["bodies"] == []
        h.publish_frame(scene, n_bad, h.now())
        assert h.wait(lambda: len(h.received["bodies"]) == 1)
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
        assert h.wait(lambda: int(h.diag_values("scorehmr_multiview: cam1").get("bad_stamp", 0)) >= 1)
        # Wrong layout on every camera: no body, node alive.
        header = Header(stamp=h.now(), frame_id="cam1_optical_frame")
        for cam in CAMS:
            h.kp_pubs[cam].publish(
                keypoints_to_msg(header, "coco17", np.zeros((17, 2)), np.ones(17), (640, 480))
            )
        assert h.wait(
            lambda: all("bad_keypoints" in h.diag_values(f"scorehmr_multiview: {c}") for c in CAMS), 10
        )
        assert h.node.compute.alive()
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
        wrong_type = h.node.set_parameters([Parameter("overlay_rate_hz", value="fast")])[0]
        assert not wrong_type.successful and "double" in wrong_type.reason and "str" in wrong_type.reason
        unknown = h.node.set_parameters([Parameter("overlay_rate", value=1.0)])[0]
        assert not unknown.successful and "'overlay_rate'" in unknown.reason
        zero_age = h.node.set_parameters([Parameter("max_stamp_age_s", value=0.0)])[0]
        assert not zero_age.successful and "max_stamp_age_s" in zero_age.reason
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
        # Still unconfigured, no compute process, and the reason is on /diagnostics.
        assert h.node._state_machine.current_state[1] == "unconfigured" and h.node.compute is None
        (models,) = [s for s in h.node.diagnostics.statuses() if s.name.endswith("models")]
        assert models.level == ERROR and "denoiser.pt" in models.message
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
                img.encoding = "nv21"  # not supported
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
        # cam2 healthy again: full three-view bodies resume.
        n = len(h.received["bodies"])
        for t in range(2, 5):
            stamp = h.now()
            for v, cam in enumerate(CAMS):
                h.info_pubs[cam].publish(h.camera_info(_S, v, stamp))
                header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
                h.img_pubs[cam].publish(cv2_to_imgmsg(seq.images[t, v], "rgb8", header))
            time.sleep(0.5)
        assert h.wait(lambda: len(h.received["bodies"]) > n, timeout=30)
    finally:
        h.close()


def _wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_missing_landmark_model_refuses_start_up(ros_context, monkeypatch):
    """model_complexity:=2 without the heavy model installed: the node does not start (a clear
    error at construction, not a failing compute process on the first set); with detector 'topic'
    no landmark model is needed."""
    import scorehmr_ros.core.detector as detector_module
    from scorehmr_ros.ros.multiview_node import SPECS

    monkeypatch.setattr(detector_module, "_landmark_model_path", lambda c: f"/nonexistent/model_{c}.tflite")
    values = {"detector": "mediapipe", "model_complexity": 2, "autostart": False, "overlay_rate_hz": 0.0}
    with pytest.raises(detector_module.ModelUnavailableError, match="fetch_pose_models"):
        MultiviewNode(parameter_overrides(values, SPECS), context=ros_context)
    node = MultiviewNode(parameter_overrides({**values, "detector": "topic"}, SPECS), context=ros_context)
    node.destroy_node()


def test_external_lifecycle_manager_drives_two_full_cycles(ros_context):
    """autostart off: a client drives configure/activate/deactivate/cleanup twice through
    ~/change_state; publishers and subscriptions, counted through the graph, are never duplicated."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    values = {"detector": "topic", "autostart": False, "overlay_rate_hz": 0.0}
    from scorehmr_ros.ros.multiview_node import SPECS

    node = MultiviewNode(parameter_overrides(values, SPECS), context=ros_context)
    manager = Node("test_lifecycle_manager", context=ros_context)
    executor = MultiThreadedExecutor(num_threads=2, context=ros_context)
    executor.add_node(node)
    executor.add_node(manager)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    change = manager.create_client(ChangeState, "/scorehmr_multiview/change_state")
    get_state = manager.create_client(GetState, "/scorehmr_multiview/get_state")
    try:
        assert change.wait_for_service(timeout_sec=10) and get_state.wait_for_service(timeout_sec=10)

        def transition(tid):
            future = change.call_async(ChangeState.Request(transition=Transition(id=tid)))
            assert _wait(future.done, timeout=120)
            assert future.result().success
            future = get_state.call_async(GetState.Request())
            assert _wait(future.done)
            return future.result().current_state.label

        def counts():
            return (
                manager.count_publishers("/scorehmr_multiview/bodies"),
                manager.count_publishers("/humans/bodies/tracked"),
                manager.count_subscribers("/cam1/keypoints"),
                manager.count_subscribers("/cam2/camera_info"),
            )

        assert counts() == (0, 0, 0, 0)
        for _cycle in range(2):
            assert transition(Transition.TRANSITION_CONFIGURE) == "inactive"
            assert _wait(lambda: counts() == (1, 1, 0, 0)), counts()
            assert transition(Transition.TRANSITION_ACTIVATE) == "active"
            assert _wait(lambda: counts() == (1, 1, 1, 1)), counts()
            assert node.compute.alive() and node.dispatcher.running
            assert transition(Transition.TRANSITION_DEACTIVATE) == "inactive"
            assert _wait(lambda: counts() == (1, 1, 0, 0)), counts()
            assert transition(Transition.TRANSITION_CLEANUP) == "unconfigured"
            assert _wait(lambda: counts() == (0, 0, 0, 0)), counts()
            assert node.compute is None and node.dispatcher is None
        # Shutdown from active stops the synchroniser, timers, dispatcher and compute process.
        transition(Transition.TRANSITION_CONFIGURE)
        transition(Transition.TRANSITION_ACTIVATE)
        proc = node.compute._proc
        assert transition(Transition.TRANSITION_ACTIVE_SHUTDOWN) == "finalized"
        assert node._sync is None and node._active == [] and node.dispatcher is None
        assert node.compute is None and not proc.is_alive()
        assert _wait(lambda: counts() == (0, 0, 0, 0)), counts()
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        manager.destroy_node()


def test_tracked_list_empties_and_markers_are_deleted_when_the_person_leaves(ros_context, scene):
    from visualization_msgs.msg import Marker, MarkerArray

    h = Harness(ros_context, partial_timeout_s=0.0)
    markers = []
    h.io.create_subscription(MarkerArray, "/scorehmr_multiview/markers", markers.append, 50)
    try:
        h.start()
        for t in range(4):
            h.publish_frame(scene, t, h.now())
            time.sleep(0.2)
        assert h.wait(lambda: len(h.received["bodies"]) >= 3)
        assert h.wait(lambda: bool(h.received["tracked"]) and h.received["tracked"][-1].ids == [BODY_ID])
        live = [m for a in markers for m in a.markers if m.action == Marker.ADD]
        assert live and all(m.lifetime.sec + m.lifetime.nanosec / 1e9 > 0 for m in live)
        # The person leaves (no more sets): [] within 1 s of the last body, and a DELETEALL.
        last_body = time.monotonic()
        assert h.wait(lambda: h.received["tracked"][-1].ids == [], timeout=1.0)
        assert time.monotonic() - last_body <= 1.0
        assert h.wait(lambda: any(m.action == Marker.DELETEALL for a in markers for m in a.markers), 1.0)
        # And it keeps being published (on the timer) while nobody is seen.
        n = len(h.received["tracked"])
        assert h.wait(lambda: len(h.received["tracked"]) >= n + 3, timeout=2.0)
        assert all(m.ids == [] for m in h.received["tracked"][n:])
    finally:
        h.close()


def test_a_failed_autostart_transition_exits_1_unless_shutdown_was_requested(ros_context):
    """Ctrl-C during the autostart activation makes rclpy fail the transition; that is a normal
    end (exit 0), any other failure exits 1 (the race test_sigint... below hits only sometimes)."""
    import rclpy

    from scorehmr_ros.ros.multiview_node import _transition_failed

    node = rclpy.create_node("transition_probe", context=ros_context)
    try:
        assert _transition_failed(node, "activate") == 1
        ros_context.try_shutdown()  # what rclpy's SIGINT handler does
        assert _transition_failed(node, "activate") == 0
    finally:
        node.destroy_node()


def test_sigint_to_the_entry_point_exits_0_without_traceback(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "scorehmr_ros.ros.multiview_node", "--ros-args", "-p", "detector:=topic"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "active: waiting" in line:
                break
        assert any("active: waiting" in line for line in lines), "".join(lines)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + out
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out


def test_a_fisheye_rig_is_undistorted_and_an_unknown_lens_is_dropped(ros_context, scene):
    """Wide-angle cameras turned 30 degrees away from the person (who is then near an image edge)
    with an ``equidistant`` (fisheye) CameraInfo: the node undistorts the keypoints and publishes
    bodies on the truth (ignoring the lens puts them ~0.3 m off, test_distortion.py); a camera whose
    lens model it cannot undistort is dropped as ``bad_distortion`` while the others go on."""
    from scorehmr_ros.core.distortion import Distortion
    from scorehmr_ros.ros.replay import camera_pose_in_world
    from scorehmr_ros.ros.tf import StaticTransformBroadcaster, make_transform

    lens = Distortion("equidistant", (0.03, -0.01, 0.002, -0.0005))
    K = np.array([[260.0, 0.0, 320.0], [0.0, 260.0, 240.0], [0.0, 0.0, 1.0]])
    rig = []
    for v, angle in enumerate((30.0, -30.0, 30.0)):
        a = np.radians(angle)
        turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        rig.append((turn @ scene.cameras.R[v].double().numpy(), turn @ scene.cameras.t[v].double().numpy()))

    def info(v, stamp, model="equidistant"):
        msg = CameraInfo()
        msg.header = Header(stamp=stamp, frame_id=f"{CAMS[v]}_optical_frame")
        msg.width, msg.height = 640, 480
        msg.k = K.reshape(-1).tolist()
        msg.distortion_model, msg.d = model, list(lens.coefficients)
        return msg

    def publish(t, stamp, bad_cam3=False):
        X = scene.keypoints3d_world[t].double().numpy()
        for v, (R, tr) in enumerate(rig):
            uvw = (X @ R.T + tr) @ K.T
            raw = lens.distort(uvw[:, :2] / uvw[:, 2:], K)
            assert ((raw > 0) & (raw < (640, 480))).all()
            h.info_pubs[CAMS[v]].publish(
                info(v, stamp, "kannala_brandt" if bad_cam3 and v == 2 else "equidistant")
            )
            header = Header(stamp=stamp, frame_id=f"{CAMS[v]}_optical_frame")
            h.kp_pubs[CAMS[v]].publish(
                keypoints_to_msg(header, "blazepose33", raw, scene.confidence[t, v], (640, 480))
            )

    h = Harness(ros_context, partial_timeout_s=1.0)  # full sets even on a loaded machine
    try:
        static = StaticTransformBroadcaster(h.io)
        stamp = h.now()
        static.send_transform(
            [
                make_transform("world", f"{c}_optical_frame", stamp, *camera_pose_in_world(*rig[v]))
                for v, c in enumerate(CAMS)
            ]
        )
        h.start()
        assert h.wait(lambda: len(h.node.static_tf) == 3, timeout=10)
        frame_of = {}
        for t in range(4):
            stamp = h.now()
            frame_of[(stamp.sec, stamp.nanosec)] = t
            publish(t, stamp, bad_cam3=t == 3)
            time.sleep(0.2)
        assert h.wait(lambda: len(h.received["bodies"]) >= 4)
        for msg in h.received["bodies"]:
            t = frame_of[(msg.header.stamp.sec, msg.header.stamp.nanosec)]
            body = msg.bodies[0]
            joints = np.array([[p.x, p.y, p.z] for p in body.joints])
            err = np.linalg.norm(joints - scene.joints_world[t].numpy(), axis=-1).mean()
            assert msg.header.frame_id == "world" and err < 0.12, (t, err)
            assert body.num_views == (2 if t == 3 else 3)
        assert h.wait(lambda: "bad_distortion" in h.diag_values("scorehmr_multiview: cam3"))
    finally:
        h.close()


def test_compressed_images_from_a_bag_layout(ros_context):
    """``image_transport:=compressed``: JPEG ``CompressedImage`` on ``<cam>/image_raw/compressed``
    (how robots record bags) go through MediaPipe to bodies; a JPEG that does not decode on cam2
    is dropped as ``bad_image`` and the set goes on with the other two views."""
    import array

    import cv2

    from scorehmr_ros.sim.sequence import load_or_build

    seq = load_or_build("humanoid3d_dance_b", num_views=3, seed=0, num_frames=6, frame_stride=4)

    class _S:  # camera_info() reads cameras.K / image_size like a Scene
        cameras = type("C", (), {})()

    _S.cameras.K, _S.cameras.image_size = torch.as_tensor(seq.K), torch.tensor([seq.image_size] * 3)

    def jpeg(t, v, stamp, broken=False):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(seq.images[t, v][..., ::-1]))
        assert ok
        msg = CompressedImage(format="rgb8; jpeg compressed bgr8")
        msg.header = Header(stamp=stamp, frame_id=f"{CAMS[v]}_optical_frame")
        msg.data = array.array("B", buf.tobytes()[: 100 if broken else None])
        return msg

    h = Harness(ros_context, detector="mediapipe", image_transport="compressed", partial_timeout_s=1.0)
    try:
        h.start()
        for t in range(4):
            stamp = h.now()
            for v, cam in enumerate(CAMS):
                h.info_pubs[cam].publish(h.camera_info(_S, v, stamp))
                h.jpeg_pubs[cam].publish(jpeg(t, v, stamp, broken=t == 3 and v == 1))
            time.sleep(0.5)
        assert h.wait(lambda: len(h.received["bodies"]) >= 3, timeout=60)
        assert h.wait(lambda: "bad_image" in h.diag_values("scorehmr_multiview: cam2"), timeout=30)
        views = [m.bodies[0].num_views for m in h.received["bodies"]]
        assert 3 in views
    finally:
        h.close()
