"""MoveNet limb keypoints (core.limb_model): the real converted model, real renders, real detectors."""

from __future__ import annotations

import numpy as np
import pytest

from scorehmr_ros.core.fallback_detector import single_person_detector
from scorehmr_ros.core.keypoints import TORSO_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.limb_model import (
    LimbModelUnavailableError,
    MoveNetLimbs,
    check_limb_model,
    isolated,
    labels_mirrored,
    limb_indices,
    make_limb_model,
    person_roi,
    resolve_limb_model,
    use_limbs,
)
from scorehmr_ros.core.multiperson import MultiPersonPoseDetector

LIMBS = limb_indices()
_NAMES = get_layout("blazepose33").keypoint_names
TORSO = [_NAMES.index(n) for n in TORSO_KEYPOINT_NAMES]


def _truth(seq) -> list[np.ndarray]:
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.sim.multi_sequence import projected_landmarks

    return projected_landmarks(seq, load_body_model())


@pytest.fixture(scope="module")
def limbs():
    model = MoveNetLimbs()
    yield model
    model.close()


def test_limb_indices_name_the_limbs():
    from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES, get_layout

    names = get_layout("blazepose33").keypoint_names
    assert [names[i] for i in LIMBS] == list(LIMB_KEYPOINT_NAMES)


def test_movenet_limbs_are_closer_to_the_truth_than_blazepose_on_renders():
    """One held-out person, 3 cameras, 6 frames: the limb keypoints with MoveNet are nearer the body
    model's projected landmarks than BlazePose's (measured: median 3.5 -> 2.4 px, mean 5.0 -> 4.0)."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(1, 3, seed=0, num_frames=6, frame_stride=3)
    truth = _truth(seq)[0]
    errors = {}
    for name in ("none", "movenet_thunder"):
        e = []
        for v in range(seq.num_views):
            with single_person_detector(static_image_mode=True, limb_model=name) as det:
                for t in range(seq.num_frames):
                    d = det.detect(seq.images[t, v])
                    assert d is not None
                    e.append(np.linalg.norm(d.xy[LIMBS] - truth[t, v, LIMBS], axis=1))
        errors[name] = np.concatenate(e)
    before, after = errors["none"], errors["movenet_thunder"]
    assert np.median(after) < 0.8 * np.median(before), (np.median(after), np.median(before))
    assert after.mean() < 0.9 * before.mean(), (after.mean(), before.mean())


def test_refine_replaces_only_confident_limbs_and_leaves_its_inputs(limbs):
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(1, 1, seed=0, num_frames=1)
    image = seq.images[0, 0]
    with single_person_detector(static_image_mode=True) as det:
        d = det.detect(image)
    xy, conf = d.xy.copy(), d.confidence.copy()
    new_xy, new_conf = limbs.refine(image, d.xy, d.confidence)
    np.testing.assert_array_equal(d.xy, xy)  # inputs untouched
    np.testing.assert_array_equal(d.confidence, conf)
    others = np.setdiff1d(np.arange(33), LIMBS)
    np.testing.assert_array_equal(new_xy[others], xy[others])
    np.testing.assert_array_equal(new_conf[others], conf[others])
    assert (new_xy[LIMBS] != xy[LIMBS]).any(axis=1).sum() >= 10  # a clear person: MoveNet is confident
    # No finite landmark to place the crop: returned as they were, no exception.
    nan_xy = np.full_like(xy, np.nan)
    out_xy, out_conf = limbs.refine(image, nan_xy, conf)
    assert np.isnan(out_xy).all() and np.array_equal(out_conf, conf)
    # A blank image: MoveNet finds nothing confident, BlazePose's landmarks are kept as they were.
    blank = np.zeros_like(image)
    kept_xy, kept_conf = limbs.refine(blank, xy, conf)
    np.testing.assert_array_equal(kept_xy, xy)
    np.testing.assert_array_equal(kept_conf, conf)


def test_a_view_is_one_labelling(limbs):
    """A view is one labelling: where BlazePose names left what MoveNet names right (both models
    can take a person seen from behind as facing the camera, not always together), BlazePose's face,
    hands and feet go to MoveNet's sides, so they agree with the limbs."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    flip = list(get_layout("blazepose33").flip_permutation)
    seq = build_multi_sequence(1, 1, seed=0, num_frames=1)
    image = seq.images[0, 0]
    with single_person_detector(static_image_mode=True) as det:
        d = det.detect(image)
    xy, conf = limbs.refine(image, d.xy, d.confidence)
    swapped_xy, swapped_conf = limbs.refine(image, d.xy[flip], d.confidence[flip])  # BlazePose mirrored
    np.testing.assert_array_equal(swapped_xy, xy)
    np.testing.assert_array_equal(swapped_conf, conf)
    assert not labels_mirrored(xy[LIMBS], conf[LIMBS], d.xy[LIMBS], d.confidence[LIMBS])
    assert labels_mirrored(xy[flip][LIMBS], conf[flip][LIMBS], d.xy[LIMBS], d.confidence[LIMBS])
    nobody = np.zeros(12, np.float32)  # nothing confident in common: nothing decided
    assert not labels_mirrored(xy[LIMBS], nobody, d.xy[LIMBS], d.confidence[LIMBS])


def test_crop_and_isolation_rule():
    xy = np.array([[100.0, 100.0], [140.0, 300.0], [120.0, 200.0], [0.0, 0.0]])
    conf = np.array([0.9, 0.9, 0.9, 0.9])
    roi = person_roi(np.repeat(xy[:3], 2, 0), np.repeat(conf[:3], 2))  # no torso: not turned
    assert (roi.cx, roi.cy, roi.rotation) == (120.0, 200.0, 0.0) and roi.size == pytest.approx(1.25 * 200)
    far = np.array([400.0, 50.0, 500.0, 350.0])
    touching = np.array([230.0, 100.0, 330.0, 300.0])  # 15 of its 100 px width inside the crop
    assert isolated(roi, [far])
    assert not isolated(roi, [far, touching])
    assert isolated(roi, [])


@pytest.mark.parametrize("head", ["up", "right", "down"])
def test_the_crop_turns_the_torso_upright(head):
    """A person lying across the image (head to the right) or upside down: the crop is turned so
    that hips -> shoulders points up in it, and it holds every landmark."""
    rng = np.random.default_rng(0)
    upright = rng.uniform([-60, -150], [60, 150], (33, 2))  # (x, y) around the origin, head up (y < 0)
    upright[TORSO[:2]] = [[-25.0, -60.0], [25.0, -60.0]]  # shoulders above ...
    upright[TORSO[2:]] = [[-20.0, 40.0], [20.0, 40.0]]  # ... the hips
    angle = {"up": 0.0, "right": np.pi / 2, "down": np.pi}[head]
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    xy = upright @ R.T + [320.0, 240.0]
    roi = person_roi(xy, np.ones(33))
    m = roi.crop_to_image(1)
    in_crop = (xy - m[:, 2]) @ np.linalg.inv(m[:, :2]).T  # image px -> crop [0, 1]^2
    assert ((in_crop > 0) & (in_crop < 1)).all()
    shoulders, hips = in_crop[TORSO[:2]].mean(0), in_crop[TORSO[2:]].mean(0)
    up = shoulders - hips
    assert up[1] < 0 and abs(up[0]) < 1e-9 + 0.05 * abs(up[1])  # up in the crop
    assert not person_roi(xy, np.ones(33), rotate=False).rotation


def test_a_person_whose_crop_holds_a_neighbour_keeps_blazepose_limbs():
    """Two held-out people side by side: people whose MoveNet crop holds the other keep exactly the
    landmarks of limb_model 'none'; the others get MoveNet's limbs."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(2, 3, seed=0, num_frames=3, frame_stride=2, spacing=1.2)
    kept = changed = 0
    with (
        MultiPersonPoseDetector(max_people=3, num_threads=1) as plain,
        MultiPersonPoseDetector(max_people=3, num_threads=1, limb_model="movenet_thunder") as withlimbs,
    ):
        for t, v in np.ndindex(seq.num_frames, seq.num_views):
            a, b = plain.detect(seq.images[t, v]), withlimbs.detect(seq.images[t, v])
            assert len(a) == len(b)  # the same people, found by BlazePose alike
            for i, (p, q) in enumerate(zip(a, b, strict=True)):
                others = [o.box for j, o in enumerate(a) if j != i]
                np.testing.assert_array_equal(p.box, q.box)
                if isolated(person_roi(p.xy, p.confidence), others):
                    changed += int(not np.array_equal(p.xy[LIMBS], q.xy[LIMBS]))
                else:
                    np.testing.assert_array_equal(p.xy, q.xy)
                    kept += 1
    assert kept >= 1 and changed >= 1, (kept, changed)


def test_auto_is_movenet_for_one_person_and_blazepose_for_several():
    assert resolve_limb_model("auto", 1) == "movenet_thunder"
    assert resolve_limb_model("auto", 2) == "none"
    assert resolve_limb_model("movenet_thunder", 4) == "movenet_thunder"
    assert resolve_limb_model("none", 1) == "none"
    with pytest.raises(ValueError, match="limb_model"):
        resolve_limb_model("openpose", 1)
    with pytest.raises(ValueError, match="here"):
        make_limb_model("auto")  # resolved by whoever knows max_people


def test_missing_or_unknown_limb_model_is_reported(tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(LimbModelUnavailableError, match=r"fetch_movenet\.sh"):
        check_limb_model("movenet_thunder", 1, missing)
    with pytest.raises(LimbModelUnavailableError, match=r"fetch_movenet\.sh"):
        check_limb_model("auto", 1, missing)
    check_limb_model("auto", 3, missing)  # several people: BlazePose's landmarks, no model needed
    with pytest.raises(LimbModelUnavailableError, match="limb_model to 'none'"):
        MoveNetLimbs(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="limb_model"):
        make_limb_model("openpose")
    check_limb_model("none", 1, missing)  # nothing to load
    assert make_limb_model("none") is None


def test_auto_takes_movenet_limbs_in_calibrated_sets_only():
    """The Estimator's default ("auto"): a calibrated 3-view set of one person gets MoveNet's limb
    keypoints; the same images as an uncalibrated set (and one photo) keep BlazePose's landmarks."""
    from scorehmr_ros import Estimator, View
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    assert use_limbs("auto", 2) and not use_limbs("auto", 1) and not use_limbs("auto", 0)
    assert use_limbs("movenet_thunder", 0) and not use_limbs("none", 3)
    seq = build_multi_sequence(1, 3, seed=0, num_frames=1)
    est = Estimator.from_pretrained(preset="realtime")
    assert est.limb_model == "auto"

    def detected(calibrated: bool) -> dict:
        views = [
            View(
                seq.K[v],
                image=seq.images[0, v],
                camera=seq.camera_names[v],
                cam_to_ref=seq.cam_to_ref(v) if calibrated else None,
            )
            for v in range(3)
        ]
        return est._one_shot_stream()._detect(views)  # still-image detectors, as estimate_views

    with_limbs, without = detected(True), detected(False)
    others = np.setdiff1d(np.arange(33), LIMBS)
    with single_person_detector(static_image_mode=True) as plain:
        for v, cam in enumerate(seq.camera_names):
            ref = plain.detect(seq.images[0, v])
            np.testing.assert_array_equal(without[cam].xy, ref.xy)  # BlazePose's alone
            np.testing.assert_array_equal(with_limbs[cam].xy[others], ref.xy[others])
            assert not np.array_equal(with_limbs[cam].xy[LIMBS], ref.xy[LIMBS])
        photo = est.detect(seq.images[0, 0])
        np.testing.assert_array_equal(photo[0], plain.detect(seq.images[0, 0]).xy)
