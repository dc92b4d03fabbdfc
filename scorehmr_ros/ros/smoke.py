"""End-to-end DDS smoke run: two processes, real messages, a printed summary.

``scorehmr-smoke`` starts a publisher *process* that sends, over DDS, a ``BodyArray`` (the
packaged body model in its rest pose), the body's joint frames on ``/tf``, a camera frame on
``/tf_static`` and 640x480 test images (rgb8 and bgr8); this process subscribes, checks what
arrives (types, contents, image pixels after the numpy round trip) and prints a summary.
Exit code 0 only if every check passed.

Roles: ``scorehmr-smoke`` (both), ``python -m scorehmr_ros.ros.smoke publish [--count N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.skeleton import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from scorehmr_ros.msg import BodyArray
from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg, imgmsg_to_cv2
from scorehmr_ros.ros.messages import BodyEstimate, body_from_msg, body_to_msg
from scorehmr_ros.ros.tf import StaticTransformBroadcaster, TransformBroadcaster, make_transform

TOPIC_BODIES = "/scorehmr_smoke/bodies"
TOPIC_IMAGE = "/scorehmr_smoke/image"
WORLD_FRAME = "smoke_world"
CAMERA_FRAME = "smoke_camera_optical_frame"
IMAGE_SIZE = (640, 480)


def test_pattern(index: int, encoding: str) -> np.ndarray:
    """Deterministic (480, 640, 3) uint8 image for message ``index``, channel order per ``encoding``."""
    w, h = IMAGE_SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx + index) % 256, (yy * 2) % 256, (xx ^ yy) % 256], axis=-1).astype(np.uint8)
    return rgb if encoding == "rgb8" else np.ascontiguousarray(rgb[..., ::-1])


def rest_pose_body(body_id: str = "0") -> BodyEstimate:
    """The packaged body model's rest pose as a BodyEstimate (joints from the real model)."""
    import torch

    from scorehmr_ros.core.body_model import load_body_model

    model = load_body_model()
    eye = torch.eye(3).expand(1, NUM_JOINTS, 3, 3)
    with torch.no_grad():
        out = model(global_orient=eye[:, 0], body_pose=eye[:, 1:], betas=torch.zeros(1, model.num_betas))
    return BodyEstimate(
        body_id=body_id,
        rotations=eye[0].numpy(),
        betas=np.zeros(model.num_betas),
        translation=np.zeros(3),
        joints=out.joints[0, :NUM_JOINTS].numpy(),
        view_frame_ids=[CAMERA_FRAME],
        reprojection_error_px=[0.0],
        fit_quality=1.0,
        num_views=1,
    )


def joint_transforms(body: BodyEstimate, stamp) -> list:
    """One TF frame per SMPL joint ``<joint>_<id>``, parented along the kinematic tree."""
    transforms = []
    for i, name in enumerate(SMPL_JOINT_NAMES):
        parent = SMPL_PARENTS[i]
        parent_frame = WORLD_FRAME if parent < 0 else f"{SMPL_JOINT_NAMES[parent]}_{body.body_id}"
        offset = body.joints[i] - (0 if parent < 0 else body.joints[parent])
        transforms.append(make_transform(parent_frame, f"{name}_{body.body_id}", stamp, offset))
    return transforms


def run_publisher(count: int, period: float) -> int:
    rclpy.init()
    node = Node("scorehmr_smoke_publisher")
    bodies_pub = node.create_publisher(BodyArray, TOPIC_BODIES, 10)
    image_pub = node.create_publisher(Image, TOPIC_IMAGE, 10)
    tf = TransformBroadcaster(node)
    static_tf = StaticTransformBroadcaster(node)
    body = rest_pose_body()
    # Wait (bounded) until a listener has matched, so discovery time does not eat the messages.
    deadline = time.monotonic() + 15.0
    while (
        time.monotonic() < deadline and min(p.get_subscription_count() for p in (bodies_pub, image_pub)) < 1
    ):
        rclpy.spin_once(node, timeout_sec=0.05)
    static_tf.send_transform(
        make_transform(WORLD_FRAME, CAMERA_FRAME, node.get_clock().now().to_msg(), (0.0, 1.0, -3.0))
    )
    try:
        for i in range(count):
            stamp = node.get_clock().now().to_msg()
            header = Header(stamp=stamp, frame_id=WORLD_FRAME)
            bodies_pub.publish(BodyArray(header=header, bodies=[body_to_msg(body, header)]))
            tf.send_transform(joint_transforms(body, stamp))
            encoding = "rgb8" if i % 2 == 0 else "bgr8"
            image_pub.publish(
                cv2_to_imgmsg(test_pattern(i, encoding), encoding, Header(stamp=stamp, frame_id=f"{i}"))
            )
            rclpy.spin_once(node, timeout_sec=period)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


class SmokeListener(Node):
    """Collects what the publisher sends and checks it."""

    def __init__(self) -> None:
        super().__init__("scorehmr_smoke_listener")
        self.bodies: list = []
        self.tf_frames: set[str] = set()
        self.static_frames: set[str] = set()
        self.images_ok = {"rgb8": 0, "bgr8": 0}
        self.image_errors: list[str] = []
        self.create_subscription(BodyArray, TOPIC_BODIES, self.bodies.append, 10)
        self.create_subscription(TFMessage, "/tf", self._on_tf, 100)
        from scorehmr_ros.ros.tf import STATIC_QOS

        self.create_subscription(TFMessage, "/tf_static", self._on_static, STATIC_QOS)
        self.create_subscription(Image, TOPIC_IMAGE, self._on_image, 10)

    def _on_tf(self, msg: TFMessage) -> None:
        self.tf_frames.update(t.child_frame_id for t in msg.transforms)

    def _on_static(self, msg: TFMessage) -> None:
        self.static_frames.update(t.child_frame_id for t in msg.transforms)

    def _on_image(self, msg: Image) -> None:
        index = int(msg.header.frame_id)
        if (msg.width, msg.height) != IMAGE_SIZE:
            self.image_errors.append(f"image {index}: size {msg.width}x{msg.height}")
            return
        got = imgmsg_to_cv2(msg, desired_encoding="rgb8")
        if np.array_equal(got, test_pattern(index, "rgb8")):
            self.images_ok[msg.encoding] += 1
        else:
            self.image_errors.append(f"image {index} ({msg.encoding}): pixels differ after round trip")

    def complete(self, want_bodies: int) -> bool:
        return (
            len(self.bodies) >= want_bodies
            and len(self.tf_frames) >= NUM_JOINTS
            and CAMERA_FRAME in self.static_frames
            and min(self.images_ok.values()) >= 1
        )


def topic_types(node: Node) -> dict[str, list[str]]:
    return dict(node.get_topic_names_and_types())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", nargs="?", default="both", choices=["both", "publish"])
    parser.add_argument("--count", type=int, default=20, help="messages per topic")
    parser.add_argument("--period", type=float, default=0.1, help="seconds between messages")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the messages")
    args = parser.parse_args(argv)
    if args.role == "publish":
        return run_publisher(args.count, args.period)

    rclpy.init()
    listener = SmokeListener()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scorehmr_ros.ros.smoke",
            "publish",
            f"--count={args.count}",
            f"--period={args.period}",
        ],
        env=os.environ.copy(),
    )
    want = max(1, args.count // 2)
    deadline = time.monotonic() + args.timeout
    types: dict[str, list[str]] = {}
    try:
        while time.monotonic() < deadline and not listener.complete(want):
            rclpy.spin_once(listener, timeout_sec=0.1)
            types.update(topic_types(listener))
    finally:
        child_rc = child.wait(timeout=args.timeout)
        listener.destroy_node()
        rclpy.shutdown()

    ok = listener.complete(want) and not listener.image_errors and child_rc == 0
    print(f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}  publisher pid {child.pid} exit {child_rc}")
    for topic in (TOPIC_BODIES, "/tf", "/tf_static", TOPIC_IMAGE):
        print(f"  {topic:28s} {', '.join(types.get(topic, ['(not seen)']))}")
    print(f"BodyArray messages received: {len(listener.bodies)}")
    if listener.bodies:
        body = body_from_msg(listener.bodies[-1].bodies[0])
        head, pelvis = body.joints[SMPL_JOINT_NAMES.index("head")], body.joints[0]
        rise = head[1] - pelvis[1]
        print(f"  body '{body.body_id}': {len(body.joints)} joints, head {rise:.3f} m above the pelvis")
    print(f"TF frames on /tf: {len(listener.tf_frames)}; on /tf_static: {sorted(listener.static_frames)}")
    print(f"images round-tripped exactly: {listener.images_ok}; errors: {listener.image_errors or 'none'}")
    print("SMOKE OK" if ok else "SMOKE FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
