"""Multi-person detection with tracking between detections (core.tracked_detector): the real
multi-person BlazePose detector on rendered held-out people."""

from __future__ import annotations

import numpy as np
import pytest

from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.multiperson import MultiPersonPoseDetector, refound_everyone
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.core.tracked_detector import TrackClock, TrackingMultiPersonDetector

HIPS = [get_layout("blazepose33").keypoint_names.index(n) for n in ("left_hip", "right_hip")]


@pytest.fixture(scope="module")
def pair():
    """Two held-out people 1.2 m apart, 5 frames (stride 2), 3 cameras, plus each alone."""
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    return build_multi_sequence(2, 3, seed=0, num_frames=5, frame_stride=2, spacing=1.2, solo=True)


def _detector() -> MultiPersonPoseDetector:
    """As the node builds it for two people (tiles skipped once the whole image gave both)."""
    return MultiPersonPoseDetector(
        max_people=2, tile_fraction=0.5, num_threads=1, enough_people=2, enough_score=0.5
    )


class Counting:
    """A real MultiPersonPoseDetector whose full detections and local searches are counted (a spy,
    not a mock)."""

    def __init__(self, detector):
        self.detector, self.detections, self.searches = detector, 0, 0

    def detect(self, image, stamp_s=None):
        self.detections += 1
        return self.detector.detect(image, stamp_s)

    def search(self, image, near):
        self.searches += 1
        return self.detector.search(image, near)

    def track_people(self, image, people):
        return self.detector.track_people(image, people)

    def has_enough(self, people):
        return self.detector.has_enough(people)

    def close(self):
        self.detector.close()


def _hips(people) -> np.ndarray:
    """(P, 2) mid-hip pixels, left to right."""
    return np.array(sorted((p.xy[HIPS].mean(0) for p in people), key=lambda h: h[0]))


def _true_hips(seq, t: int, view: int) -> np.ndarray:
    """(P, 2) the people's true mid-hip pixels (SMPL hips) in ``view`` at frame t, left to right."""
    out = []
    for p in range(len(seq.people)):
        joints = seq.joints_in_camera(p, view)[t]
        uvw = seq.K[view] @ joints[[JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(0)
        out.append(uvw[:2] / uvw[2])
    return np.array(sorted(out, key=lambda h: h[0]))


def test_people_are_tracked_between_detections_as_well_as_detected_on_every_image(pair):
    spy = Counting(_detector())
    sources, tracked_err, every_err = [], [], []
    with _detector() as every, TrackingMultiPersonDetector(spy, redetect_every=3) as tracking:
        for t in range(pair.num_frames):
            image, truth = pair.images[t, 0], _true_hips(pair, t, 0)
            found, reference = tracking.detect(image), every.detect(image)
            sources.append(tracking.last_source)
            assert len(found) == len(reference) == 2
            tracked_err.append(np.linalg.norm(_hips(found) - truth, axis=1))
            every_err.append(np.linalg.norm(_hips(reference) - truth, axis=1))
    assert sources == ["detected", "tracked", "tracked", "detected", "tracked"]
    assert spy.detections == 2
    assert np.max(tracked_err) < 15.0
    assert np.mean(tracked_err) <= np.mean(every_err) + 2.0


def test_a_person_who_leaves_makes_it_detect_at_once(pair):
    spy = Counting(_detector())
    with TrackingMultiPersonDetector(spy, redetect_every=10) as tracking:
        assert len(tracking.detect(pair.images[0, 0])) == 2
        assert len(tracking.detect(pair.images[1, 0])) == 2 and tracking.last_source == "tracked"
        alone = tracking.detect(pair.solo_images[0, 2, 0])  # person 1 gone
        assert tracking.last_source == "detected" and spy.detections == 2
        assert len(alone) == 1


def test_redetect_every_one_is_detection_on_every_image_and_is_checked(pair):
    spy = Counting(_detector())
    with TrackingMultiPersonDetector(spy, redetect_every=1) as tracking:
        for t in range(3):
            tracking.detect(pair.images[t, 0])
    assert spy.detections == 3
    with pytest.raises(ValueError, match="redetect_every"):
        TrackingMultiPersonDetector(spy, redetect_every=0)


def test_photos_are_never_tracked():
    """Estimator one-shot calls share detectors across unrelated photos: no tracking there."""
    from scorehmr_ros import Estimator
    from scorehmr_ros.api import MultiPersonStream

    est = Estimator.from_pretrained(max_people=3, person_redetect_every=5)
    assert isinstance(est.stream().detector("cam"), TrackingMultiPersonDetector)
    one_shot = MultiPersonStream(est, est.config, one_shot=True)
    assert isinstance(one_shot.detector("cam"), MultiPersonPoseDetector)


def test_track_clock_carries_over_short_gaps_only():
    clock = TrackClock(0.1)
    assert clock.tick(None)  # no time given: carries over
    assert not clock.tick(10.0)  # first stamp after no stamp: nothing to compare with
    assert clock.tick(10.05)
    assert not clock.tick(10.5)  # half a second later
    assert not clock.tick(10.4)  # backwards
    assert clock.tick(10.45)
    with pytest.raises(ValueError, match="max_gap_s"):
        TrackClock(0.0)


def test_images_far_apart_in_time_are_detected_not_tracked(pair):
    """A node that refines one set every half second must not crop where people were then."""
    spy = Counting(_detector())
    with TrackingMultiPersonDetector(spy, redetect_every=10) as tracking:
        tracking.detect(pair.images[0, 0], stamp_s=0.0)
        tracking.detect(pair.images[1, 0], stamp_s=1 / 15)
        assert tracking.last_source == "tracked"
        tracking.detect(pair.images[2, 0], stamp_s=1.7)
        assert tracking.last_source == "detected" and spy.detections == 2 and spy.searches == 0


def test_people_are_searched_for_near_where_they_were_after_a_longer_gap(pair):
    """Half a second on (too long to track, short enough to search): both people are found near
    where they were, without the full tile pass; every ``redetect_every``-th image is a full
    detection; a person who left makes the same image a full detection."""
    spy = Counting(_detector())
    with TrackingMultiPersonDetector(spy, redetect_every=3) as tracking:
        for t, stamp in enumerate((0.0, 0.5, 1.0, 1.5)):
            found = tracking.detect(pair.images[t, 0], stamp_s=stamp)
            assert len(found) == 2
            assert np.linalg.norm(_hips(found) - _true_hips(pair, t, 0), axis=1).max() < 15.0
            assert tracking.last_source == ("detected" if t % 3 == 0 else "searched")
        assert (spy.detections, spy.searches) == (2, 2)
        alone = tracking.detect(pair.solo_images[0, 4, 0], stamp_s=2.0)  # person 1 gone
        assert len(alone) == 1 and tracking.last_source == "detected"
        assert (spy.detections, spy.searches) == (2, 3)  # the search ran the tiles itself
    with pytest.raises(ValueError, match="max_search_gap_s"):
        TrackingMultiPersonDetector(spy, max_search_gap_s=-1.0)


def test_no_search_while_fewer_people_are_found_than_the_caller_keeps(pair):
    """Asked for three people with two found, the next image (0.5 s on) is not searched (the tiles
    might find a third, or separate two people the last detection merged): it is detected."""
    wants_three = MultiPersonPoseDetector(max_people=4, num_threads=1, enough_people=3, enough_score=0.5)
    spy = Counting(wants_three)
    with TrackingMultiPersonDetector(spy, redetect_every=5) as tracking:
        assert len(tracking.detect(pair.images[0, 0], stamp_s=0.0)) == 2
        assert len(tracking.detect(pair.images[1, 0], stamp_s=0.5)) == 2
        assert tracking.last_source == "detected" and (spy.detections, spy.searches) == (2, 0)


def test_refound_everyone_matches_one_to_one_by_shift_relative_to_size():
    from types import SimpleNamespace as Person

    left, right = Person(box=np.array([0.0, 0, 10, 20])), Person(box=np.array([12.0, 0, 22, 20]))
    both = Person(box=np.array([0.0, 0, 22, 20]))  # one detection spanning the two people
    moved = Person(box=np.array([6.0, 4, 16, 24]))  # centre 7.2 px away: 0.36 of its 20 px
    assert refound_everyone([left, right], [moved, Person(box=np.array([13.0, 0, 23, 20]))])
    assert not refound_everyone([left, right], [both])
    assert not refound_everyone([left], [Person(box=np.array([12.0, 0, 22, 20]))])  # 0.6 of 20 px
    small, far = Person(box=np.array([0.0, 0, 4, 2])), Person(box=np.array([3.0, 0, 7, 2]))
    assert not refound_everyone([small], [far]) and refound_everyone([], [])
