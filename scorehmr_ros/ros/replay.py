"""Replay a rendered multi-camera sequence as if it came from real cameras.

:class:`ReplayNode` publishes a :class:`scorehmr_ros.sim.sequence.RenderedSequence` at its native
rate (times ``rate_scale``). For every camera ``<name>`` (``cam1``, ``cam2``, ...):

* ``/<name>/image_raw``: ``sensor_msgs/Image`` (rgb8), frame id ``<name>_optical_frame``,
  sensor-data QoS;
* ``/<name>/camera_info``: ``sensor_msgs/CameraInfo`` (K, P = [K | 0], plumb_bob with zero
  distortion), same stamp and frame id as the image, sensor-data QoS.

All cameras of a frame carry the same stamp (the node clock at publish time), unless
``stamp_jitter`` > 0 offsets each camera's stamp by a uniform random amount in
``[-stamp_jitter, stamp_jitter]`` seconds (to exercise an approximate-time synchroniser).

When ``publish_extrinsics`` is true, the camera poses go on ``/tf_static`` (transient local) as
``world -> <name>_optical_frame`` (the camera in the world: rotation ``R^T``, translation
``-R^T t`` for the world -> camera extrinsics ``X_cam = R X_world + t``).

The ground truth goes on ``/scorehmr_replay/ground_truth`` as a ``scorehmr_ros/BodyArray`` with one
body per person expressed in the first camera's optical frame (``cam1_optical_frame``), stamped like
the images (without jitter): joints, SMPL pose (global orientation in cam1), betas and translation.

``people`` > 1 renders that many people side by side (:mod:`scorehmr_ros.sim.multi_sequence`; the
first performs ``clip``, the others the other held-out clips longest first, 1.2 m apart), not cached.

The sequence loops ``loops`` times (0 = forever); afterwards :attr:`ReplayNode.done` is true and
``main()`` exits. With ``wait_for_subscribers`` = N > 0 nothing is published until every image,
camera-info and ground-truth publisher has at least N matched subscribers (and then ``start_delay``
seconds more, which gives the subscribers' side of the discovery time to complete).

Command line::

    python -m scorehmr_ros.ros.replay --clip humanoid3d_dance_b --views 3 --frames 150 --loops 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import rclpy
import roma
import torch
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from scorehmr_ros.msg import BodyArray
from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
from scorehmr_ros.ros.messages import BodyEstimate, body_to_msg
from scorehmr_ros.ros.tf import StaticTransformBroadcaster, make_transform
from scorehmr_ros.sim.multi_sequence import MultiSequence, build_multi_sequence
from scorehmr_ros.sim.sequence import DEFAULT_CLIP, RenderedSequence, load_or_build

GROUND_TRUTH_TOPIC = "/scorehmr_replay/ground_truth"
WORLD_FRAME = "world"


def optical_frame(camera_name: str) -> str:
    return f"{camera_name}_optical_frame"


def camera_info_msg(K: np.ndarray, image_size: Sequence[int], header: Header) -> CameraInfo:
    """A ``CameraInfo`` for an undistorted pinhole camera (``P = [K | 0]``, ``R = I``)."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = int(image_size[0]), int(image_size[1])
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = K.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = np.concatenate([K, np.zeros((3, 1))], axis=1).ravel().tolist()
    return msg


def camera_pose_in_world(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(translation (3,), quaternion xyzw (4,))`` of a camera with world->camera extrinsics R, t."""
    R = np.asarray(R, dtype=np.float64).reshape(3, 3)
    t = np.asarray(t, dtype=np.float64).reshape(3)
    quat = roma.rotmat_to_unitquat(torch.from_numpy(R.T.copy())).numpy()
    return -R.T @ t, quat


def ground_truth_body(
    seq: RenderedSequence | MultiSequence, frame: int, view: int = 0, person: int = 0
) -> BodyEstimate:
    """The true body of ``person`` (of a MultiSequence; the one person of a RenderedSequence) at
    ``frame``, expressed in camera ``view``'s optical frame."""
    track = seq.people[person] if isinstance(seq, MultiSequence) else seq
    R, t = seq.R[view], seq.t[view]
    rotations = np.array(track.rotations[frame], dtype=np.float64, copy=True)
    rotations[0] = R @ rotations[0]
    pelvis = np.asarray(track.joints_world[frame, 0], dtype=np.float64)
    rest_pelvis = pelvis - np.asarray(track.transl[frame])  # pelvis joint = transl + rest-pose pelvis
    return BodyEstimate(
        body_id=str(person),
        rotations=rotations,
        betas=np.asarray(track.betas, dtype=np.float64),
        translation=R @ pelvis + t - rest_pelvis,
        joints=np.asarray(track.joints_world[frame]) @ R.T + t,
        view_frame_ids=[optical_frame(n) for n in seq.camera_names],
        reprojection_error_px=[0.0] * seq.num_views,
        fit_quality=1.0,
        num_views=seq.num_views,
    )


def _add_ns(stamp: Time, offset_ns: int) -> Time:
    total = stamp.sec * 1_000_000_000 + stamp.nanosec + int(offset_ns)
    total = max(total, 0)
    return Time(sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)


class ReplayNode(Node):
    """Publishes a rendered sequence as camera topics (see the module docstring).

    Args:
        sequence: the sequence to replay; ``None`` loads (or builds and caches) the one described by
            the parameters ``clip``, ``views``, ``frames``, ``frame_stride``, ``seed``,
            ``image_width``, ``image_height``, ``cache_dir``.
    Attributes:
        done: true once the requested number of loops has been published.
        frames_published: frames published so far (all loops).
    """

    def __init__(
        self, sequence: RenderedSequence | None = None, *, node_name: str = "scorehmr_replay", **kwargs
    ) -> None:
        super().__init__(node_name, **kwargs)

        def declare(name, default, description):
            return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

        clip = declare("clip", DEFAULT_CLIP, "Mocap clip to render (when no sequence is given).")
        views = declare("views", 3, "Number of cameras (when no sequence is given).")
        frames = declare(
            "frames", 0, "Number of frames to render, 0 = whole clip (when no sequence is given)."
        )
        stride = declare("frame_stride", 1, "Keep every n-th clip frame (when no sequence is given).")
        seed = declare("seed", 0, "Seed of the body shape and camera rig (when no sequence is given).")
        width = declare("image_width", 640, "Image width in pixels (when no sequence is given).")
        height = declare("image_height", 480, "Image height in pixels (when no sequence is given).")
        cache_dir = declare("cache_dir", "", "Sequence cache directory ('' = ~/.cache/scorehmr_ros).")
        self.rate_scale = float(declare("rate_scale", 1.0, "Playback speed relative to the sequence's fps."))
        self.loops = int(declare("loops", 0, "Number of times to play the sequence, 0 = forever."))
        self.publish_extrinsics = bool(
            declare("publish_extrinsics", True, "Publish camera extrinsics on /tf_static (world -> camera).")
        )
        self.stamp_jitter = float(
            declare("stamp_jitter", 0.0, "Per-camera random stamp offset, uniform in +-this many seconds.")
        )
        self.wait_for_subscribers = int(
            declare("wait_for_subscribers", 0, "Wait until every publisher has this many subscribers.")
        )
        self.start_delay = float(
            declare(
                "start_delay", 0.0, "Seconds to wait (once subscribers are ready) before the first frame."
            )
        )
        self.world_frame = str(declare("world_frame", WORLD_FRAME, "Parent frame of the camera extrinsics."))
        people = int(declare("people", 1, "People side by side (when no sequence is given; > 1 not cached)."))
        if self.rate_scale <= 0:
            raise ValueError(f"rate_scale must be > 0, got {self.rate_scale}")

        if sequence is None and people > 1:
            from scorehmr_ros.sim.multi_sequence import clips_with

            self.get_logger().info(f"rendering {people} people x {views} cameras ...")
            sequence = build_multi_sequence(
                people,
                int(views),
                int(seed),
                None if int(frames) <= 0 else int(frames),
                int(stride),
                (int(width), int(height)),
                clip_names=clips_with(clip),
                spacing=1.2,
            )
        elif sequence is None:
            sequence = load_or_build(
                clip,
                int(views),
                int(seed),
                None if int(frames) <= 0 else int(frames),
                int(stride),
                (int(width), int(height)),
                cache_dir or None,
                log=self.get_logger().info,
            )
        self.sequence = sequence
        self.frame_ids = [optical_frame(n) for n in sequence.camera_names]
        self._image_pubs = [
            self.create_publisher(Image, f"/{n}/image_raw", qos_profile_sensor_data)
            for n in sequence.camera_names
        ]
        self._info_pubs = [
            self.create_publisher(CameraInfo, f"/{n}/camera_info", qos_profile_sensor_data)
            for n in sequence.camera_names
        ]
        self._gt_pub = self.create_publisher(BodyArray, GROUND_TRUTH_TOPIC, 10)
        self._rng = np.random.default_rng(int(seed))
        self._frame = 0
        self._loop = 0
        self.frames_published = 0
        self.done = False
        self._log_every = max(1, round(sequence.fps * self.rate_scale))
        self._start_at = None  # monotonic time of the first frame, once subscribers are ready

        self._static_broadcaster = None
        if self.publish_extrinsics:
            self._static_broadcaster = StaticTransformBroadcaster(self)
            self._static_broadcaster.send_transform(self.extrinsic_transforms())

        period = 1.0 / (sequence.fps * self.rate_scale)
        self._timer = self.create_timer(period, self._on_timer)
        what = getattr(sequence, "clip_name", None) or " + ".join(p.clip_name for p in sequence.people)
        self.num_people = len(sequence.people) if isinstance(sequence, MultiSequence) else 1
        self.get_logger().info(
            f"replaying {what}: {sequence.num_frames} frames x {sequence.num_views} cameras "
            f"{sequence.image_size[0]}x{sequence.image_size[1]} at {sequence.fps * self.rate_scale:.1f} fps, "
            f"loops={self.loops or 'forever'}"
        )

    # ----------------------------------------------------------------------------------------
    def extrinsic_transforms(self):
        """``world -> <cam>_optical_frame`` transforms of every camera."""
        stamp = self.get_clock().now().to_msg()
        out = []
        for v, frame_id in enumerate(self.frame_ids):
            translation, quat = camera_pose_in_world(self.sequence.R[v], self.sequence.t[v])
            out.append(make_transform(self.world_frame, frame_id, stamp, translation, quat))
        return out

    def _subscribers_ready(self) -> bool:
        if self.wait_for_subscribers <= 0:
            return True
        pubs = [*self._image_pubs, *self._info_pubs, self._gt_pub]
        return all(p.get_subscription_count() >= self.wait_for_subscribers for p in pubs)

    def _ready(self) -> bool:
        if self._start_at is None:
            if not self._subscribers_ready():
                return False
            self._start_at = time.monotonic() + max(self.start_delay, 0.0)
        return time.monotonic() >= self._start_at

    def publish_frame(self, frame: int) -> None:
        """Publish the images, camera infos and ground truth of one frame (stamped now)."""
        seq = self.sequence
        stamp = self.get_clock().now().to_msg()
        for v, frame_id in enumerate(self.frame_ids):
            cam_stamp = stamp
            if self.stamp_jitter > 0:
                cam_stamp = _add_ns(stamp, round(self._rng.uniform(-1, 1) * self.stamp_jitter * 1e9))
            header = Header(stamp=cam_stamp, frame_id=frame_id)
            self._image_pubs[v].publish(cv2_to_imgmsg(seq.images[frame, v], "rgb8", header))
            self._info_pubs[v].publish(camera_info_msg(seq.K[v], seq.image_size, header))
        gt_header = Header(stamp=stamp, frame_id=self.frame_ids[0])
        truth = [body_to_msg(ground_truth_body(seq, frame, 0, p), gt_header) for p in range(self.num_people)]
        self._gt_pub.publish(BodyArray(header=gt_header, bodies=truth))

    def _on_timer(self) -> None:
        if self.done or not self._ready():
            return
        T = self.sequence.num_frames
        self.publish_frame(self._frame)
        self.frames_published += 1
        self._frame += 1
        if self._frame % self._log_every == 0 or self._frame == T:
            loop = f" (loop {self._loop + 1}/{self.loops or 'inf'})" if self.loops != 1 else ""
            self.get_logger().info(f"published frame {self._frame}/{T}{loop}")
        if self._frame >= T:
            self._frame = 0
            self._loop += 1
            if self.loops > 0 and self._loop >= self.loops:
                self.done = True
                self._timer.cancel()
                self.get_logger().info(f"finished: {self.frames_published} frame(s) in {self._loop} loop(s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay a rendered multi-camera sequence on ROS 2 topics.")
    parser.add_argument("--clip", default=DEFAULT_CLIP, help="mocap clip (default: %(default)s)")
    parser.add_argument("--views", type=int, default=3, help="number of cameras")
    parser.add_argument("--frames", type=int, default=0, help="number of frames (0 = whole clip)")
    parser.add_argument("--stride", type=int, default=1, help="keep every n-th frame")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--loops", type=int, default=1, help="times to play the sequence (0 = forever)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="", help="sequence cache (default ~/.cache/scorehmr_ros)")
    parser.add_argument("--jitter", type=float, default=0.0, help="per-camera stamp jitter (s)")
    parser.add_argument("--no-extrinsics", action="store_true", help="do not publish /tf_static")
    parser.add_argument("--wait-for-subscribers", type=int, default=0, help="subscribers to wait for")
    parser.add_argument("--start-delay", type=float, default=0.0, help="seconds before the first frame")
    parser.add_argument("--people", type=int, default=1, help="people side by side (> 1: not cached)")
    args, ros_args = parser.parse_known_args(argv)
    torch.set_num_threads(1)

    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=[sys.argv[0], *ros_args])
    overrides = [
        Parameter("clip", value=args.clip),
        Parameter("views", value=args.views),
        Parameter("frames", value=args.frames),
        Parameter("frame_stride", value=args.stride),
        Parameter("image_width", value=args.width),
        Parameter("image_height", value=args.height),
        Parameter("loops", value=args.loops),
        Parameter("rate_scale", value=args.rate_scale),
        Parameter("seed", value=args.seed),
        Parameter("cache_dir", value=args.cache_dir),
        Parameter("stamp_jitter", value=args.jitter),
        Parameter("publish_extrinsics", value=not args.no_extrinsics),
        Parameter("wait_for_subscribers", value=args.wait_for_subscribers),
        Parameter("start_delay", value=args.start_delay),
        Parameter("people", value=args.people),
    ]
    node = None
    executor = SingleThreadedExecutor()
    try:
        node = ReplayNode(parameter_overrides=overrides)
        executor.add_node(node)
        while rclpy.ok() and not node.done:
            executor.spin_once(timeout_sec=0.1)
        # Let the last (reliable) messages leave before the publishers go away.
        end = time.monotonic() + 0.2
        while rclpy.ok() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            executor.remove_node(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
