"""BlazePose detector (real MediaPipe) and the per-camera detector node over real DDS."""

import os
import time

import numpy as np
import pytest
from skimage import data

from scorehmr_ros.core.detector import (
    BlazePoseDetector,
    Detection,
    ModelUnavailableError,
    _landmark_model_path,
)
from scorehmr_ros.core.keypoints import get_layout

NAMES = get_layout("blazepose33").keypoint_names
IDX = {n: i for i, n in enumerate(NAMES)}


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()  # (512, 512, 3) uint8: Eileen Collins, head and upper body, facing the camera


@pytest.fixture(scope="module")
def static_detector():
    with BlazePoseDetector(static_image_mode=True) as det:
        yield det


def check_astronaut_landmarks(xy: np.ndarray, conf: np.ndarray, width: int, height: int) -> None:
    """Loose geometry of a frontal upper-body portrait, subject centred, hips at the lower edge."""
    p = {n: xy[IDX[n]] for n in NAMES}
    c = {n: conf[IDX[n]] for n in NAMES}
    for name in ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder"):
        assert c[name] > 0.9, (name, c[name])
    # Face in the upper half, roughly centred horizontally.
    assert p["nose"][1] < 0.4 * height
    assert 0.3 * width < p["nose"][0] < 0.6 * width
    # Eyes above the nose; the subject's left eye is on the image's right (she faces the camera).
    assert p["left_eye"][1] < p["nose"][1] and p["right_eye"][1] < p["nose"][1]
    assert p["right_eye"][0] < p["nose"][0] < p["left_eye"][0]
    # Shoulders well below the nose, the subject's left shoulder on the image's right side.
    for side in ("left_shoulder", "right_shoulder"):
        assert p[side][1] > p["nose"][1] + 0.15 * height
        assert 0 <= p[side][1] < height
    assert p["left_shoulder"][0] > 0.5 * width > p["right_shoulder"][0]
    assert p["right_shoulder"][0] < p["nose"][0] < p["left_shoulder"][0]
    assert p["left_shoulder"][0] - p["right_shoulder"][0] > 0.25 * width
    # Hips at/below the bottom edge: uncertain. Legs: extrapolated below the image, near-zero confidence.
    for side in ("left_hip", "right_hip"):
        assert c[side] < 0.5 and p[side][1] > 0.85 * height
    for side in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        assert c[side] < 0.2 and p[side][1] > height
    assert np.all((conf >= 0) & (conf <= 1))


def test_astronaut_static(static_detector, astronaut):
    det = static_detector.detect(astronaut)
    assert isinstance(det, Detection)
    assert det.layout == "blazepose33"
    assert det.xy.shape == (33, 2) and det.xy.dtype == np.float32
    assert det.confidence.shape == (33,)
    assert det.image_size == (512, 512)
    assert det.latency_s > 0
    check_astronaut_landmarks(det.xy, det.confidence, 512, 512)


def test_astronaut_video_mode_tracks(astronaut, static_detector):
    reference = static_detector.detect(astronaut)
    with BlazePoseDetector(static_image_mode=False) as det:
        results = [det.detect(astronaut) for _ in range(3)]
    for r in results:
        assert r is not None
        check_astronaut_landmarks(r.xy, r.confidence, 512, 512)
    upper = [IDX[n] for n in ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder")]
    # Same image every frame: tracking stays on the static result (a few pixels).
    assert np.abs(results[-1].xy[upper] - reference.xy[upper]).max() < 10.0


def test_non_rgb_order_still_sees_person_but_requires_uint8(static_detector, astronaut):
    # A BGR image is still a valid uint8 (H, W, 3) array: accepted (channel order is the caller's job).
    assert static_detector.detect(np.ascontiguousarray(astronaut[:, :, ::-1])) is not None


@pytest.fixture(scope="module")
def dancer():
    """8 frames of the held-out dancer from one camera, 8 clip frames (0.13 s) apart: (8, H, W, 3)."""
    from scorehmr_ros.sim.sequence import build_sequence

    seq = build_sequence("humanoid3d_dance_b", num_views=1, seed=0, num_frames=8, frame_stride=8)
    return seq.images[:, 0]


def _landmarks(detector, images, stamps) -> list[np.ndarray]:
    found = [detector.detect(image, stamp_s=stamp) for image, stamp in zip(images, stamps, strict=True)]
    assert all(f is not None for f in found)
    return [f.xy for f in found]


def test_video_mode_does_not_track_across_gaps_in_the_stamps(dancer):
    """Images 0.5 s apart are each processed as a single image (exactly the static solution's
    landmarks), not tracked from the last crop and smoothed toward the last pose; at 30 fps the
    solution tracks as without stamps; back at 30 fps after a gap the tracking solution restarts
    (after RESUME_AFTER images) and then gives what a fresh one gives."""
    from scorehmr_ros.core.detector import RESUME_AFTER

    with BlazePoseDetector(static_image_mode=True) as det:
        single = _landmarks(det, dancer, [None] * len(dancer))
    with BlazePoseDetector(static_image_mode=False) as det:
        tracked = _landmarks(det, dancer, [None] * len(dancer))
    # the person moves: tracking and smoothing give other landmarks than single images
    assert max(np.abs(t - s).max() for t, s in zip(tracked[1:], single[1:], strict=True)) > 2.0

    with BlazePoseDetector(static_image_mode=False) as det:
        slow = _landmarks(det, dancer, 0.5 * np.arange(len(dancer)))
        assert (det.single_images, det.restarts) == (len(dancer) - 1, 0)
    for got, want in zip(slow, single, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3)

    with BlazePoseDetector(static_image_mode=False) as det:
        fast = _landmarks(det, dancer, np.arange(len(dancer)) / 30)
        assert (det.single_images, det.restarts) == (0, 0)
    for got, want in zip(fast, tracked, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3)

    # 0.5 s gap after image 0, then 30 fps: single images until RESUME_AFTER close ones in a row
    stamps = np.r_[0.0, 0.5 + np.arange(len(dancer) - 1) / 30]
    with BlazePoseDetector(static_image_mode=False) as det:
        mixed = _landmarks(det, dancer, stamps)
        assert (det.single_images, det.restarts) == (RESUME_AFTER, 1)
    for got, want in zip(mixed[: RESUME_AFTER + 1], single[: RESUME_AFTER + 1], strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3)
    with BlazePoseDetector(static_image_mode=False) as det:
        fresh = _landmarks(det, dancer[RESUME_AFTER + 1 :], [None] * (len(dancer) - RESUME_AFTER - 1))
    for got, want in zip(mixed[RESUME_AFTER + 1 :], fresh, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640, 3), 128, np.uint8),  # flat grey
        data.coffee(),  # a cup of coffee on a table: no person
    ],
    ids=["grey", "coffee"],
)
@pytest.mark.parametrize("static", [True, False], ids=["static", "video"])
def test_no_person_returns_none(image, static):
    with BlazePoseDetector(static_image_mode=static) as det:
        assert det.detect(image) is None
        assert det.detect(image) is None


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64), np.uint8), "shape"),
        (np.zeros((64, 64, 4), np.uint8), "shape"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        ([[0, 0, 0]], "numpy"),
    ],
    ids=["float32", "grey2d", "rgba", "empty", "list"],
)
def test_invalid_input_raises(static_detector, image, match):
    with pytest.raises(ValueError, match=match):
        static_detector.detect(image)


def test_invalid_construction_and_closed():
    with pytest.raises(ValueError, match="min_detection_confidence"):
        BlazePoseDetector(min_detection_confidence=1.5)
    with pytest.raises(ValueError, match="model_complexity"):
        BlazePoseDetector(model_complexity=3)
    if not os.path.isfile(_landmark_model_path(0)):
        with pytest.raises(ModelUnavailableError, match="model_complexity=1"):
            BlazePoseDetector(model_complexity=0)
    det = BlazePoseDetector(static_image_mode=True)
    det.close()
    det.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.zeros((8, 8, 3), np.uint8))


# -- node over real DDS -----------------------------------------------------------------------------


@pytest.mark.ros
def _send_until(executor, pub, make_msg, predicate, timeout: float, resend_s: float) -> bool:
    """Spin until ``predicate()``, publishing ``make_msg()`` every ``resend_s`` (best-effort image
    QoS: a message may be lost before discovery completes); None: only spin. False on timeout."""
    deadline, next_send = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        if make_msg is not None and time.monotonic() >= next_send:
            pub.publish(make_msg())
            next_send = time.monotonic() + resend_s
        executor.spin_once(timeout_sec=0.05)
        if predicate():
            return True
    return False


def _detector_io(ros_context, detector, msg_type, topic: str, name: str):
    """A test node beside ``detector``: a publisher of ``cam1/image_raw`` (sensor QoS), the
    ``msg_type`` messages received on ``topic`` and the cam1 ``/diagnostics`` statuses, and an
    executor spinning both nodes. Returns (io node, publisher, received, diagnostics, executor)."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    io = Node(name, context=ros_context)
    pub = io.create_publisher(Image, "cam1/image_raw", qos_profile_sensor_data)
    received: list = []
    diags: list = []
    io.create_subscription(msg_type, topic, received.append, 10)
    io.create_subscription(
        DiagnosticArray, "/diagnostics", lambda m: diags.extend(s for s in m.status if "cam1" in s.name), 10
    )
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(detector)
    executor.add_node(io)
    return io, pub, received, diags, executor


def test_detector_node_over_dds(ros_context, astronaut):
    from builtin_interfaces.msg import Time
    from rclpy.parameter import Parameter
    from std_msgs.msg import Header

    from scorehmr_ros.msg import Keypoints2D
    from scorehmr_ros.ros.detector_node import DetectorNode
    from scorehmr_ros.ros.diagnostics import WARN, status_values
    from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
    from scorehmr_ros.ros.messages import keypoints_from_msg

    detector = DetectorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("camera_namespace", value="cam1"),
            Parameter("static_image_mode", value=True),
            Parameter("diagnostics_period_s", value=0.2),
        ],
    )
    io, pub, received, diags, executor = _detector_io(
        ros_context, detector, Keypoints2D, "cam1/keypoints", "detector_test_io"
    )

    def send_until(make_msg, predicate, timeout=15.0):
        return _send_until(executor, pub, make_msg, predicate, timeout, resend_s=0.3)

    def header(sec):
        return Header(stamp=Time(sec=sec, nanosec=123), frame_id="cam1_optical_frame")

    def image(encoding, sec):
        pixels = astronaut if encoding == "rgb8" else np.ascontiguousarray(astronaut[:, :, ::-1])
        return cv2_to_imgmsg(pixels, encoding, header(sec))

    def reply_for(sec):
        return next((m for m in received if m.header.stamp.sec == sec), None)

    try:
        for sec, encoding in ((100, "rgb8"), (101, "bgr8")):
            assert send_until(lambda s=sec, e=encoding: image(e, s), lambda s=sec: reply_for(s)), encoding
            msg = reply_for(sec)
            assert msg.header.stamp.nanosec == 123 and msg.header.frame_id == "cam1_optical_frame"
            assert msg.layout == "blazepose33"
            assert (msg.image_width, msg.image_height) == (512, 512)
            xy, conf = keypoints_from_msg(msg)
            assert xy.shape == (33, 2)
            check_astronaut_landmarks(xy, conf, 512, 512)

        # Bad frames: unsupported encoding, truncated data. Dropped, counted, node keeps running.
        def yuv():
            m = image("rgb8", 102)
            m.encoding = "nv21"  # not supported
            return m

        def truncated():
            m = image("rgb8", 103)
            m.data = m.data[: len(m.data) // 2]
            return m

        def bad_drops():
            return max((int(status_values(s)["dropped_bad_input"]) for s in diags), default=0)

        assert send_until(yuv, lambda: bad_drops() >= 1)
        assert send_until(truncated, lambda: bad_drops() >= 2)
        assert any(s.level == WARN and "dropped" in s.message for s in diags)
        assert reply_for(102) is None and reply_for(103) is None

        # Still alive: the next good image is processed.
        assert send_until(lambda: image("rgb8", 104), lambda: reply_for(104))
        check_astronaut_landmarks(*keypoints_from_msg(reply_for(104)), 512, 512)

        # No person: a message with 33 zero confidences (distinguishable from "no message").
        grey = np.full((240, 320, 3), 128, np.uint8)
        assert send_until(lambda: cv2_to_imgmsg(grey, "rgb8", header(105)), lambda: reply_for(105))
        xy, conf = keypoints_from_msg(reply_for(105))
        assert conf.shape == (33,) and not conf.any()

        # Diagnostics carry counts and latency percentiles (the /diagnostics queue may lag: wait).
        def latest_complete():
            return next(
                (
                    status_values(s)
                    for s in reversed(diags)
                    if int(status_values(s)["processed"]) >= 4 and int(status_values(s)["no_person"]) >= 1
                ),
                None,
            )

        assert send_until(None, latest_complete, timeout=5.0)
        values = latest_complete()
        assert float(values["latency_p95_ms"]) >= float(values["latency_p50_ms"]) > 0
        assert float(values["input_rate_hz"]) > 0  # messages were received in the window
    finally:
        executor.shutdown()
        detector.destroy_node()
        io.destroy_node()


def test_main_rejects_unknown_config_keys(tmp_path):
    from scorehmr_ros.ros.detector_node import main

    path = tmp_path / "bad.yaml"
    path.write_text("scorehmr_detector:\n  ros__parameters:\n    min_detection_confidense: 0.5\n")
    with pytest.raises(SystemExit):
        main(["--config", str(path), "--camera", "cam9"])


def test_detector_node_on_compressed_images(ros_context, astronaut):
    """``image_transport:=compressed``: a JPEG of the photo on ``cam1/image_raw/compressed`` gives
    the photo's landmarks on ``cam1/keypoints``."""
    import array

    import cv2
    from builtin_interfaces.msg import Time
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from scorehmr_ros.msg import Keypoints2D
    from scorehmr_ros.ros.detector_node import DetectorNode
    from scorehmr_ros.ros.messages import keypoints_from_msg

    detector = DetectorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("camera_namespace", value="cam1"),
            Parameter("static_image_mode", value=True),
            Parameter("image_transport", value="compressed"),
        ],
    )
    io = Node("detector_jpeg_io", context=ros_context)
    pub = io.create_publisher(CompressedImage, "cam1/image_raw/compressed", qos_profile_sensor_data)
    received: list[Keypoints2D] = []
    io.create_subscription(Keypoints2D, "cam1/keypoints", received.append, 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(detector)
    executor.add_node(io)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(astronaut[:, :, ::-1]))
    assert ok
    msg = CompressedImage(format="rgb8; jpeg compressed bgr8")
    msg.header = Header(stamp=Time(sec=7), frame_id="cam1_optical_frame")
    msg.data = array.array("B", buf.tobytes())
    try:
        deadline, next_send = time.monotonic() + 15.0, 0.0
        while time.monotonic() < deadline and not received:
            if time.monotonic() >= next_send:
                pub.publish(msg)
                next_send = time.monotonic() + 0.3
            executor.spin_once(timeout_sec=0.05)
        assert received and received[0].header.stamp.sec == 7
        xy, conf = keypoints_from_msg(received[0])
        check_astronaut_landmarks(xy, conf, 512, 512)
    finally:
        executor.shutdown()
        detector.destroy_node()
        io.destroy_node()


@pytest.mark.parametrize(
    "redetect_every, interval_ns, source",
    [(3, 66_666_667, "tracked"), (1, 66_666_667, None), (3, 500_000_000, "searched")],
)
def test_multi_person_detector_node_tracks_people_between_detections(
    ros_context, redetect_every, interval_ns, source
):
    """Two people rendered at 15 fps: every image's Keypoints2DArray holds both (mid-hips within 15 px
    of the truth). With person_redetect_every 3 the node's diagnostics count tracked images, or,
    with the images stamped 0.5 s apart (too far to track), images searched near the people."""
    from builtin_interfaces.msg import Time
    from rclpy.parameter import Parameter
    from std_msgs.msg import Header

    from scorehmr_ros.core.keypoints import get_layout
    from scorehmr_ros.core.skeleton import JOINT_INDEX
    from scorehmr_ros.msg import Keypoints2DArray
    from scorehmr_ros.ros.detector_node import DetectorNode
    from scorehmr_ros.ros.diagnostics import status_values
    from scorehmr_ros.ros.image_conversion import cv2_to_imgmsg
    from scorehmr_ros.ros.messages import keypoints_from_msg
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(2, 1, seed=0, num_frames=5, frame_stride=2, spacing=1.2)
    hips = [get_layout("blazepose33").keypoint_names.index(n) for n in ("left_hip", "right_hip")]
    detector = DetectorNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("camera_namespace", value="cam1"),
            Parameter("max_people", value=2),
            Parameter("person_redetect_every", value=redetect_every),
            Parameter("diagnostics_period_s", value=0.2),
        ],
    )
    io, pub, received, diags, executor = _detector_io(
        ros_context, detector, Keypoints2DArray, "cam1/people", "multi_detector_test_io"
    )

    def spin_until(predicate, timeout=20.0, send=None):
        return _send_until(executor, pub, send, predicate, timeout, resend_s=1.0)

    def stamp_of(t):
        sec, nanosec = divmod(t * interval_ns, 1_000_000_000)
        return Time(sec=100 + sec, nanosec=nanosec)

    def reply_for(t):
        return next((m for m in received if m.header.stamp == stamp_of(t)), None)

    try:
        for t in range(seq.num_frames):
            stamp = stamp_of(t)
            msg = cv2_to_imgmsg(seq.images[t, 0], "rgb8", Header(stamp=stamp, frame_id="cam1_optical_frame"))
            assert spin_until(lambda t=t: reply_for(t), send=lambda m=msg: m), t
            people = reply_for(t).people
            assert len(people) == 2
            found = sorted((keypoints_from_msg(p)[0][hips].mean(0) for p in people), key=lambda h: h[0])
            truth = []
            for p in range(2):
                joints = seq.joints_in_camera(p, 0)[t]
                uvw = seq.K[0] @ joints[[JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(0)
                truth.append(uvw[:2] / uvw[2])
            truth.sort(key=lambda h: h[0])
            assert np.linalg.norm(np.array(found) - np.array(truth), axis=1).max() < 15.0

        def counted():
            done = [status_values(s) for s in diags if int(status_values(s)["processed"]) >= seq.num_frames]
            return done[-1] if done else None

        assert spin_until(lambda: counted() is not None, timeout=5.0)
        counts = {name: int(counted()[name]) for name in ("tracked", "searched")}
        for name, count in counts.items():  # 3 of 5 images unless a track is lost (then more detections)
            assert (count >= 2) if name == source else (count == 0), counts
    finally:
        executor.shutdown()
        detector.destroy_node()
        io.destroy_node()
