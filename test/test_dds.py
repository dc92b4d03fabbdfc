"""Real DDS between real processes: generated messages, TF types, image round trip, static TF."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.skeleton import NUM_JOINTS, SMPL_JOINT_NAMES
from scorehmr_ros.msg import Body, BodyArray, Keypoints2D
from scorehmr_ros.ros import smoke
from scorehmr_ros.ros.image_conversion import imgmsg_to_cv2
from scorehmr_ros.ros.messages import body_from_msg, keypoints_from_msg, keypoints_to_msg
from scorehmr_ros.ros.tf import STATIC_QOS, StaticTransformBroadcaster, make_transform

pytestmark = pytest.mark.ros


def _spin_until(executor, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def test_generated_messages_have_documented_fields():
    body = Body()
    assert len(body.pose) == NUM_JOINTS and len(body.joints) == NUM_JOINTS
    fields = Body.get_fields_and_field_types()
    assert fields["pose"] == "geometry_msgs/Quaternion[24]" and fields["joints"] == "geometry_msgs/Point[24]"
    assert BodyArray().bodies == []
    xy = np.arange(66, dtype=np.float32).reshape(33, 2)
    msg = keypoints_to_msg(Header(frame_id="cam"), "blazepose33", xy, np.ones(33), (640, 480))
    back_xy, conf = keypoints_from_msg(msg)
    np.testing.assert_array_equal(back_xy, xy)
    assert isinstance(msg, Keypoints2D) and conf.shape == (33,)
    msg.confidence = msg.confidence[:5]
    with pytest.raises(ValueError, match="differ in length"):
        keypoints_from_msg(msg)


def test_publisher_process_to_subscriber_process(ros_context):
    """A separate process publishes bodies, TF and images; this process checks what arrives."""
    node = Node("test_dds_listener", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    bodies, tf_msgs, static_msgs, images = [], [], [], []
    node.create_subscription(BodyArray, smoke.TOPIC_BODIES, bodies.append, 10)
    node.create_subscription(TFMessage, "/tf", tf_msgs.append, 100)
    node.create_subscription(TFMessage, "/tf_static", static_msgs.append, STATIC_QOS)
    node.create_subscription(Image, smoke.TOPIC_IMAGE, images.append, 10)
    child = subprocess.Popen(
        [sys.executable, "-m", "scorehmr_ros.ros.smoke", "publish", "--count=30", "--period=0.1"],
        env=os.environ.copy(),
    )
    try:
        done = _spin_until(
            executor,
            lambda: (
                len(bodies) >= 5
                and tf_msgs
                and static_msgs
                and {m.encoding for m in images} >= {"rgb8", "bgr8"}
            ),
        )
        types = dict(node.get_topic_names_and_types())
    finally:
        assert child.wait(timeout=30) == 0
        executor.shutdown()
        node.destroy_node()
    assert done, (
        f"received bodies={len(bodies)} tf={len(tf_msgs)} static={len(static_msgs)} images={len(images)}"
    )
    assert types["/tf"] == ["tf2_msgs/msg/TFMessage"]
    assert types["/tf_static"] == ["tf2_msgs/msg/TFMessage"]
    assert types[smoke.TOPIC_BODIES] == ["scorehmr_ros/msg/BodyArray"]

    body = body_from_msg(bodies[-1].bodies[0])
    expected = smoke.rest_pose_body()
    np.testing.assert_allclose(body.joints, expected.joints, atol=1e-6)
    np.testing.assert_allclose(body.rotations, np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-6)
    head, pelvis = SMPL_JOINT_NAMES.index("head"), SMPL_JOINT_NAMES.index("pelvis")
    assert body.joints[head, 1] - body.joints[pelvis, 1] > 0.3  # head above the pelvis (y up)

    frames = {t.child_frame_id for m in tf_msgs for t in m.transforms}
    assert frames == {f"{name}_0" for name in SMPL_JOINT_NAMES}
    assert {t.child_frame_id for t in static_msgs[-1].transforms} == {smoke.CAMERA_FRAME}

    for msg in images:
        assert (msg.width, msg.height, msg.step) == (640, 480, 640 * 3)
        index = int(msg.header.frame_id)
        got = imgmsg_to_cv2(msg, desired_encoding=msg.encoding)
        np.testing.assert_array_equal(got, smoke.test_pattern(index, msg.encoding))
        np.testing.assert_array_equal(imgmsg_to_cv2(msg, "rgb8"), smoke.test_pattern(index, "rgb8"))


def test_static_broadcaster_latches_every_transform_for_late_joiners(ros_context):
    pub_node = Node("test_static_pub", context=ros_context)
    sub_node = Node("test_static_sub", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    try:
        static = StaticTransformBroadcaster(pub_node)
        stamp = pub_node.get_clock().now().to_msg()
        static.send_transform(make_transform("world", "cam_a", stamp, (1, 0, 0)))
        static.send_transform([make_transform("world", "cam_b", stamp, (0, 2, 0))])
        static.send_transform(make_transform("world", "cam_a", stamp, (3, 0, 0)))  # replaces cam_a
        received = []
        sub_node.create_subscription(TFMessage, "/tf_static", received.append, STATIC_QOS)  # joins late
        assert _spin_until(executor, lambda: received, timeout=10)
        by_child = {t.child_frame_id: t for t in received[-1].transforms}
        assert set(by_child) == {"cam_a", "cam_b"}
        assert by_child["cam_a"].transform.translation.x == 3.0
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()


def test_smoke_command_end_to_end():
    """The README's smoke run: two processes over DDS, exit 0 and a summary."""
    out = subprocess.run(
        [sys.executable, "-m", "scorehmr_ros.ros.smoke", "--count=10", "--period=0.1"],
        capture_output=True,
        text=True,
        timeout=90,
        env=os.environ.copy(),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SMOKE OK" in out.stdout and "tf2_msgs/msg/TFMessage" in out.stdout
