"""Rendered sequences (cache), the replay node and the MCAP recorder, over real DDS."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from scorehmr_ros.sim.sequence import RenderedSequence, build_sequence, cache_path, load_or_build

SEQ_ARGS = {"num_views": 3, "seed": 1, "num_frames": 4, "image_size": (160, 120)}
NUM_FRAMES, NUM_VIEWS = 4, 3
CAMERAS = ["cam1", "cam2", "cam3"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sequence_cache")


@pytest.fixture(scope="module")
def sequence(cache_dir) -> RenderedSequence:
    torch.set_num_threads(1)
    return load_or_build(cache_dir=cache_dir, **SEQ_ARGS)


# --------------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------------
def test_sequence_shapes(sequence):
    s = sequence
    assert s.images.shape == (NUM_FRAMES, NUM_VIEWS, 120, 160, 3) and s.images.dtype == np.uint8
    assert s.K.shape == (3, 3, 3) and s.R.shape == (3, 3, 3) and s.t.shape == (3, 3)
    assert s.image_size == (160, 120) and s.camera_names == CAMERAS
    assert s.joints_world.shape == (NUM_FRAMES, 24, 3) and s.rotations.shape == (NUM_FRAMES, 24, 3, 3)
    assert s.betas.shape == (10,) and s.transl.shape == (NUM_FRAMES, 3)
    assert s.clip_name == "humanoid3d_dance_b" and s.fps > 0
    np.testing.assert_allclose(s.R @ s.R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-5)
    # The person is visible in every image: a good share of non-background pixels.
    background = np.all(s.images == s.images[0, 0, 0, 0], axis=-1)
    assert (1.0 - background.mean(axis=(2, 3)) > 0.01).all()
    # The pelvis projects inside every image.
    for v in range(NUM_VIEWS):
        p = s.joints_in_camera(v)[:, 0]
        uv = p[:, :2] / p[:, 2:] * np.diag(s.K[v])[:2] + s.K[v, :2, 2]
        assert (p[:, 2] > 0).all() and (uv >= 0).all() and (uv < [160, 120]).all()


def test_sequence_cache_reload_identical(sequence, cache_dir):
    path = cache_path(cache_dir=cache_dir, **SEQ_ARGS)
    assert path.is_file() and path.parent == cache_dir
    mtime = path.stat().st_mtime_ns
    again = load_or_build(cache_dir=cache_dir, **SEQ_ARGS)
    assert path.stat().st_mtime_ns == mtime  # loaded, not rebuilt
    fresh = build_sequence(**SEQ_ARGS)  # and the build is deterministic
    for other in (again, fresh):
        for name in ("images", "K", "R", "t", "joints_world", "rotations", "betas", "transl"):
            np.testing.assert_array_equal(getattr(other, name), getattr(sequence, name), err_msg=name)
        assert other.image_size == sequence.image_size and other.camera_names == sequence.camera_names
        assert other.fps == sequence.fps and other.clip_name == sequence.clip_name
    # Different arguments -> different cache file.
    assert cache_path(cache_dir=cache_dir, **{**SEQ_ARGS, "seed": 2}) != path


def test_sequence_stride_and_default_cache_dir(monkeypatch, tmp_path):
    from scorehmr_ros.sim.sequence import default_cache_dir

    monkeypatch.setenv("SCOREHMR_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "sequences"
    monkeypatch.delenv("SCOREHMR_CACHE_DIR")
    assert str(default_cache_dir()).endswith(".cache/scorehmr_ros/sequences")
    s = build_sequence(num_views=1, num_frames=2, frame_stride=3, image_size=(64, 48))
    assert s.images.shape == (2, 1, 48, 64, 3) and s.camera_names == ["cam1"]
    full = build_sequence(num_views=1, num_frames=4, image_size=(64, 48))
    np.testing.assert_allclose(s.joints_world[1], full.joints_world[3], atol=1e-6)
    assert s.fps == pytest.approx(full.fps / 3)


# --------------------------------------------------------------------------------------------
# Message definitions (no DDS)
# --------------------------------------------------------------------------------------------
def test_message_definition_round_trip(tmp_path):
    from geometry_msgs.msg import TransformStamped
    from mcap_ros2.reader import read_ros2_messages
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from scorehmr_ros.msg import Body, BodyArray
    from scorehmr_ros.ros.recorder import message_definition, parse_topics, read_mcap_summary, type_name_of

    text = message_definition("scorehmr_ros/msg/BodyArray")
    assert text.startswith("# All bodies") or "Body[] bodies" in text.split("=" * 80)[0]
    msg_lines = [line for line in text.splitlines() if line.startswith("MSG: ")]
    assert msg_lines[:3] == ["MSG: std_msgs/Header", "MSG: builtin_interfaces/Time", "MSG: scorehmr_ros/Body"]
    assert len(msg_lines) == len(set(msg_lines))
    assert "MSG: sensor_msgs/RegionOfInterest" in message_definition("sensor_msgs/msg/CameraInfo")
    assert parse_topics("/a:sensor_msgs/msg/Image, /b/c:tf2_msgs/TFMessage") == [
        ("/a", "sensor_msgs/msg/Image"),
        ("/b/c", "tf2_msgs/TFMessage"),
    ]
    with pytest.raises(ValueError):
        parse_topics("/a")

    from mcap.writer import Writer

    body = Body(body_id="7", betas=[0.5, -1.0])
    body.joints[3].y = 2.5
    msgs = [
        ("/img", Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))),
        ("/info", CameraInfo(k=[float(i) for i in range(9)], d=[0.0] * 5, distortion_model="plumb_bob")),
        ("/bodies", BodyArray(bodies=[body])),
        ("/tf", TFMessage(transforms=[TransformStamped(child_frame_id="cam1_optical_frame")])),
    ]
    path = tmp_path / "defs.mcap"
    with open(path, "wb") as fh:
        writer = Writer(fh)
        writer.start(profile="ros2", library="test")
        for i, (topic, msg) in enumerate(msgs):
            name = type_name_of(type(msg))
            sid = writer.register_schema(
                name=name, encoding="ros2msg", data=message_definition(name).encode()
            )
            cid = writer.register_channel(topic=topic, message_encoding="cdr", schema_id=sid)
            writer.add_message(channel_id=cid, log_time=i, publish_time=i, data=serialize_message(msg))
        writer.finish()
    decoded = {m.channel.topic: m for m in read_ros2_messages(str(path))}
    assert decoded["/img"].schema.name == "sensor_msgs/msg/Image"
    assert bytes(decoded["/img"].ros_msg.data) == bytes(range(18))
    assert list(decoded["/info"].ros_msg.k) == [float(i) for i in range(9)]
    b = decoded["/bodies"].ros_msg.bodies[0]
    assert decoded["/bodies"].schema.name == "scorehmr_ros/msg/BodyArray"
    assert b.body_id == "7" and list(b.betas) == [0.5, -1.0] and b.joints[3].y == 2.5 and len(b.pose) == 24
    assert decoded["/tf"].ros_msg.transforms[0].child_frame_id == "cam1_optical_frame"
    assert read_mcap_summary(path) == {"/img": 1, "/info": 1, "/bodies": 1, "/tf": 1}


# --------------------------------------------------------------------------------------------
# Replay + recorder over DDS (one run shared by the tests below)
# --------------------------------------------------------------------------------------------
class _Probe:
    def __init__(self, node, cameras):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        from scorehmr_ros.msg import BodyArray
        from scorehmr_ros.ros.replay import GROUND_TRUTH_TOPIC

        self.images = {c: [] for c in cameras}
        self.infos = {c: [] for c in cameras}
        self.ground_truth = []
        for c in cameras:
            node.create_subscription(Image, f"/{c}/image_raw", self.images[c].append, qos_profile_sensor_data)
            node.create_subscription(
                CameraInfo, f"/{c}/camera_info", self.infos[c].append, qos_profile_sensor_data
            )
        node.create_subscription(BodyArray, GROUND_TRUTH_TOPIC, self.ground_truth.append, 10)

    def complete(self, n):
        return (
            all(len(v) >= n for v in self.images.values())
            and all(len(v) >= n for v in self.infos.values())
            and len(self.ground_truth) >= n
        )


@pytest.fixture(scope="module")
def replay_run(sequence, tmp_path_factory):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from tf2_msgs.msg import TFMessage

    from scorehmr_ros.ros.recorder import McapRecorder
    from scorehmr_ros.ros.replay import GROUND_TRUTH_TOPIC, ReplayNode
    from scorehmr_ros.ros.tf import STATIC_QOS

    out = tmp_path_factory.mktemp("mcap") / "replay.mcap"
    topics = [(f"/{c}/image_raw", "sensor_msgs/msg/Image") for c in CAMERAS]
    topics += [(f"/{c}/camera_info", "sensor_msgs/msg/CameraInfo") for c in CAMERAS]
    topics += [(GROUND_TRUTH_TOPIC, "scorehmr_ros/msg/BodyArray"), ("/tf_static", "tf2_msgs/msg/TFMessage")]

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []
    try:
        recorder = McapRecorder(out, topics, context=context)
        probe_node = rclpy.create_node("replay_probe", context=context)
        probe = _Probe(probe_node, CAMERAS)
        replay = ReplayNode(
            sequence,
            context=context,
            parameter_overrides=[
                Parameter("loops", value=1),
                Parameter("wait_for_subscribers", value=2),  # the probe and the recorder
                Parameter("start_delay", value=0.3),
                Parameter("rate_scale", value=0.5),
            ],
        )
        nodes = [recorder, probe_node, replay]
        for n in nodes:
            executor.add_node(n)

        def spin_until(cond, timeout):
            end = time.monotonic() + timeout
            while time.monotonic() < end and not cond():
                executor.spin_once(timeout_sec=0.05)
            return cond()

        assert spin_until(lambda: replay.done and probe.complete(NUM_FRAMES), 30.0), "replay did not finish"
        spin_until(lambda: False, 0.3)  # stragglers (there should be none)

        # A subscriber that joins after the replay finished still gets the static extrinsics.
        late_node = rclpy.create_node("late_tf_listener", context=context)
        nodes.append(late_node)
        executor.add_node(late_node)
        static = []
        late_node.create_subscription(TFMessage, "/tf_static", static.append, STATIC_QOS)
        assert spin_until(lambda: static, 10.0), "no /tf_static for a late subscriber"
        recorder.close()
        yield {"probe": probe, "static": static, "mcap": out, "topics": topics, "replay": replay}
    finally:
        for n in nodes:
            executor.remove_node(n)
            n.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)


def _stamp_ns(header):
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def test_replay_images_and_camera_infos(replay_run, sequence):
    probe = replay_run["probe"]
    from scorehmr_ros.ros.image_conversion import imgmsg_to_cv2

    assert replay_run["replay"].frames_published == NUM_FRAMES
    for v, c in enumerate(CAMERAS):
        assert len(probe.images[c]) == NUM_FRAMES and len(probe.infos[c]) == NUM_FRAMES
        for i, (img, info) in enumerate(zip(probe.images[c], probe.infos[c], strict=True)):
            assert img.header.frame_id == info.header.frame_id == f"{c}_optical_frame"
            assert img.encoding == "rgb8" and (img.width, img.height) == (160, 120)
            np.testing.assert_array_equal(imgmsg_to_cv2(img), sequence.images[i, v])
            assert _stamp_ns(img.header) == _stamp_ns(info.header)
            assert (info.width, info.height) == (160, 120) and info.distortion_model == "plumb_bob"
            assert list(info.d) == [0.0] * 5
            np.testing.assert_allclose(np.reshape(info.k, (3, 3)), sequence.K[v])
            np.testing.assert_allclose(np.reshape(info.p, (3, 4))[:, :3], sequence.K[v])
            np.testing.assert_allclose(np.reshape(info.p, (3, 4))[:, 3], 0.0)
    # Same stamp for every camera of a frame; stamps increase frame to frame.
    stamps = np.array([[_stamp_ns(m.header) for m in probe.images[c]] for c in CAMERAS])
    assert (stamps == stamps[0]).all()
    assert (np.diff(stamps[0]) > 0).all()


def test_replay_static_extrinsics(replay_run, sequence):
    import roma

    transforms = {t.child_frame_id: t for msg in replay_run["static"] for t in msg.transforms}
    assert set(transforms) == {f"{c}_optical_frame" for c in CAMERAS}
    for v, c in enumerate(CAMERAS):
        tf = transforms[f"{c}_optical_frame"]
        assert tf.header.frame_id == "world"
        tr, q = tf.transform.translation, tf.transform.rotation
        center = -sequence.R[v].T @ sequence.t[v]
        np.testing.assert_allclose([tr.x, tr.y, tr.z], center, atol=1e-6)
        rot = roma.unitquat_to_rotmat(torch.tensor([q.x, q.y, q.z, q.w], dtype=torch.float64)).numpy()
        np.testing.assert_allclose(rot, sequence.R[v].T, atol=1e-6)  # camera axes in the world
        # A world joint expressed through the TF chain lands on the camera-frame joint.
        j = sequence.joints_world[0, 0]
        np.testing.assert_allclose(rot.T @ (j - center), sequence.R[v] @ j + sequence.t[v], atol=1e-5)


def test_replay_ground_truth(replay_run, sequence):
    from scorehmr_ros.ros.messages import body_from_msg

    probe = replay_run["probe"]
    assert len(probe.ground_truth) == NUM_FRAMES
    image_stamps = [_stamp_ns(m.header) for m in probe.images["cam1"]]
    for i, msg in enumerate(probe.ground_truth):
        assert msg.header.frame_id == "cam1_optical_frame" and _stamp_ns(msg.header) == image_stamps[i]
        assert len(msg.bodies) == 1
        body = body_from_msg(msg.bodies[0])
        expected = sequence.joints_world[i] @ sequence.R[0].T + sequence.t[0]
        np.testing.assert_allclose(body.joints, expected, atol=1e-6)
        np.testing.assert_allclose(body.rotations[0], sequence.R[0] @ sequence.rotations[i, 0], atol=1e-5)
        np.testing.assert_allclose(body.betas, sequence.betas, atol=1e-6)
        assert body.view_frame_ids == [f"{c}_optical_frame" for c in CAMERAS]


def test_body_model_agrees_with_ground_truth_translation(sequence):
    """The ground-truth (rotations, betas, translation) in cam1 reproduce the cam1 joints."""
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.ros.replay import ground_truth_body

    _assert_body_model_reproduces_joints(load_body_model(), ground_truth_body(sequence, 2, 0))


def _assert_body_model_reproduces_joints(bm, gt) -> None:
    """The ground truth's (rotations, betas, translation) give back its joints through ``bm``."""
    rot = torch.as_tensor(gt.rotations, dtype=torch.float32)
    with torch.no_grad():
        out = bm(
            rot[None, 0],
            rot[None, 1:],
            torch.as_tensor(gt.betas, dtype=torch.float32)[None],
            torch.as_tensor(gt.translation, dtype=torch.float32)[None],
        )
    np.testing.assert_allclose(out.joints[0, :24].numpy(), gt.joints, atol=1e-4)


def test_ground_truth_of_every_person_of_a_multi_person_sequence():
    """people > 1: one ground-truth body per person, each reproducing that person's cam1 joints
    through the body model (a swapped or shared person track fails it)."""
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.ros.replay import ground_truth_body
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    bm = load_body_model()
    seq = build_multi_sequence(2, 2, seed=0, num_frames=2, frame_stride=2, spacing=1.2)
    for person in range(2):
        gt = ground_truth_body(seq, 1, 0, person)
        assert gt.body_id == str(person)
        np.testing.assert_allclose(gt.joints, seq.joints_in_camera(person, 0)[1], atol=1e-6)
        _assert_body_model_reproduces_joints(bm, gt)


def test_recorder_mcap(replay_run, sequence):
    from mcap_ros2.reader import read_ros2_messages

    from scorehmr_ros.ros.recorder import read_mcap_summary
    from scorehmr_ros.ros.replay import GROUND_TRUTH_TOPIC

    path = replay_run["mcap"]
    counts = read_mcap_summary(path)
    expected = {t: NUM_FRAMES for t, _ in replay_run["topics"]}
    expected["/tf_static"] = 1
    assert counts == expected

    decoded = list(read_ros2_messages(str(path)))
    assert len(decoded) == sum(expected.values())
    by_topic: dict[str, list] = {}
    for m in decoded:
        assert m.channel.message_encoding == "cdr" and m.schema.encoding == "ros2msg"
        by_topic.setdefault(m.channel.topic, []).append(m)
    assert by_topic[GROUND_TRUTH_TOPIC][0].schema.name == "scorehmr_ros/msg/BodyArray"
    assert by_topic["/cam2/image_raw"][0].schema.name == "sensor_msgs/msg/Image"

    probe = replay_run["probe"]
    # One image byte-exact (the recorded order of a reliable-less topic is the reception order).
    rec = sorted(by_topic["/cam2/image_raw"], key=lambda m: _stamp_ns(m.ros_msg.header))
    img = rec[2].ros_msg
    assert (img.width, img.height, img.encoding, img.header.frame_id) == (
        160,
        120,
        "rgb8",
        "cam2_optical_frame",
    )
    assert bytes(img.data) == sequence.images[2, 1].tobytes()
    assert _stamp_ns(img.header) == _stamp_ns(probe.images["cam2"][2].header)
    info = by_topic["/cam3/camera_info"][0].ros_msg
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), sequence.K[2])
    gt = sorted(by_topic[GROUND_TRUTH_TOPIC], key=lambda m: _stamp_ns(m.ros_msg.header))
    joints = np.array([[p.x, p.y, p.z] for p in gt[1].ros_msg.bodies[0].joints])
    np.testing.assert_allclose(joints, sequence.joints_world[1] @ sequence.R[0].T + sequence.t[0], atol=1e-6)
    tf = by_topic["/tf_static"][0].ros_msg.transforms
    assert {t.child_frame_id for t in tf} == {f"{c}_optical_frame" for c in CAMERAS}


def test_nodes_from_parameters(ros_context, cache_dir, tmp_path):
    """Both nodes can be configured through ROS parameters alone (as from a launch file)."""
    from rclpy.parameter import Parameter

    from scorehmr_ros.ros.recorder import McapRecorder, read_mcap_summary
    from scorehmr_ros.ros.replay import ReplayNode

    replay = ReplayNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("views", value=3),
            Parameter("seed", value=1),
            Parameter("frames", value=4),
            Parameter("image_width", value=160),
            Parameter("image_height", value=120),
            Parameter("cache_dir", value=str(cache_dir)),  # the module's cached sequence
            Parameter("publish_extrinsics", value=False),
        ],
    )
    try:
        assert replay.sequence.images.shape == (NUM_FRAMES, NUM_VIEWS, 120, 160, 3)
        assert replay.frame_ids == [f"{c}_optical_frame" for c in CAMERAS]
        assert replay.loops == 0 and not replay.done
    finally:
        replay.destroy_node()

    out = tmp_path / "empty.mcap"
    recorder = McapRecorder(
        context=ros_context,
        parameter_overrides=[
            Parameter("output", value=str(out)),
            Parameter("topics", value=["/nobody/here:sensor_msgs/msg/Image"]),
        ],
    )
    recorder.destroy_node()  # closes the file
    assert read_mcap_summary(out) == {"/nobody/here": 0}


def test_recorder_max_rates(ros_context, tmp_path):
    """``max_rates`` keeps at most hz messages per second of a topic; other topics keep everything."""
    from scorehmr_ros.ros.recorder import McapRecorder, parse_max_rates, read_mcap_summary

    assert parse_max_rates(["/cam1/image_raw=2", "/a/b=0.5"]) == {"/cam1/image_raw": 2.0, "/a/b": 0.5}
    for bad in ("cam1=2", "/cam1/image_raw", "/x=0"):
        with pytest.raises(ValueError):
            parse_max_rates([bad])
    topics = [
        ("/cam1/image_raw", "sensor_msgs/msg/Image"),
        ("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
    ]
    with pytest.raises(ValueError, match="not recorded"):
        McapRecorder(tmp_path / "x.mcap", topics, max_rates={"/other": 1.0}, context=ros_context)
    out = tmp_path / "rated.mcap"
    recorder = McapRecorder(out, topics, max_rates={"/cam1/image_raw": 2.0}, context=ros_context)
    try:
        t0 = 1_000_000_000_000
        for i in range(30):  # 30 Hz for 1 s: written at 0, 0.5 s (and not 0.467 s)
            info = {"received_timestamp": t0 + i * 33_333_333, "source_timestamp": 0}
            recorder._on_message("/cam1/image_raw", b"\x00\x01\x00\x00", info)
            recorder._on_message("/diagnostics", b"\x00\x01\x00\x00", info)
    finally:
        recorder.destroy_node()
    assert read_mcap_summary(out) == {"/cam1/image_raw": 2, "/diagnostics": 30}
    assert recorder.skipped == {"/cam1/image_raw": 28}
