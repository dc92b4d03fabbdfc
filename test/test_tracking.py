"""Person tracking over time (core.tracking): crossing people, short and long absences, births."""

import numpy as np
import pytest

from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.tracking import PersonTracker, torso_centre

FPS = 10.0


def scenario(seed: int = 0, noise: float = 0.02):
    """Frames (t, positions (N, 3), truth labels (N,)) over 8 s.

    A and B walk 1.5 m/s towards each other on nearly the same line (0.08 m apart) and cross at
    t = 1.65 s, between two frames (so a model without velocity would swap them);
    C stands still, is unseen during [3.0, 3.5) s (short absence) and [5.0, 6.5) s (long).
    Observations are shuffled each frame.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(int(8 * FPS)):
        t = k / FPS
        people = {
            "A": np.array([-2.475 + 1.5 * t, 0.9, 0.0]),
            "B": np.array([2.475 - 1.5 * t, 0.9, 0.08]),
        }
        if not (3.0 <= t < 3.5 or 5.0 <= t < 6.5):
            people["C"] = np.array([0.5, 0.9, 3.0])
        labels = list(people)
        order = rng.permutation(len(labels))
        pos = np.stack([people[labels[i]] for i in order]) + rng.normal(0, noise, (len(labels), 3))
        frames.append((t, pos, [labels[i] for i in order]))
    return frames


def run(tracker, frames):
    """{truth label: [(t, id), ...]} of the reported (confirmed) people."""
    seen: dict[str, list] = {}
    for t, pos, labels in frames:
        for person in tracker.update(t, pos):
            seen.setdefault(labels[person.observation], []).append((t, person.id))
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crossing_people_keep_their_ids(seed):
    seen = run(PersonTracker(min_hits=3, timeout_s=1.0), scenario(seed))
    for label in ("A", "B"):
        ids = {i for _, i in seen[label]}
        assert len(ids) == 1, (label, ids)  # no swap at the crossing, no re-birth
    assert {i for _, i in seen["A"]} != {i for _, i in seen["B"]}


def test_leave_and_return_rule():
    seen = run(PersonTracker(min_hits=3, timeout_s=1.0), scenario(3))
    c = seen["C"]
    before = {i for t, i in c if t < 3.0}
    short = {i for t, i in c if 3.5 <= t < 5.0}
    after = {i for t, i in c if t >= 6.5}
    assert len(before) == 1 and short == before  # back within the timeout: same id
    assert len(after) == 1 and after.isdisjoint(before)  # back after the timeout: a new id
    # The new id is only reported after min_hits consecutive frames.
    assert min(t for t, i in c if i in after) == pytest.approx(6.5 + 2 / FPS)
    # Ids are never reused and follow the b<N> pattern.
    all_ids = [i for track in seen.values() for _, i in track]
    assert sorted(set(all_ids)) == ["b0", "b1", "b2", "b3"]


def test_birth_needs_consistent_frames():
    tracker = PersonTracker(min_hits=3)
    p = np.array([[0.0, 1.0, 2.0]])
    assert tracker.update(0.0, p) == []
    assert tracker.update(0.1, p) == []
    assert [x.id for x in tracker.update(0.2, p)] == ["b0"]
    # A flicker (one frame only) never gets an id.
    tracker.update(0.3, np.concatenate([p, [[3.0, 1.0, 0.0]]]))
    tracker.update(0.4, p)
    tracker.update(0.5, np.concatenate([p, [[-3.0, 1.0, 0.0]]]))
    assert [tr.id for tr in tracker.confirmed_tracks()] == ["b0"]
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(0.1, p)


def test_timeout_removes_track():
    tracker = PersonTracker(min_hits=1, timeout_s=0.5)
    assert [x.id for x in tracker.update(0.0, [[0.0, 0.0, 0.0]])] == ["b0"]
    tracker.update(0.4, np.zeros((0, 3)))
    assert len(tracker.confirmed_tracks()) == 1
    tracker.update(0.6, np.zeros((0, 3)))
    assert tracker.confirmed_tracks() == []
    assert [x.id for x in tracker.update(0.7, [[0.0, 0.0, 0.0]])] == ["b1"]


def test_one_missed_frame_at_a_low_frame_rate_keeps_the_id():
    """Frames 0.6 s apart with a 0.5 s timeout (a node slower than 1 / timeout): one frame without
    the person keeps the id (min_misses 2); two in a row end it."""
    tracker = PersonTracker(min_hits=1, timeout_s=0.5)
    p = [[0.0, 0.0, 2.0]]
    assert [x.id for x in tracker.update(0.0, p)] == ["b0"]
    tracker.update(0.6, np.zeros((0, 3)))  # 0.6 s unseen, one miss: kept
    assert [x.id for x in tracker.update(1.2, p)] == ["b0"]
    tracker.update(1.8, np.zeros((0, 3)))
    tracker.update(2.4, np.zeros((0, 3)))  # two misses and past the timeout: removed
    assert tracker.confirmed_tracks() == []
    with pytest.raises(ValueError, match="min_misses"):
        PersonTracker(min_misses=0)


def test_torso_centre():
    names = get_layout("blazepose33").keypoint_names
    pts = np.zeros((len(names), 3))
    conf = np.zeros(len(names))
    for n, x in (("left_hip", 1.0), ("right_hip", 3.0), ("left_shoulder", 5.0), ("nose", 100.0)):
        pts[names.index(n)] = (x, 0, 0)
        conf[names.index(n)] = 1.0
    np.testing.assert_allclose(torso_centre(pts, conf), [3.0, 0, 0])
    assert torso_centre(pts, np.zeros(len(names))) is None
