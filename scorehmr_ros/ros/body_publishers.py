"""The multi-camera node's outputs: what it publishes for each body and the REP-155 tracked list.

:class:`BodyPublishers` lives from ``on_configure`` to ``on_cleanup``: it creates the lifecycle
publishers (``~/bodies`` BodyArray, ``~/markers``, ``/humans/bodies/tracked``, joint states, ``/tf``,
``~/overlay/<camera>``) and destroys them again, and it holds the people state:

- one person (``max_people`` = 1): id ``b0``, present while a body came within ``person_lost_s``;
  losing it publishes ``[]`` and a DELETEALL marker;
- several people: the ids alive in the compute process's tracker; each id gets
  ``/humans/bodies/<id>/joint_states`` when it appears, and loses it and its markers when it is
  removed (by the tracker, or when no body at all came for ``person_timeout_s + person_lost_s``).

Messages are built by ros/outputs.py from numpy arrays (the mesh marker as serialized bytes);
called from the dispatcher thread (bodies) and the executor thread (tracked timer) under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from builtin_interfaces.msg import Time as TimeMsg
from hri_msgs.msg import IdsList
from rclpy.event_handler import PublisherEventCallbacks
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehmr_ros.msg import BodyArray
from scorehmr_ros.ros.compute import BodyResult
from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
from scorehmr_ros.ros.messages import BodyEstimate, body_to_msg
from scorehmr_ros.ros.node_diagnostics import NodeMetrics
from scorehmr_ros.ros.outputs import (
    body_transforms,
    delete_all_markers,
    delete_body_markers,
    joint_state,
    serialize_markers,
)
from scorehmr_ros.ros.overlays import draw_estimate
from scorehmr_ros.ros.tf import DYNAMIC_QOS

# The id of the one body of single-person mode (max_people = 1: MediaPipe's legacy pose solution
# detects one). ROS4HRI-style ids: topic name tokens cannot start with a digit, so
# /humans/bodies/b0/joint_states, TF body_b0. Multi-person mode: the compute process's tracked
# ids b0, b1, ... (core.tracking), each with /humans/bodies/<id>/joint_states while it lives.
BODY_ID = "b0"
TRACKED_TOPIC = "/humans/bodies/tracked"


def stamp_msg(ns: int) -> TimeMsg:
    return TimeMsg(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def due(last_ns: int, rate_hz: float, now_ns: int) -> bool:
    """True when a rate-limited output (``rate_hz`` > 0) last sent at ``last_ns`` is due again."""
    return rate_hz > 0 and now_ns - last_ns >= 1e9 / rate_hz


class BodyPublishers:
    """Publishers and people state of one configured node (see the module docstring).

    ``node``: the LifecycleNode; ``params``: its live parameter dict; ``frame_id(camera)`` and
    ``camera_info(camera)`` come from the input side; ``faces`` (F, 3) of the body model mesh.
    """

    def __init__(
        self,
        node,
        cameras: list[str],
        params: dict,
        metrics: NodeMetrics,
        frame_id: Callable[[str], str],
        camera_info: Callable[[str], CameraInfo | None],
        faces,
    ) -> None:
        self.node = node
        self.cameras = list(cameras)
        self.p = params
        self.metrics = metrics
        self.frame_id = frame_id
        self.camera_info = camera_info
        self.faces = faces
        self.multi = params["max_people"] > 1
        self._lock = threading.RLock()
        self._id_pubs: dict[str, object] = {}  # multi-person: id -> /humans/bodies/<id>/joint_states
        self.last_body_ns: int | None = None  # ROS clock time of the last published body
        self.last_mesh_ns = 0
        self.last_overlay_ns = 0
        self._tracked = False
        self._last_tracked_ns = 0
        self.ids: list[str] = []  # multi-person: ids alive after the last compute result
        pub = node.create_lifecycle_publisher
        self.pubs = {
            "bodies": pub(BodyArray, "~/bodies", 10),
            "markers": pub(MarkerArray, "~/markers", 10),
            "tracked": pub(IdsList, TRACKED_TOPIC, 10),
        }
        if not self.multi:  # multi-person: one joint-state publisher per live id (_joint_publisher)
            self.pubs["joints"] = pub(JointState, f"/humans/bodies/{BODY_ID}/joint_states", 10)
        self.pubs["tf"] = pub(TFMessage, "/tf", DYNAMIC_QOS)
        for cam in self.cameras:
            self.pubs[f"overlay/{cam}"] = pub(Image, f"~/overlay/{cam}", 2)

    def destroy(self) -> None:
        """Destroy every publisher (cleanup / shutdown)."""
        with self._lock:
            for publisher in self.pubs.values():
                self.node.destroy_lifecycle_publisher(publisher)
            self.pubs = {}
            for publisher in self._id_pubs.values():
                self.node.destroy_publisher(publisher)
            self._id_pubs = {}

    def _now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    # -- the tracked list (REP-155) -----------------------------------------------------------
    def on_timer(self, now_ns: int) -> None:
        """Tracked-list timer: publish at least every ``tracked_period_s`` even when nothing comes."""
        if now_ns - self._last_tracked_ns >= 0.9 * self.p["tracked_period_s"] * 1e9:
            self.publish_tracked(now_ns)

    def publish_tracked(self, now_ns: int) -> None:
        """``/humans/bodies/tracked`` now: ``[b0]`` / every live id, ``[]`` once nobody is seen."""
        with self._lock:
            if self.multi:
                quiet_s = self.p["person_timeout_s"] + self.p["person_lost_s"]
                if self.ids and (self.last_body_ns is None or now_ns - self.last_body_ns > quiet_s * 1e9):
                    self.remove_ids(list(self.ids))
                ids = list(self.ids)
            else:
                present = self.last_body_ns is not None and (
                    now_ns - self.last_body_ns <= self.p["person_lost_s"] * 1e9
                )
                if self._tracked and not present:
                    self._lose_person()
                self._tracked = present
                ids = [BODY_ID] if present else []
            self._last_tracked_ns = now_ns
            if "tracked" in self.pubs:
                self.pubs["tracked"].publish(IdsList(header=Header(stamp=stamp_msg(now_ns)), ids=ids))

    def update_ids(self, tracked: list[str]) -> None:
        """Multi-person: the compute result's alive ids; ids no longer in it are removed."""
        with self._lock:
            self.remove_ids([i for i in self.ids if i not in tracked])
            self.ids = list(tracked)

    def remove_ids(self, ids: list[str]) -> None:
        """Everything of these ids goes: joint-state publisher, markers, tracked-list entry."""
        header = Header(stamp=stamp_msg(self._now_ns()))
        with self._lock:
            for body_id in ids:
                publisher = self._id_pubs.pop(body_id, None)
                if publisher is not None:
                    self.node.destroy_publisher(publisher)
                if "markers" in self.pubs:
                    self.pubs["markers"].publish(delete_body_markers(header, body_id))
                self.node.get_logger().info(f"person {body_id} removed")
            self.ids = [i for i in self.ids if i not in ids]

    def forget_everyone(self) -> None:
        """Deactivation: the person / every id is lost (markers deleted, publishers of ids gone)."""
        with self._lock:
            if self._tracked:
                self._lose_person()
            self.remove_ids(list(self.ids))

    def _lose_person(self) -> None:
        self._tracked = False
        if "markers" in self.pubs:
            self.pubs["markers"].publish(delete_all_markers(Header(stamp=stamp_msg(self._now_ns()))))

    def _joint_publisher(self, body_id: str):
        """The id's joint-state publisher, created on its first body.

        Created without QoS event handlers: rclpy adds a publisher's event handlers to the node's
        waitables, and destroying them (the id removed, on the dispatcher or a timer thread) while
        the executor builds its wait set raises InvalidHandle out of ``spin_once`` (rclpy skips a
        destroyed waitable when entering it but still adds it to the wait set). The spin then
        ended and the node stopped taking sets. A publisher without handlers is in no wait set."""
        if body_id not in self._id_pubs:
            self._id_pubs[body_id] = self.node.create_publisher(
                JointState,
                f"/humans/bodies/{body_id}/joint_states",
                10,
                event_callbacks=PublisherEventCallbacks(use_default_callbacks=False),
            )
        return self._id_pubs[body_id]

    # -- bodies --------------------------------------------------------------------------------
    def publish_set(self, bodies: list[BodyResult], images: dict) -> None:
        """The bodies of one stamp: one BodyArray with every body, then each body's own outputs."""
        if not self.pubs:
            return
        header = Header(stamp=stamp_msg(bodies[0].stamp_ns), frame_id=self.frame_id(bodies[0].frame))
        msgs = [body_to_msg(self._estimate(b), Header(stamp=header.stamp, frame_id=self.frame_id(b.frame)))
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
            view_frame_ids=[self.frame_id(c) for c in body.view_errors_px],
            reprojection_error_px=list(body.view_errors_px.values()),
            fit_quality=body.fit_quality,
            num_views=body.num_views,
        )

    def _publish(self, body: BodyResult, images: dict) -> None:
        """One body's joint states, markers (coloured per id, with a lifetime), TF and overlays."""
        frame_id = self.frame_id(body.frame)
        stamp = stamp_msg(body.stamp_ns)
        header = Header(stamp=stamp, frame_id=frame_id)
        body_id = body.body_id
        with self._lock:
            if not self.pubs:
                return
            joints_pub = self._joint_publisher(body_id) if self.multi else self.pubs["joints"]
            joints_pub.publish(joint_state(body_id, stamp, body.rotations))
            now_ns = self._now_ns()
            if body.vertices is not None:
                self.last_mesh_ns = now_ns
            lost_s, mesh_rate = self.p["person_lost_s"], self.p["mesh_rate_hz"]
            lifetime = max(lost_s, 1.5 / mesh_rate) if mesh_rate > 0 else lost_s
            markers = serialize_markers(header, body_id, body.joints, body.vertices, self.faces, lifetime)
            self.pubs["markers"].publish(markers)
            if self.p["publish_tf"]:
                transforms = body_transforms(body_id, frame_id, stamp, body.rotations, body.joints)
                self.pubs["tf"].publish(TFMessage(transforms=transforms))
            self.metrics.count("published")
            self.last_body_ns = now_ns
            self._publish_overlays(body, images)

    def _publish_overlays(self, body: BodyResult, images: dict) -> None:
        if not body.overlay_uv:
            return
        self.last_overlay_ns = self._now_ns()
        for cam, uv in body.overlay_uv.items():
            info = self.camera_info(cam)
            if cam not in images or f"overlay/{cam}" not in self.pubs or info is None:
                continue
            self.pubs[f"overlay/{cam}"].publish(
                cv2_to_imgmsg(
                    draw_estimate(images[cam], uv),
                    "rgb8",
                    Header(stamp=info.header.stamp, frame_id=info.header.frame_id),
                )
            )
