"""Per-camera 2D keypoint detector node: ``sensor_msgs/Image`` -> ``scorehmr_ros/Keypoints2D``.

One node per camera. It subscribes ``<camera_namespace>/<image_topic>`` (sensor-data QoS), runs
MediaPipe BlazePose (:class:`scorehmr_ros.core.detector.BlazePoseDetector`) and publishes
``<camera_namespace>/<output_topic>`` with the image's header (stamp and frame_id) and layout
``blazepose33``.

Every person: ``<camera_namespace>/<people_topic>`` (``scorehmr_ros/Keypoints2DArray``) carries
every person found, best first, with the person-detector scores (empty list: nobody). With
``max_people`` = 1 that is the legacy solution's one person (with ``tile_fallback``, where it
finds nobody, the best person the multi-person detector finds on tiles:
:mod:`scorehmr_ros.core.fallback_detector`); with ``max_people`` > 1 the
multi-person BlazePose of :mod:`scorehmr_ros.core.multiperson` (the same two models, every
detection, static per frame; needs ``ai-edge-litert``) finds up to ``max_people`` people with a
detector score >= ``min_person_confidence``, and ``<output_topic>`` carries the best of them.

No person in the image: a Keypoints2D message is still published, with 33 entries, ``x = y = 0`` and every
``confidence = 0``. Consumers can so tell "this camera saw nobody at time t" (message, zero
confidence) from "this camera's frame for time t never arrived / was dropped" (no message).

Threading: the subscription callback only stores the message in a single-slot "latest frame"
buffer (an older unprocessed frame is dropped and counted as ``dropped_overwritten``) and returns;
a worker thread converts, detects and publishes. So a slow detection never blocks the executor
that serves other cameras' nodes, and the node always works on the newest frame.
``max_rate_hz > 0`` drops frames arriving sooner than ``1 / max_rate_hz`` after the last accepted
one (``dropped_rate_limit``). Images that cannot be converted (unsupported encoding, truncated
data, empty) are dropped (``dropped_bad_input``) with a throttled warning; the node keeps running.

Diagnostics (``/diagnostics``, name ``scorehmr_detector: <camera>``): input rate, processed and
published counts, drops by reason, ``tracked`` (images whose people were followed by their
landmarks instead of detected: ``person_redetect_every``, the tile fallback), ``searched``
(images whose people were looked for near where they were instead of on every tile), detection latency
p50/p95 (MediaPipe only) and total
processing latency p95 (conversion + detection + publishing), over the last 100 frames.

Command line::

    scorehmr-detector --camera cam1 --config config/detector.yaml [--ros-args -p max_rate_hz:=10.0]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time

import numpy as np
import rclpy
import rclpy.executors
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from scorehmr_ros.core.detector import LAYOUT, NUM_LANDMARKS
from scorehmr_ros.core.fallback_detector import single_person_detector
from scorehmr_ros.msg import Keypoints2D, Keypoints2DArray
from scorehmr_ros.ros import diagnostics
from scorehmr_ros.ros.image_conversion import ImageConversionError, compressed_imgmsg_to_rgb, imgmsg_to_cv2
from scorehmr_ros.ros.messages import keypoints_to_msg
from scorehmr_ros.ros.node_parameters import (
    LIMB_MODEL,
    MODEL_COMPLEXITY,
    PERSON_MASK_OTHERS,
    PERSON_REDETECT_EVERY,
    PERSON_TILE_FRACTION,
    TILE_FALLBACK,
)
from scorehmr_ros.ros.parameters import (
    ParamSpec,
    cli_parameter_names,
    declare_parameters,
    get_parameter_values,
    load_yaml_parameters,
    parameter_overrides,
)

NODE_NAME = "scorehmr_detector"
LATENCY_WINDOW = 100
WARN_THROTTLE_S = 5.0

PARAMETERS = [
    ParamSpec(
        "camera_namespace",
        "",
        "Camera namespace prepended to relative topic names (e.g. 'cam1'); empty = node namespace",
        read_only=True,
    ),
    ParamSpec(
        "image_topic",
        "image_raw",
        "Input sensor_msgs/Image topic, relative to camera_namespace",
        read_only=True,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "'raw' (sensor_msgs/Image on image_topic) or 'compressed' (sensor_msgs/CompressedImage on "
        "<image_topic>/compressed, JPEG or PNG)",
        choices=("raw", "compressed"),
        read_only=True,
    ),
    ParamSpec(
        "output_topic", "keypoints", "Output Keypoints2D topic, relative to camera_namespace", read_only=True
    ),
    ParamSpec(
        "people_topic",
        "people",
        "Output Keypoints2DArray topic (every person), relative to camera_namespace",
        read_only=True,
    ),
    ParamSpec(
        "max_people",
        1,
        "People per image: 1 = MediaPipe's legacy solution (one person, tracked in video mode); "
        "> 1 = multi-person BlazePose (every detection, static per frame)",
        min_value=1,
        max_value=10,
        read_only=True,
    ),
    ParamSpec(
        "min_person_confidence",
        0.5,
        "max_people > 1: person-detector score below which a person is not published",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    PERSON_TILE_FRACTION,
    PERSON_MASK_OTHERS,
    PERSON_REDETECT_EVERY,
    TILE_FALLBACK,
    ParamSpec(
        "static_image_mode",
        False,
        "BlazePose static mode: detect the person in every frame independently (no tracking or "
        "smoothing). False = video mode, for streams",
        read_only=True,
    ),
    MODEL_COMPLEXITY,
    LIMB_MODEL,
    ParamSpec(
        "min_detection_confidence",
        0.5,
        "Minimum person-detector score for a detection",
        min_value=0.0,
        max_value=1.0,
    ),
    ParamSpec(
        "min_tracking_confidence",
        0.5,
        "Minimum landmark-tracking score before the person detector runs again (video mode)",
        min_value=0.0,
        max_value=1.0,
    ),
    ParamSpec(
        "max_rate_hz",
        0.0,
        "Maximum processed frame rate; frames arriving faster are dropped and counted. 0 = unlimited",
        min_value=0.0,
        max_value=1000.0,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Period of the /diagnostics status",
        min_value=0.05,
        max_value=60.0,
        read_only=True,
    ),
]

_DROP_REASONS = ("rate_limit", "overwritten", "bad_input", "detector_error")


def _topic(namespace: str, topic: str) -> str:
    if topic.startswith("/") or not namespace.strip("/"):
        return topic
    return f"{namespace.strip('/')}/{topic}"


class DetectorNode(Node):
    """BlazePose detector for one camera; see the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        declare_parameters(self, PARAMETERS)
        p = get_parameter_values(self, PARAMETERS)
        self.camera = p["camera_namespace"].strip("/") or self.get_namespace().strip("/") or node_name
        self._static = p["static_image_mode"]
        self._complexity = p["model_complexity"]
        # "auto" uses MoveNet only in calibrated sets (core.limb_model.use_limbs), which this node
        # cannot see: here it is BlazePose's landmarks; movenet_thunder asks for MoveNet's limbs.
        self._limb_model = "movenet_thunder" if p["limb_model"] == "movenet_thunder" else "none"
        self._thresholds = (p["min_detection_confidence"], p["min_tracking_confidence"])
        self.max_people = p["max_people"]
        self.min_person_confidence = p["min_person_confidence"]
        self.tile_fraction = p["person_tile_fraction"] or None
        self.mask_others = p["person_mask_others"]
        self.redetect_every = 1 if self._static else p["person_redetect_every"]
        self.tile_fallback = p["tile_fallback"]
        self._detector = self._make_detector()  # fail at start-up, not on the first frame

        self._lock = threading.Condition()
        self._slot: Image | None = None
        self._stop = False
        self._last_accepted = -float("inf")
        self._arrivals: collections.deque[float] = collections.deque(maxlen=1000)
        self._det_latency: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self._total_latency: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        # tracked: images whose people came from tracking, not the person detector (or tiles);
        # searched: from the person detector near the previous people instead of every tile
        names = ("received", "processed", "published", "no_person", "tracked", "searched")
        self.counts = dict.fromkeys(names, 0)
        self.counts.update({f"dropped_{r}": 0 for r in _DROP_REASONS})
        self._bad_input_reported = 0
        self._last_error = ""

        self.compressed = p["image_transport"] == "compressed"
        self.input_topic = _topic(p["camera_namespace"], p["image_topic"])
        if self.compressed:
            self.input_topic += "/compressed"
        self.output_topic = _topic(p["camera_namespace"], p["output_topic"])
        self._pub = self.create_publisher(Keypoints2D, self.output_topic, 10)
        self.people_topic = _topic(p["camera_namespace"], p["people_topic"])
        self._people_pub = self.create_publisher(Keypoints2DArray, self.people_topic, 10)
        self._diag_name = f"{NODE_NAME}: {self.camera}"
        self.diagnostics = diagnostics.DiagnosticsPublisher(
            self, p["diagnostics_period_s"], hardware_id=self.camera
        )
        self._diag_period = p["diagnostics_period_s"]
        self._diag_timer = self.create_timer(self._diag_period, self.update_diagnostics)
        kind = CompressedImage if self.compressed else Image
        self._sub = self.create_subscription(kind, self.input_topic, self._on_image, qos_profile_sensor_data)
        self._worker = threading.Thread(target=self._run, name=f"detector-{self.camera}", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"BlazePose ({'static' if self._static else 'video'} mode) on '{self.input_topic}' -> "
            f"'{self.output_topic}'"
        )

    def _make_detector(self):
        if self.max_people > 1:
            from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
            from scorehmr_ros.core.tracked_detector import TrackingMultiPersonDetector

            detector = MultiPersonPoseDetector(
                min_detection_score=self._thresholds[0],
                max_people=self.max_people,
                tile_fraction=self.tile_fraction,
                mask_others=self.mask_others,
                model_complexity=self._complexity,
                limb_model=self._limb_model,
                enough_people=self.max_people,  # it publishes at most this many
            )
            if self.redetect_every == 1:
                return detector
            return TrackingMultiPersonDetector(detector, self.redetect_every)
        return single_person_detector(
            static_image_mode=self._static,
            min_detection_confidence=self._thresholds[0],
            min_tracking_confidence=self._thresholds[1],
            model_complexity=self._complexity,
            tile_fraction=self.tile_fraction,
            mask_others=self.mask_others,
            tile_fallback=self.tile_fallback,
            limb_model=self._limb_model,
        )

    # -- subscription callback: never blocks ---------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        max_rate = self.get_parameter("max_rate_hz").value
        with self._lock:
            self.counts["received"] += 1
            self._arrivals.append(now)
            if max_rate > 0 and now - self._last_accepted < 1.0 / max_rate:
                self.counts["dropped_rate_limit"] += 1
                return
            self._last_accepted = now
            if self._slot is not None:
                self.counts["dropped_overwritten"] += 1
            self._slot = msg
            self._lock.notify()

    # -- worker thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                while self._slot is None and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                msg, self._slot = self._slot, None
            self._process(msg)

    def _process(self, msg: Image | CompressedImage) -> None:
        start = time.perf_counter()
        try:
            image = compressed_imgmsg_to_rgb(msg) if self.compressed else imgmsg_to_cv2(msg, "rgb8")
        except ImageConversionError as exc:
            self._count("dropped_bad_input", f"bad image on '{self.input_topic}': {exc}")
            return
        stamp_s = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec  # tracking spans short gaps only
        thresholds = (
            self.get_parameter("min_detection_confidence").value,
            self.get_parameter("min_tracking_confidence").value,
        )
        try:
            if thresholds != self._thresholds:  # dynamic reconfigure: new graph with the new thresholds
                self._thresholds = thresholds
                self._detector.close()
                self._detector = self._make_detector()
            found = self._detector.detect(image, stamp_s=stamp_s)
        except Exception as exc:  # keep the camera alive whatever MediaPipe does
            self._count("dropped_detector_error", f"detection failed on '{self.input_topic}': {exc!r}")
            return
        height, width = image.shape[:2]
        if self.max_people > 1:
            people = [d for d in found if d.score >= self.min_person_confidence][: self.max_people]
            scores = [float(d.score) for d in people]
        else:
            people = [] if found is None else [found]
            scores = [1.0] * len(people)
        detection = people[0] if people else None
        if detection is None:
            xy = np.zeros((NUM_LANDMARKS, 2), np.float32)
            conf = np.zeros(NUM_LANDMARKS, np.float32)
        else:
            xy, conf = detection.xy, detection.confidence
        out = keypoints_to_msg(msg.header, LAYOUT, xy, conf, (width, height))
        self._pub.publish(out)
        every = Keypoints2DArray(header=msg.header, scores=scores)
        every.people = [
            keypoints_to_msg(msg.header, LAYOUT, d.xy, d.confidence, (width, height)) for d in people
        ]
        self._people_pub.publish(every)
        with self._lock:
            self.counts["processed"] += 1
            self.counts["published"] += 1
            self.counts["no_person"] += detection is None
            source = getattr(self._detector, "last_source", None)
            self.counts["tracked"] += source == "tracked"
            self.counts["searched"] += source == "searched"
            if detection is not None:
                self._det_latency.append(detection.latency_s)
            self._total_latency.append(time.perf_counter() - start)

    def _count(self, key: str, message: str) -> None:
        with self._lock:
            self.counts[key] += 1
            self._last_error = message
        self.get_logger().warning(message, throttle_duration_sec=WARN_THROTTLE_S)

    # -- diagnostics ----------------------------------------------------------------------------
    def stats(self) -> dict:
        """Counters, input rate (Hz, last 5 s) and latency percentiles (ms)."""
        now = time.monotonic()
        with self._lock:
            values: dict = dict(self.counts)
            recent = [t for t in self._arrivals if now - t <= 5.0]
            det = np.array(self._det_latency) * 1e3
            total = np.array(self._total_latency) * 1e3
            last_error = self._last_error
        span = min(5.0, now - recent[0]) if len(recent) > 1 else 0.0
        values["input_rate_hz"] = (len(recent) - 1) / span if span > 0 else 0.0
        values["latency_p50_ms"] = float(np.percentile(det, 50)) if det.size else float("nan")
        values["latency_p95_ms"] = float(np.percentile(det, 95)) if det.size else float("nan")
        values["processing_p95_ms"] = float(np.percentile(total, 95)) if total.size else float("nan")
        values["last_error"] = last_error
        return values

    def update_diagnostics(self) -> None:
        values = self.stats()
        new_bad = values["dropped_bad_input"] + values["dropped_detector_error"] - self._bad_input_reported
        self._bad_input_reported += new_bad
        if new_bad > 0:
            level, message = diagnostics.WARN, f"{new_bad} frame(s) dropped: {values['last_error']}"
        elif values["received"] == 0:
            level, message = diagnostics.WARN, f"no images received on '{self.input_topic}'"
        else:
            level, message = diagnostics.OK, "running"
        self.diagnostics.update(self._diag_name, level, message, values)

    # -- shutdown -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the worker thread and release MediaPipe (idempotent)."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=10.0)
        self._detector.close()

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """``scorehmr-detector [--config YAML] [--camera NS] [--ros-args ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="scorehmr-detector", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="ROS 2 params YAML (section 'scorehmr_detector' and/or '/**')")
    parser.add_argument("--camera", help="camera namespace, e.g. cam1 (sets camera_namespace)")
    args, ros_args = parser.parse_known_args(argv)

    values: dict = {}
    node_name = NODE_NAME if not args.camera else f"{NODE_NAME}_{args.camera.strip('/')}"
    if args.config:
        if not os.path.isfile(args.config):
            parser.error(f"config file not found: {args.config}")
        values.update(load_yaml_parameters(args.config, NODE_NAME))
        if node_name != NODE_NAME:
            values.update(load_yaml_parameters(args.config, node_name))
    if args.camera:
        values["camera_namespace"] = args.camera
    for name in cli_parameter_names(ros_args):  # --ros-args -p beats the YAML (rclpy would not)
        values.pop(name, None)
    known = {s.name for s in PARAMETERS}
    unknown = sorted(set(values) - known)
    if unknown:
        parser.error(
            f"unknown parameter(s) in config: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )

    rclpy.init(args=[sys.argv[0], *ros_args])
    node = None
    try:
        node = DetectorNode(node_name, parameter_overrides=parameter_overrides(values, PARAMETERS))
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C raced spin() (rclpy's signal handler shut the context down mid-wait): a normal end.
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
