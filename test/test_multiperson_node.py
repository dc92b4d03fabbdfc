"""The node with several people over real DDS (max_people > 1): REP-155 outputs per tracked id.

One uncalibrated camera publishes two people per image (Keypoints2DArray, as the detector node
does): both get ids, each id has its joint states, TF frames and a body in ~/bodies; then one
person leaves and, after person_timeout_s, the tracked list shrinks to the other id and the
leaver's markers are deleted. Every wait is on received messages or node state, not on time.

The sets are stamped 0.1 s apart whatever the machine's speed (the tracker's clock is the stamps):
stamped with the wall clock, a slow machine (~0.3 s per set) made one frame without a confident
torso outlast person_timeout_s and the staying person got a new id (a CI failure).
"""

import threading
import time
import traceback

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from hri_msgs.msg import IdsList
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.msg import BodyArray, Keypoints2DArray
from scorehmr_ros.ros.messages import keypoints_to_msg
from scorehmr_ros.ros.multiview_node import SPECS, MultiviewNode
from scorehmr_ros.ros.parameters import parameter_overrides

pytestmark = pytest.mark.ros
CAM = "cam1"
SET_PERIOD_NS = 100_000_000  # the stamps' spacing, independent of how fast the node runs
SHIFT_PX = 220.0  # the second person: the first one's keypoints this far to the right


@pytest.fixture(scope="module")
def scene():
    from scorehmr_ros.eval.heldout import heldout_scenes

    return heldout_scenes(load_body_model(), num_views=1, seed=5, frame_stride=3, max_frames=14)[1]


def wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


class Harness:
    def __init__(self, context):
        values = {
            "cameras": CAM,
            "detector": "topic",
            "max_people": 3,
            "person_birth_frames": 2,
            "person_timeout_s": 0.3,  # of stamp time: 3 sets
            # Wall time without any body before every id is dropped: far above a slow machine's set.
            "person_lost_s": 5.0,
            "max_stamp_age_s": 3600.0,  # the synthetic stamps fall behind the clock on slow machines
            "overlay_rate_hz": 0.0,
            "mesh_rate_hz": 0.0,
            "partial_timeout_s": 0.0,
            "worker_queue_size": 50,
        }
        self.node = MultiviewNode(parameter_overrides(values, SPECS), context=context)
        self.io = Node("test_multiperson_io", context=context)
        # 10 s in the past: even a fast machine (< 0.1 s per set) stays clear of max_stamp_future_s.
        self.stamp_ns = self.io.get_clock().now().nanoseconds - 10_000_000_000
        self.got = {"bodies": [], "tf": [], "tracked": [], "markers": [], "b0": [], "b1": []}
        sub = self.io.create_subscription
        sub(BodyArray, "/scorehmr_multiview/bodies", self.got["bodies"].append, 50)
        sub(TFMessage, "/tf", self.got["tf"].append, 100)
        sub(IdsList, "/humans/bodies/tracked", self.got["tracked"].append, 100)
        sub(MarkerArray, "/scorehmr_multiview/markers", self.got["markers"].append, 100)
        for body_id in ("b0", "b1"):
            sub(JointState, f"/humans/bodies/{body_id}/joint_states", self.got[body_id].append, 50)
        self.kp_pub = self.io.create_publisher(Keypoints2DArray, f"{CAM}/people", 10)
        self.info_pub = self.io.create_publisher(CameraInfo, f"{CAM}/camera_info", qos_profile_sensor_data)
        self.executor = MultiThreadedExecutor(num_threads=3, context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        try:
            while rclpy.ok(context=self.executor.context):
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # shutdown while spinning is the normal end; anything else is reported
            if rclpy.ok(context=self.executor.context):
                traceback.print_exc()  # the waits on the node then fail with this in the output

    def start(self):
        assert self.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert self.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        pubs = (self.kp_pub, self.info_pub)
        assert wait(lambda: all(p.get_subscription_count() >= 1 for p in pubs), timeout=10)

    def calls(self) -> int:
        return len(self.node.metrics._sets_per_call)

    def publish(self, scene, t, people=2):
        """One image's people (frame t of the scene, and its shifted copy); waits until the node
        has refined it (one compute call per set: its calls counter moves)."""
        xy = scene.keypoints2d[t % scene.num_frames, 0].numpy()
        conf = scene.confidence[t % scene.num_frames, 0].numpy()
        shifted = xy + np.array([SHIFT_PX, 0.0], np.float32)
        people_xy = (xy, shifted)[:people]
        before = self.calls()
        # The first set can race CameraInfo (dropped as no_camera_info): republish until it is
        # taken, with a new stamp each time (the synchroniser drops a stamp it has seen).
        for attempt in range(20):
            self.stamp_ns += SET_PERIOD_NS
            stamp = Time(sec=self.stamp_ns // 1_000_000_000, nanosec=self.stamp_ns % 1_000_000_000)
            header = Header(stamp=stamp, frame_id=f"{CAM}_optical_frame")
            info = CameraInfo(header=header, width=640, height=480)
            info.k = scene.cameras.K[0].double().numpy().reshape(-1).tolist()
            msg = Keypoints2DArray(header=header)
            msg.people = [keypoints_to_msg(header, "blazepose33", p, conf, (640, 480)) for p in people_xy]
            msg.scores = [0.9] * len(msg.people)
            self.info_pub.publish(info)
            self.kp_pub.publish(msg)
            if wait(lambda: self.calls() > before, timeout=20.0 if attempt == 0 else 5.0):
                return
        raise AssertionError("the node did not process the set")

    def close(self):
        self.node.close()
        self.executor.shutdown()
        self.node.destroy_node()
        self.io.destroy_node()


# This test once stalled in about 1 run in 8: removing an id destroyed a joint-state publisher
# whose QoS event handlers the executor was adding to its wait set (InvalidHandle out of
# spin_once; the harness swallowed it). Fixed in BodyPublishers._joint_publisher, replayed
# deterministically in test_body_publishers.py.
def test_two_ids_then_one_leaves_the_tracked_list_shrinks(ros_context, scene):
    h = Harness(ros_context)
    try:
        h.start()
        t = 0
        while not any(sorted(m.ids) == ["b0", "b1"] for m in h.got["tracked"]):
            assert t < 8, [m.ids for m in h.got["tracked"]]
            h.publish(scene, t)
            t += 1
        for _ in range(2):  # both ids published at least twice
            h.publish(scene, t)
            t += 1
        assert wait(lambda: h.got["b0"] and h.got["b1"])
        assert h.got["b0"][-1].header.frame_id == "body_b0" and h.got["b1"][-1].header.frame_id == "body_b1"
        assert wait(lambda: any(len(m.bodies) == 2 for m in h.got["bodies"]))
        two = next(m for m in h.got["bodies"] if len(m.bodies) == 2)
        assert sorted(b.body_id for b in two.bodies) == ["b0", "b1"]
        frames = {tr.child_frame_id for m in h.got["tf"] for tr in m.transforms}
        assert {"body_b0", "body_b1", "head_b0", "head_b1"} <= frames
        colours = {  # ADD markers only: a DELETE (an id removed) carries no colour
            mk.ns: (mk.color.r, mk.color.g, mk.color.b)
            for m in h.got["markers"]
            for mk in m.markers
            if mk.ns.endswith("/skeleton") and mk.action == Marker.ADD
        }
        assert colours["body_b0/skeleton"] != colours["body_b1/skeleton"]
        # The shifted person leaves; the other one stays.
        stay = next(b.body_id for b in two.bodies if b.joints[0].x < max(bb.joints[0].x for bb in two.bodies))
        leave = ({"b0", "b1"} - {stay}).pop()
        n_tracked = len(h.got["tracked"])
        for _ in range(20):
            h.publish(scene, t, people=1)
            t += 1
            if any(m.ids == [stay] for m in h.got["tracked"][n_tracked:]):
                break
        assert any(m.ids == [stay] for m in h.got["tracked"][n_tracked:]), [m.ids for m in h.got["tracked"]]
        assert wait(
            lambda: any(
                mk.action == Marker.DELETE and mk.ns.startswith(f"body_{leave}/")
                for m in h.got["markers"]
                for mk in m.markers
            )
        )
        # The leaver's joint-state publisher is gone with its id.
        assert wait(lambda: h.node.count_publishers(f"/humans/bodies/{leave}/joint_states") == 0)
        assert h.node.count_publishers(f"/humans/bodies/{stay}/joint_states") == 1
    finally:
        h.close()
