"""Input checks of the multi-camera node (ros/validation.py), numpy rotations and the fast marker
serialisation: pure functions, no DDS."""

import subprocess
import sys

import numpy as np
import pytest

from scorehmr_ros.ros import validation
from scorehmr_ros.ros.diagnostics import OK, WARN
from scorehmr_ros.ros.node_diagnostics import NodeMetrics

K_GOOD = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]


def _k(fx=500.0, fy=500.0, cx=320.0, cy=240.0):
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


def test_plausible_intrinsics_pass():
    assert validation.check_intrinsics(K_GOOD, 640, 480) is None
    assert validation.check_intrinsics(_k(fx=100, fy=100), 640, 480) is None  # wide angle


@pytest.mark.parametrize(
    "k",
    [
        _k(fx=1e-6, fy=1e-6),  # near-zero focal length
        _k(fx=0.0, fy=0.0),
        _k(fx=1e6, fy=1e6),
        _k(fx=500, fy=2000),  # aspect 4
        _k(cx=5000.0),  # principal point far outside the image
        _k(cy=-300.0),
        [float("nan")] * 9,
        [500.0, 0, 320, 0, 500, 240, 0, 1, 1],  # bad last row
    ],
)
def test_implausible_intrinsics_dropped(k):
    reason, detail = validation.check_intrinsics(k, 640, 480)
    assert reason == "bad_intrinsics" and detail


def test_frame_ids():
    assert validation.check_frame_id("cam1_optical_frame") is None
    for bad in ("", "  ", "/cam1", " cam1"):
        assert validation.check_frame_id(bad)[0] == "bad_frame_id"


def test_stamp_window():
    now = 100 * 10**9
    assert validation.check_stamp(now - 10**9, now, 5.0, 1.0) is None
    assert validation.check_stamp(now - 6 * 10**9, now, 5.0, 1.0)[0] == "bad_stamp"
    assert validation.check_stamp(now + 2 * 10**9, now, 5.0, 1.0)[0] == "bad_stamp"


def test_keypoint_checks():
    xy, conf = np.zeros((33, 2)), np.ones(33)
    assert validation.check_keypoints("blazepose33", xy, conf, "blazepose33", 33) is None
    assert validation.check_keypoints("coco17", xy, conf, "blazepose33", 33)[0] == "bad_keypoints"
    assert (
        validation.check_keypoints("blazepose33", xy[:17], conf[:17], "blazepose33", 33)[0] == "bad_keypoints"
    )
    xy[3, 0], conf[5] = np.nan, np.inf
    assert validation.nonfinite_keypoints(xy, conf) == 2


def _tf(x):
    T = np.eye(4)
    T[0, 3] = x
    return T


def test_camera_missing_from_tf_static_is_dropped_not_uncalibrated():
    cams = ["cam1", "cam2", "cam3"]
    frames = {c: f"{c}_optical" for c in cams}
    static = {"cam1_optical": ("world", _tf(0.0)), "cam3_optical": ("world", _tf(2.0))}
    cam_to_ref, missing, fixed = validation.calibrated_cameras(cams, frames, static)
    assert set(cam_to_ref) == {"cam1", "cam3"} and missing == ["cam2"] and fixed == "world"
    np.testing.assert_allclose(cam_to_ref["cam3"][0, 3], 2.0)
    # The first camera missing: the transforms still map into the shared parent (the fixed frame).
    static = {"cam2_optical": ("world", _tf(1.0)), "cam3_optical": ("world", _tf(2.0))}
    cam_to_ref, missing, fixed = validation.calibrated_cameras(cams, frames, static)
    assert missing == ["cam1"] and fixed == "world"
    np.testing.assert_allclose(cam_to_ref["cam2"], _tf(1.0))
    # No extrinsics at all: uncalibrated mode, nothing dropped.
    assert validation.calibrated_cameras(cams, frames, {}) == ({}, [], None)


def test_camera_levels_recover_once_drops_stop():
    t = [0.0]
    m = NodeMetrics(["cam1"], window_s=5.0, clock=lambda: t[0])
    for _ in range(10):
        m.received("cam1")
        t[0] += 0.1
    m.drop("cam1", "bad_intrinsics")
    level, _, values = m.camera_statuses()["cam1"]
    assert level == WARN and values["bad_intrinsics"] == 1 and values["drops_recent"] == 1
    assert values["input_rate_hz"] == pytest.approx(10 / 5.0)
    for _ in range(70):  # 7 s of messages without drops
        m.received("cam1")
        t[0] += 0.1
    level, message, values = m.camera_statuses()["cam1"]
    assert level == OK and message == "receiving" and values["drops_recent"] == 0
    assert values["bad_intrinsics"] == 1  # the total stays


def test_rotations_match_roma():
    import roma
    import torch

    from scorehmr_ros.ros.rotations import quat_to_rotmat, rotmat_to_quat, rotmat_to_rotvec

    R = roma.random_rotmat(500, dtype=torch.float64)
    R[0] = torch.eye(3, dtype=torch.float64)
    R[1] = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))  # 180 degrees
    q = rotmat_to_quat(R.numpy())
    ref = roma.rotmat_to_unitquat(R).numpy()
    ref[ref[:, 3] < 0] *= -1
    np.testing.assert_allclose(q, ref, atol=1e-12)
    np.testing.assert_allclose(quat_to_rotmat(q), R.numpy(), atol=1e-12)
    rv = rotmat_to_rotvec(R.numpy())
    np.testing.assert_allclose(roma.rotvec_to_rotmat(torch.from_numpy(rv)).numpy(), R.numpy(), atol=1e-12)


def test_fast_marker_bytes_equal_the_message():
    from rclpy.serialization import deserialize_message, serialize_message
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from scorehmr_ros.ros.outputs import mesh_marker, serialize_markers, skeleton_marker

    rng = np.random.default_rng(0)
    V, F, J = rng.normal(size=(500, 3)), rng.integers(0, 500, (900, 3)), rng.normal(size=(24, 3))
    h = Header(frame_id="cam1_optical_frame")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    for frame in ("c", "ab", "abcd", "cam1_optical_frame", "abcdefg"):  # alignments before the points
        h.frame_id = frame
        ref = MarkerArray(
            markers=[mesh_marker(h, "b0", V, F, lifetime_s=0.5), skeleton_marker(h, "b0", J, lifetime_s=0.5)]
        )
        fast = serialize_markers(h, "b0", J, V, F, lifetime_s=0.5)
        # Same length and message (CDR padding bytes are not initialised: compare decoded).
        assert len(fast) == len(serialize_message(ref))
        assert deserialize_message(fast, MarkerArray) == deserialize_message(
            serialize_message(ref), MarkerArray
        )
    msg = deserialize_message(serialize_markers(h, "b0", J, V, F, 0.5), MarkerArray)
    assert len(msg.markers[0].points) == 2700 and msg.markers[0].lifetime.nanosec == 500_000_000


def test_node_module_imports_no_torch():
    code = (
        "import sys; import scorehmr_ros.ros.multiview_node; "
        "bad = [m for m in ('torch', 'roma') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_distortion_checks():
    assert validation.check_distortion("", []) is None
    assert validation.check_distortion("plumb_bob", [0.0] * 5) is None
    assert validation.check_distortion("plumb_bob", [-0.2, 0.05, 0.0, 0.0, 0.0]) is None
    assert validation.check_distortion("equidistant", [0.0] * 4) is None
    for model, d in (
        ("fov", [0.9]),
        ("", [0.1, 0.0, 0.0, 0.0, 0.0]),
        ("plumb_bob", [0.1, 0.0]),
        ("rational_polynomial", [0.1] * 5),
        ("plumb_bob", [np.nan, 0.0, 0.0, 0.0, 0.0]),
    ):
        reason, detail = validation.check_distortion(model, d)
        assert reason == "bad_distortion" and "CameraInfo distortion" in detail
    np.testing.assert_array_equal(
        validation.rectified_intrinsics(list(range(12))), [[0, 1, 2], [4, 5, 6], [8, 9, 10]]
    )
    assert np.isnan(validation.rectified_intrinsics([])).all()


def _converter(**params):
    from scorehmr_ros.ros.set_conversion import SetConverter

    drops = []
    p = {"use_extrinsics": False, "rectified_input": False, "max_stamp_age_s": 5.0, "max_stamp_future_s": 1.0}
    p.update(params)
    metrics = NodeMetrics(["cam1"], window_s=5.0)
    conv = SetConverter(["cam1"], p, metrics, lambda cam, reason, detail, dropped=True: drops.append(reason))
    return conv, drops


def _info(model, d, k_scale=1.0):
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    msg = CameraInfo()
    msg.header = Header(frame_id="cam1_optical_frame")
    msg.width, msg.height = 640, 480
    msg.k = [500.0 * k_scale, 0.0, 320.0, 0.0, 500.0 * k_scale, 240.0, 0.0, 0.0, 1.0]
    msg.p = [450.0, 0.0, 310.0, 0.0, 0.0, 452.0, 242.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.distortion_model, msg.d = model, list(d)
    return msg


def _keypoints_msg():
    from std_msgs.msg import Header

    from scorehmr_ros.ros.messages import keypoints_to_msg

    xy = np.random.default_rng(0).uniform(100, 400, (33, 2))
    return keypoints_to_msg(Header(frame_id="cam1_optical_frame"), "blazepose33", xy, np.ones(33), (640, 480))


def test_set_conversion_passes_the_lens_on_or_uses_the_rectified_projection():
    """Raw cameras: CameraInfo K and its distortion reach the compute job (the estimator undistorts);
    ``rectified_input``: P's left 3x3 and no distortion; a lens the node cannot undistort: the view
    is dropped as ``bad_distortion``."""
    msg = _keypoints_msg()
    conv, drops = _converter()
    conv.on_info("cam1", _info("plumb_bob", [-0.2, 0.05, 0.001, 0.0, 0.0]))
    view = conv._view_job("cam1", msg, {}, None)
    assert view.distortion is not None and view.distortion.model == "plumb_bob"
    assert view.distortion.coefficients == (-0.2, 0.05, 0.001, 0.0, 0.0)
    np.testing.assert_allclose(view.K[0], [500.0, 0.0, 320.0])
    conv.on_info("cam1", _info("plumb_bob", [0.0] * 5))
    assert conv._view_job("cam1", msg, {}, None).distortion is None
    rect, _ = _converter(rectified_input=True)
    rect.on_info("cam1", _info("plumb_bob", [-0.2, 0.05, 0.001, 0.0, 0.0]))
    view = rect._view_job("cam1", msg, {}, None)
    assert view.distortion is None
    np.testing.assert_allclose(view.K, [[450.0, 0.0, 310.0], [0.0, 452.0, 242.0], [0.0, 0.0, 1.0]])
    conv.on_info("cam1", _info("kannala_brandt", [0.1, 0.0, 0.0, 0.0]))
    assert conv._view_job("cam1", msg, {}, None) is None and drops == ["bad_distortion"]


def test_transforms_tf2_would_reject_are_ignored_and_counted():
    """A NaN or non-unit-quaternion transform on /tf_static is ignored (tf2's BufferCore rejects
    them too): the frame keeps its last good transform, the problem is counted and logged."""
    from tf2_msgs.msg import TFMessage

    from scorehmr_ros.ros.tf import make_transform, static_transforms, transform_problem

    good = make_transform("world", "cam1_optical_frame", _stamp(), (1.0, 2.0, 3.0))
    assert transform_problem(good) is None
    nan = make_transform("world", "cam1_optical_frame", _stamp(), (np.nan, 0.0, 0.0))
    zero = make_transform("world", "cam2_optical_frame", _stamp(), (0.0, 0.0, 0.0))
    zero.transform.rotation.w = 0.0  # a zero quaternion
    loop = make_transform("cam3_optical_frame", "cam3_optical_frame", _stamp(), (0.0, 0.0, 0.0))
    assert "non-finite" in transform_problem(nan)
    assert "norm 0" in transform_problem(zero)
    assert "frame ids" in transform_problem(loop)
    problems = []
    assert static_transforms(TFMessage(transforms=[nan, zero, loop]), problems) == {}
    assert [child for child, _ in problems] == [f"cam{i}_optical_frame" for i in (1, 2, 3)]

    conv, _ = _converter(use_extrinsics=True)
    warnings = []
    conv.warn = warnings.append
    conv.on_static_tf(TFMessage(transforms=[good]))
    conv.on_static_tf(TFMessage(transforms=[nan, zero]))
    parent, T = conv.static_tf["cam1_optical_frame"]
    assert parent == "world" and np.isfinite(T).all() and T[0, 3] == 1.0
    assert "cam2_optical_frame" not in conv.static_tf
    assert conv.metrics.counters["bad_transforms"] == 2 and len(warnings) == 2
    assert "ignoring a non-finite transform" in warnings[0]


def _stamp():
    from builtin_interfaces.msg import Time

    return Time(sec=1, nanosec=0)


def test_binning_and_roi_give_the_published_image_s_camera():
    """REP-104: K is the full-resolution calibration; an image published with an ROI and binning
    has its own pinhole camera. A 3D point projects with the derived K onto the same image pixel
    as (full-resolution pixel - ROI offset) / binning, and the expected image size follows."""
    info = _info("plumb_bob", [])
    info.width, info.height = 1280, 960
    info.k = [1000.0, 0.0, 650.0, 0.0, 1005.0, 470.0, 0.0, 0.0, 1.0]
    info.binning_x, info.binning_y = 2, 2
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 100, 60, 800, 600
    assert validation.check_binning_roi(info) is None
    K, size = validation.binned_roi_camera(info.k, info)
    assert size == (400, 300)
    X = np.array([[0.3, -0.2, 2.5], [-0.1, 0.25, 3.0]])
    full = X @ np.asarray(info.k).reshape(3, 3).T
    full = full[:, :2] / full[:, 2:]
    mine = X @ K.T
    np.testing.assert_allclose(mine[:, :2] / mine[:, 2:], (full - [100, 60]) / 2.0)
    info.roi.width = 0  # unset ROI: the whole image, binned
    K, size = validation.binned_roi_camera(info.k, info)
    assert size == (640, 480) and K[0, 2] == 325.0
    info.binning_x = 0  # 0 means no binning
    assert validation.binned_roi_camera(info.k, info)[1] == (1280, 480)
    info.roi.width, info.roi.x_offset = 800, 600  # 600 + 800 > 1280
    assert validation.check_binning_roi(info)[0] == "bad_intrinsics"


def test_set_conversion_uses_the_binned_camera():
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    conv, drops = _converter()
    info = _info("plumb_bob", [])
    info.binning_x = info.binning_y = 2
    conv.on_info("cam1", info)
    view = conv._view_job("cam1", _keypoints_msg(), {}, None)
    np.testing.assert_allclose(view.K, [[250.0, 0.0, 160.0], [0.0, 250.0, 120.0], [0.0, 0.0, 1.0]])
    assert view.size == (320, 240)
    header = Header(frame_id="cam1_optical_frame")
    for w, h, ok in ((320, 240, True), (640, 480, False)):
        image = Image(header=header, width=w, height=h, encoding="rgb8", step=3 * w, data=bytes(3 * w * h))
        assert (conv._view_job("cam1", image, {}, None) is not None) == ok
    assert drops == ["size_mismatch"]
