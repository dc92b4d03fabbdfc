"""Cross-view association (core.association) on projected synthetic skeletons, 3 cameras, 2-3 people."""

from types import SimpleNamespace

import numpy as np
import pytest

from scorehmr_ros.core.association import (
    associate,
    fundamental_from_projections,
    symmetric_epipolar_distance,
    triangulate_weighted_dlt,
)
from scorehmr_ros.core.keypoints import get_layout

NAMES = get_layout("blazepose33").keypoint_names
W, H = 640, 480


def skeleton(rng: np.random.Generator) -> np.ndarray:
    """(33, 3) rough standing body (metres, y up, origin between the feet), one random pose jitter."""
    parts = {
        "nose": (0.0, 1.62, 0.08),
        "eye": (0.03, 1.67, 0.07),
        "ear": (0.07, 1.64, 0.0),
        "mouth": (0.025, 1.57, 0.07),
        "shoulder": (0.19, 1.42, 0.0),
        "elbow": (0.25, 1.13, 0.0),
        "wrist": (0.27, 0.86, 0.05),
        "pinky": (0.28, 0.79, 0.05),
        "index": (0.27, 0.78, 0.07),
        "thumb": (0.25, 0.80, 0.08),
        "hip": (0.10, 0.92, 0.0),
        "knee": (0.11, 0.50, 0.02),
        "ankle": (0.11, 0.08, 0.0),
        "heel": (0.11, 0.03, -0.05),
        "foot_index": (0.12, 0.01, 0.12),
    }
    out = np.zeros((len(NAMES), 3))
    for k, name in enumerate(NAMES):
        side = -1.0 if name.startswith("right") or name.endswith("right") else 1.0
        key = next(p for p in parts if p in name)
        x, y, z = parts[key]
        if "inner" in name:
            x *= 0.5
        if "outer" in name:
            x *= 1.5
        out[k] = (side * x if name != "nose" else 0.0, y, z)
    return out + rng.normal(0.0, 0.04, out.shape)


def camera(angle_deg: float, radius: float = 4.5, height: float = 1.6) -> np.ndarray:
    """(3, 4) projection of a camera on a circle around the origin, looking at (0, 1, 0)."""
    a = np.deg2rad(angle_deg)
    centre = np.array([radius * np.sin(a), height, radius * np.cos(a)])
    forward = np.array([0.0, 1.0, 0.0]) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    K = np.array([[520.0, 0, W / 2], [0, 520.0, H / 2], [0, 0, 1]])
    return K @ np.concatenate([R, -R @ centre[:, None]], axis=1)


def project(P, X):
    h = np.concatenate([X, np.ones((len(X), 1))], axis=1) @ P.T
    return h[:, :2] / h[:, 2:3]


def make_scene(seed: int, num_people: int, noise_px: float = 2.0):
    """Detections per view (shuffled), the truth {view: {det index: person}}, projections, points."""
    rng = np.random.default_rng(seed)
    P = np.stack([camera(a) for a in (0.0, 115.0, 235.0)])
    positions = [np.array([-0.9, 0, 0.2]), np.array([0.7, 0, -0.3]), np.array([0.1, 0, 1.0])][:num_people]
    people = []
    for pos in positions:
        yaw = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        people.append(skeleton(rng) @ rot.T + pos)
    dets, truth = [], []
    for v in range(len(P)):
        order = rng.permutation(num_people)
        view_dets, view_truth = [], {}
        for j, person in enumerate(order):
            xy = project(P[v], people[person]) + rng.normal(0, noise_px, (len(NAMES), 2))
            conf = rng.uniform(0.6, 1.0, len(NAMES))
            conf[rng.random(len(NAMES)) < 0.15] = 0.1  # some occluded keypoints
            view_dets.append(SimpleNamespace(xy=xy.astype(np.float32), confidence=conf.astype(np.float32)))
            view_truth[j] = int(person)
        dets.append(view_dets)
        truth.append(view_truth)
    return P, dets, truth, people


def groups_as_people(groups, truth):
    """Each group as the set of true person ids its members show (a correct group has one)."""
    return [{truth[v][j] for v, j in g.views.items()} for g in groups]


@pytest.mark.parametrize(("seed", "num_people"), [(0, 2), (1, 3), (2, 3), (3, 3)])
def test_associates_synthetic_people_across_three_views(seed, num_people):
    P, dets, truth, _ = make_scene(seed, num_people)
    groups = associate(P, dets)
    assert len(groups) == num_people
    for g, people in zip(groups, groups_as_people(groups, truth), strict=True):
        assert g.num_views == 3
        assert len(people) == 1, people  # never mixes two people
        assert max(g.reprojection_px.values()) < 10.0
    assert sorted(next(iter(p)) for p in groups_as_people(groups, truth)) == list(range(num_people))


def test_person_seen_in_one_view_stays_single_view():
    P, dets, truth, _ = make_scene(4, 3)
    # Person 2 visible only in view 0: drop its detections in views 1 and 2.
    for v in (1, 2):
        keep = [j for j in range(len(dets[v])) if truth[v][j] != 2]
        dets[v] = [dets[v][j] for j in keep]
        truth[v] = {new: truth[v][old] for new, old in enumerate(keep)}
    groups = associate(P, dets)
    assert sorted(g.num_views for g in groups) == [1, 3, 3]
    single = next(g for g in groups if g.num_views == 1)
    assert single.views.keys() == {0} and truth[0][single.views[0]] == 2
    assert all(len(p) == 1 for p in groups_as_people(groups, truth))


def test_far_detection_is_gated_out():
    P, dets, _, _ = make_scene(5, 2)
    # Replace one detection in view 2 by a shifted copy (a different, unrelated body): it must not join.
    dets[2][0].xy = dets[2][0].xy + np.array([150.0, 40.0], np.float32)
    groups = associate(P, dets)
    bad = next(g for g in groups if 2 in g.views and g.views[2] == 0)
    assert bad.num_views == 1


def test_geometry_helpers():
    rng = np.random.default_rng(6)
    P, _, _, people = make_scene(6, 1, noise_px=0.0)
    X = people[0]
    F = fundamental_from_projections(P[0], P[1])
    assert np.abs(symmetric_epipolar_distance(F, project(P[0], X), project(P[1], X))).max() < 1e-6
    xy = np.stack([project(p, X) for p in P])
    w = rng.uniform(0.5, 1.0, (3, len(X)))
    np.testing.assert_allclose(triangulate_weighted_dlt(P, xy, w), X, atol=1e-6)
    w[1:, 0] = 0.0  # keypoint 0 seen in one view only
    assert np.isnan(triangulate_weighted_dlt(P, xy, w)[0]).all()


def test_a_view_mixing_two_people_does_not_split_the_views_that_agree():
    """Real detections (scripts/make_association_fixture.py): in view 2 person 0 is hidden behind
    person 1 and the detector returns a mixture of both. The epipolar costs pair that mixture with
    person 0's clean views; the group must keep person 0's two clean views together (without the
    mixture) and give every group one person."""
    from pathlib import Path

    data = np.load(Path(__file__).parent / "data" / "association_occlusion.npz")
    dets = [
        [SimpleNamespace(xy=xy, confidence=c) for xy, c in zip(data[f"xy{v}"], data[f"conf{v}"], strict=True)]
        for v in range(3)
    ]
    truth = [dict(enumerate(data[f"person{v}"].tolist())) for v in range(3)]
    groups = associate(data["P"], dets)
    people = groups_as_people(groups, truth)
    assert all(len(p) == 1 for p in people), people
    by_person = {next(iter(p)): g for p, g in zip(people, groups, strict=True) if g.num_views >= 2}
    assert set(by_person[0].views) == {0, 1}
    assert len(by_person[1].views) == 3
    # The fallback (sequential grouping) must reach the same groups on this set.
    fallback = associate(data["P"], dets, max_candidates=0)
    assert sorted(map(sorted, (g.views.items() for g in fallback))) == sorted(
        map(sorted, (g.views.items() for g in groups))
    )


def test_people_are_not_grouped_behind_a_camera():
    """Two views whose detections agree only for a point behind one camera form no group."""
    P, dets, _, _ = make_scene(0, 1, noise_px=0.0)
    # Mirror camera 1 through its centre: its image of the person is now the image of a point
    # behind it, and the epipolar constraint still holds for views 0 and 1.
    flipped = P.copy()
    flipped[1] = -P[1]
    groups = associate(flipped[:2], dets[:2])
    assert all(g.num_views == 1 for g in groups)
    assert all(g.num_views == 1 for g in associate(flipped[:2], dets[:2], max_candidates=0))
