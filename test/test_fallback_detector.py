"""Single-person tile fallback (core.fallback_detector): real MediaPipe, real multi-person detector,
rendered held-out people that fill little of the image."""

from __future__ import annotations

import numpy as np
import pytest

from scorehmr_ros.core.detector import BlazePoseDetector
from scorehmr_ros.core.fallback_detector import FallbackPoseDetector, single_person_detector
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
from scorehmr_ros.core.skeleton import JOINT_INDEX

LYING = 3  # humanoid3d_getup_faceup, the far end of a row of four
HIPS = [get_layout("blazepose33").keypoint_names.index(n) for n in ("left_hip", "right_hip")]


@pytest.fixture(scope="module")
def row():
    """Four held-out people 1.2 m apart, each rendered alone by 3 cameras, one frame."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    return build_multi_sequence(4, 3, seed=0, num_frames=1, frame_stride=2, spacing=1.2, solo=True)


def _mid_hip_truth(seq, person: int, view: int) -> np.ndarray:
    """(2,) pixel position of the person's true mid-hip (SMPL hips) in ``view``."""
    joints = seq.joints_in_camera(person, view)[0]
    mid = (joints[JOINT_INDEX["left_hip"]] + joints[JOINT_INDEX["right_hip"]]) / 2
    uvw = seq.K[view] @ mid
    return uvw[:2] / uvw[2]


def _mid_hip(det) -> np.ndarray:
    return det.xy[HIPS].mean(0)


class Counting:
    """A real detector whose full ``detect`` calls (``calls``) and local searches (``searches``) are
    counted (a spy, not a mock)."""

    def __init__(self, detector):
        self.detector, self.calls, self.searches = detector, 0, 0

    def detect(self, image, stamp_s=None):
        self.calls += 1
        return self.detector.detect(image, stamp_s)

    def search(self, image, near):
        self.searches += 1
        return self.detector.search(image, near)

    def track_people(self, image, people):  # not counted: landmark calls, no detector
        return self.detector.track_people(image, people)

    def close(self):
        self.detector.close()


def test_fallback_finds_the_lying_person_the_pose_solution_misses(row):
    image = row.solo_images[LYING, 0, 0]
    with BlazePoseDetector(static_image_mode=True) as legacy:
        assert legacy.detect(image) is None  # the premise: MediaPipe's solution alone finds nobody
    with single_person_detector(static_image_mode=True) as det:
        found = det.detect(image)
        assert det.last_source == "fallback"
    assert found is not None
    assert found.xy.shape == (33, 2) and found.image_size == (640, 480)
    assert np.linalg.norm(_mid_hip(found) - _mid_hip_truth(row, LYING, 0)) < 15.0
    with single_person_detector(static_image_mode=True, tile_fallback=False) as plain:
        assert plain.detect(image) is None


def test_the_pose_solution_result_is_kept_when_it_finds_someone(row):
    image = row.solo_images[LYING, 0, 2]  # the same person, a camera that sees it large enough
    with BlazePoseDetector(static_image_mode=True) as legacy:
        expected = legacy.detect(image)
    assert expected is not None
    made = []

    def make():
        made.append(1)
        return MultiPersonPoseDetector(tile_fraction=0.5)

    with FallbackPoseDetector(BlazePoseDetector(static_image_mode=True), make) as det:
        found = det.detect(image)
        assert det.last_source == "primary"
    np.testing.assert_array_equal(found.xy, expected.xy)
    assert made == []  # the tile detector is not even built


@pytest.mark.parametrize("retry_every, expected_calls", [(1, 7), (3, 3), (5, 2)])
def test_after_a_miss_the_fallback_waits_retry_every_images(retry_every, expected_calls):
    blank = np.full((240, 320, 3), 128, np.uint8)
    spy = Counting(MultiPersonPoseDetector(tile_fraction=0.5, num_threads=1))
    with FallbackPoseDetector(BlazePoseDetector(static_image_mode=True), lambda: spy, retry_every) as det:
        assert all(det.detect(blank) is None for _ in range(7))
    assert spy.calls == expected_calls


def test_a_find_resets_the_wait(row):
    blank = np.full((480, 640, 3), 128, np.uint8)
    lying = row.solo_images[LYING, 0, 0]
    spy = Counting(MultiPersonPoseDetector(tile_fraction=0.5, num_threads=1))
    with FallbackPoseDetector(BlazePoseDetector(static_image_mode=True), lambda: spy, 5) as det:
        assert det.detect(blank) is None  # miss: the next 4 empty images skip the tiles
        assert det.detect(lying) is None and spy.calls == 1
        for _ in range(3):
            det.detect(blank)
        assert det.detect(lying) is not None and spy.calls == 2  # the 5th image after the miss
        assert det.detect(blank) is None and spy.calls == 3  # track lost: no wait after a find


@pytest.fixture(scope="module")
def lying_clip():
    """The lying person (far end of the row of four) alone, 4 frames (stride 2) from camera 0,
    where MediaPipe's pose solution finds nobody."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    return build_multi_sequence(4, 3, seed=0, num_frames=4, frame_stride=2, spacing=1.2, solo=True)


def test_the_fallback_person_is_tracked_without_the_tiles(lying_clip):
    spy = Counting(MultiPersonPoseDetector(tile_fraction=0.5, num_threads=1))
    sources, errors = [], []
    with FallbackPoseDetector(BlazePoseDetector(static_image_mode=False), lambda: spy) as det:
        for t in range(lying_clip.num_frames):
            found = det.detect(lying_clip.solo_images[LYING, t, 0])
            assert found is not None
            sources.append(det.last_source)
            joints = lying_clip.joints_in_camera(LYING, 0)[t]
            uvw = lying_clip.K[0] @ joints[[JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(0)
            errors.append(np.linalg.norm(_mid_hip(found) - uvw[:2] / uvw[2]))
    assert sources == ["fallback", "tracked", "tracked", "tracked"]
    assert spy.calls == 1  # one tile pass, then one landmark call per frame
    assert max(errors) < 15.0


def test_the_fallback_person_is_searched_for_not_tracked_across_a_longer_gap(lying_clip):
    """0.5 s after the last image (too long to track) the person is looked for near where it was
    (no tile pass) and found within 15 px; over 1 s later the tiles run again."""
    # as single_person_detector builds it: one person scored >= 0.5 is enough
    spy = Counting(
        MultiPersonPoseDetector(tile_fraction=0.5, num_threads=1, enough_people=1, enough_score=0.5)
    )
    images = lying_clip.solo_images[LYING, :, 0]
    with FallbackPoseDetector(BlazePoseDetector(static_image_mode=False), lambda: spy) as det:
        sources = []
        for t, stamp in zip(range(4), (0.0, 1 / 15, 0.6, 1.7), strict=True):
            found = det.detect(images[t], stamp_s=stamp)
            assert found is not None
            sources.append(det.last_source)
            joints = lying_clip.joints_in_camera(LYING, 0)[t]
            uvw = lying_clip.K[0] @ joints[[JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(0)
            assert np.linalg.norm(_mid_hip(found) - uvw[:2] / uvw[2]) < 15.0
    assert sources == ["fallback", "tracked", "searched", "fallback"]
    assert (spy.calls, spy.searches) == (2, 1)


def test_track_follows_the_crop_the_landmarks_predict(lying_clip):
    with MultiPersonPoseDetector(tile_fraction=0.5, num_threads=1) as det:
        (person,) = det.detect(lying_clip.solo_images[LYING, 0, 0])[:1]
        (same,) = det.track_people(lying_clip.solo_images[LYING, 0, 0], [person])
        assert same.score == person.score
        assert np.median(np.linalg.norm(same.xy - person.xy, axis=1)) < 3.0
        assert det.track_people(np.full((480, 640, 3), 128, np.uint8), [person]) is None  # nobody there


def test_retry_every_and_search_gap_are_checked():
    with pytest.raises(ValueError, match="retry_every"):
        FallbackPoseDetector(None, lambda: None, retry_every=0)
    with pytest.raises(ValueError, match="max_search_gap_s"):
        FallbackPoseDetector(None, lambda: None, max_search_gap_s=float("nan"))


def test_the_estimators_track_gap_reaches_the_pose_solution_and_the_fallback():
    """``Estimator(person_track_gap_s=...)`` is the gap over which the single-person stream's pose
    solution and its tile fallback stop tracking (test_detector.py: what the solution does then)."""
    from scorehmr_ros import Estimator

    est = Estimator.from_pretrained(preset="realtime", person_track_gap_s=0.3, limb_model="none")
    stream = est.stream()
    try:
        detector = stream.detector("cam1")
        assert isinstance(detector, FallbackPoseDetector)
        assert detector._clock.max_gap_s == 0.3
        assert detector.primary._clock.max_gap_s == 0.3
    finally:
        stream.close()


@pytest.mark.parametrize("tile_fallback", [True, False])
def test_estimator_streams_use_the_fallback_in_single_person_mode(row, tile_fallback):
    """The node's single-person path (Estimator.stream(), in-process MediaPipe): the lying person is
    seen by one camera without the fallback and by all three with it (the default)."""
    from scorehmr_ros import Estimator, View

    est = Estimator.from_pretrained(preset="realtime", tile_fallback=tile_fallback)
    views = [
        View(
            row.K[v],
            image=row.solo_images[LYING, 0, v],
            camera=row.camera_names[v],
            cam_to_ref=row.cam_to_ref(v),
        )
        for v in range(3)
    ]
    stream = est.stream()
    report = stream.push_many([(0, views)])
    stream.close()
    missing = [camera for camera, reason, _ in report.view_drops if reason == "no_person"]
    assert len(missing) == (0 if tile_fallback else 2)


def test_a_search_without_tiles_that_finds_nobody_returns_none():
    """A fallback with no tiles (whole image only) searches as a plain detection: on an empty image
    0.5 s after finding the astronaut (a real photo, which a strict pose solution misses) it
    returns None instead of failing; the astronaut again is "searched" (the same person)."""
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut())
    blank = np.full_like(photo, 128)
    strict = BlazePoseDetector(static_image_mode=True, min_detection_confidence=0.9)
    with FallbackPoseDetector(
        strict, lambda: MultiPersonPoseDetector(tile_fraction=None, num_threads=1)
    ) as det:
        assert det.detect(photo, stamp_s=0.0) is not None and det.last_source == "fallback"
        assert det.detect(photo, stamp_s=0.5) is not None and det.last_source == "searched"
        assert det.detect(blank, stamp_s=1.0) is None
