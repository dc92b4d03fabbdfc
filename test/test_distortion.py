"""Lens distortion (core/distortion.py) against OpenCV's projection semantics, and through the
estimator: keypoints of a distorted wide-angle rig give the body the ideal keypoints give."""

import cv2
import numpy as np
import pytest
import torch

from scorehmr_ros.core.distortion import Distortion, distortion_problem

K = np.array([[300.0, 0.0, 330.0], [0.0, 302.0, 236.0], [0.0, 0.0, 1.0]])
LENSES = {
    "plumb_bob": (-0.28, 0.09, 0.0005, -0.0008, -0.012),
    "rational_polynomial": (1.8, 0.4, 0.0007, -0.0004, 0.01, 2.1, 0.9, 0.08),
    "equidistant": (0.03, -0.01, 0.002, -0.0005),
}


def _rays(n=300, seed=0):
    """(n, 3) points in front of the camera, up to ~50 degrees off axis."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1.0, 1.0, (n, 2)) * np.array([1.1, 0.8])
    return np.concatenate([xy, np.ones((n, 1))], axis=1) * rng.uniform(1.0, 5.0, (n, 1))


def _pinhole(X, K):
    uvw = X @ K.T
    return uvw[:, :2] / uvw[:, 2:]


@pytest.mark.parametrize("model", list(LENSES))
def test_distort_matches_opencv_projection_and_undistort_inverts_it(model):
    D = Distortion(model, LENSES[model])
    X = _rays()
    zero = np.zeros(3)
    coeffs = np.array(LENSES[model])
    if model == "equidistant":
        expected, _ = cv2.fisheye.projectPoints(X.reshape(-1, 1, 3), zero, zero, K, coeffs)
    else:
        expected, _ = cv2.projectPoints(X.reshape(-1, 1, 3), zero, zero, K, coeffs)
    raw = D.distort(_pinhole(X, K), K)
    np.testing.assert_allclose(raw, expected.reshape(-1, 2), atol=1e-6)
    assert np.abs(raw - _pinhole(X, K)).max() > 20.0  # a lens that matters at the edges
    np.testing.assert_allclose(D.undistort(raw, K), _pinhole(X, K), atol=1e-5)


def test_undistort_is_exact_where_opencv_default_iterations_are_not():
    D = Distortion("plumb_bob", LENSES["plumb_bob"])
    ideal = _pinhole(_rays(), K)
    raw = D.distort(ideal, K)
    default = cv2.undistortPoints(raw.reshape(-1, 1, 2), K, np.array(LENSES["plumb_bob"]), P=K)
    assert np.abs(default.reshape(-1, 2) - ideal).max() > 0.1
    assert np.abs(D.undistort(raw, K) - ideal).max() < 1e-5


def test_nonfinite_rows_stay_nan_and_others_are_converted():
    D = Distortion("plumb_bob", LENSES["plumb_bob"])
    xy = np.array([[100.0, 120.0], [np.nan, 3.0], [500.0, np.inf]])
    for out in (D.undistort(xy, K), D.distort(xy, K)):
        assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()


def test_camera_info_without_distortion_and_invalid_ones():
    assert Distortion.from_camera_info("plumb_bob", []) is None
    assert Distortion.from_camera_info("plumb_bob", [0.0] * 5) is None
    assert Distortion.from_camera_info("rational_polynomial", [0.0] * 8) is None
    # Zero equidistant coefficients are still a fisheye lens (angle, not tangent, on the image).
    fisheye = Distortion.from_camera_info("equidistant", [0.0] * 4)
    assert fisheye is not None
    assert np.abs(fisheye.distort(_pinhole(_rays(), K), K) - _pinhole(_rays(), K)).max() > 20.0
    assert Distortion.from_camera_info("plumb_bob", [-0.1, 0.01, 0.0, 0.0]).coefficients[0] == -0.1
    for model, d, words in (
        ("kannala_brandt", [0.1] * 4, "not supported"),
        ("plumb_bob", [0.1] * 3, "takes 4 or 5"),
        ("equidistant", [0.1] * 5, "takes 4"),
        ("plumb_bob", [0.1, np.nan, 0.0, 0.0, 0.0], "not finite"),
    ):
        assert words in distortion_problem(model, d)
        with pytest.raises(ValueError, match=words):
            Distortion.from_camera_info(model, d)


# -- through the estimator -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide_rig():
    """A held-out scene re-seen by wide-angle cameras turned 30 degrees away from the person (who
    is then near an image edge, where the lens bends most): 3D keypoints, confidences, per-view
    world -> camera (4, 4), the wide K and the image size."""
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.eval.heldout import heldout_scenes

    scene = heldout_scenes(load_body_model(), num_views=3, seed=5, frame_stride=3, max_frames=2)[1]
    K_wide = np.array([[260.0, 0.0, 320.0], [0.0, 260.0, 240.0], [0.0, 0.0, 1.0]])
    extrinsics = []
    for v, angle in enumerate((30.0, -30.0, 30.0)):
        a = np.radians(angle)
        turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        E = np.eye(4)
        E[:3, :3] = turn @ scene.cameras.R[v].double().numpy()
        E[:3, 3] = turn @ scene.cameras.t[v].double().numpy()
        extrinsics.append(E)
    return scene, extrinsics, K_wide


def _views(rig, t, lens, tell_lens, as_people=False):
    from scorehmr_ros import View

    scene, extrinsics, K_wide = rig
    views = []
    X = scene.keypoints3d_world[t].double().numpy()
    for v, E in enumerate(extrinsics):
        ideal = _pinhole(X @ E[:3, :3].T + E[:3, 3], K_wide)
        assert ((ideal > 0) & (ideal < (640, 480))).all(), "the person must stay in the image"
        xy = ideal if lens is None else lens.distort(ideal, K_wide)
        conf = scene.confidence[t, v].numpy()
        views.append(
            View(
                K_wide,
                keypoints=None if as_people else xy,
                confidence=None if as_people else conf,
                people=[(xy, conf)] if as_people else None,
                image_size=(640, 480),
                camera=f"cam{v + 1}",
                cam_to_ref=np.linalg.inv(E),
                reference="world",
                distortion=lens if tell_lens else None,
            )
        )
    return views


@pytest.mark.parametrize("max_people", [1, 2])
def test_distorted_keypoints_give_the_body_of_the_ideal_ones(wide_rig, max_people):
    """Keypoints through a fisheye lens, with the lens given, give the body the lens-free
    keypoints give (calibrated, one- and multi-person paths); ignoring the lens gives a worse body,
    or none when the views no longer agree on one person (multi-person association). The
    views' fits come back in the distorted image's pixels, on the keypoints given."""
    from scorehmr_ros import Estimator

    torch.manual_seed(0)
    est = Estimator.from_pretrained(preset="realtime", max_people=max_people)
    lens = Distortion("equidistant", LENSES["equidistant"])
    scene = wide_rig[0]
    multi = max_people > 1
    ideal = est.estimate_views(_views(wide_rig, 0, None, False, multi))[0]
    aware = est.estimate_views(_views(wide_rig, 0, lens, True, multi))[0]
    blind = est.estimate_views(_views(wide_rig, 0, lens, False, multi))  # views disagree: maybe none
    truth = scene.joints_world[0].numpy()

    def error(body):
        return float(np.linalg.norm(body.joints - truth, axis=-1).mean())

    assert float(np.abs(aware.joints - ideal.joints).max()) < 0.002
    assert error(aware) < 0.1
    assert not blind or error(blind[0]) > error(aware) + 0.03
    assert list(aware.views) == list(ideal.views)  # (multi-person: cam2 sees too few limb keypoints)
    given = _views(wide_rig, 0, lens, True)
    for v, view in enumerate(given):
        if view.camera not in aware.views:
            continue
        fit = aware.views[view.camera]
        np.testing.assert_allclose(fit.keypoints, view.keypoints, atol=1e-3)
        confident = scene.confidence[0, v].numpy() > 0.5
        assert np.linalg.norm(fit.projected - view.keypoints, axis=-1)[confident].mean() < 15.0
