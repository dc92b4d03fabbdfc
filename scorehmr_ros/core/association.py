"""Cross-view association of per-view 2D person detections (pure numpy/scipy, no ROS).

Given calibrated views (``(V, 3, 4)`` projection matrices, pixels) and, per view, a list of
person detections (anything with ``xy`` ``(K, 2)`` pixels and ``confidence`` ``(K,)``, e.g.
:class:`~scorehmr_ros.core.multiperson.PersonDetection` or
:class:`~scorehmr_ros.core.detector.Detection`), :func:`associate` groups detections that show
the same person into :class:`MultiViewPerson` observations ``{view: detection index}``.

Algorithm
    1. Pairwise cost between two detections in two views: the median, over the torso and limb
       keypoints (:data:`ASSOCIATION_KEYPOINTS`) confident in both, of the symmetric epipolar
       distance in pixels; ``inf`` with fewer than ``min_common_keypoints`` such keypoints or
       above ``max_epipolar_px`` (gate).
    2. Candidate groups: every choice of at most one detection per view, in >= 2 views, whose
       members all pass the gate pairwise. Each is triangulated (:func:`triangulate_weighted_dlt`)
       and kept when every member's median reprojection error is <= ``max_reprojection_px`` and
       the points lie in front of its cameras.
    3. Greedy selection, best candidate first: more views first, then lower mean reprojection
       error; a candidate is taken when none of its detections is already taken.

    Pairwise epipolar costs alone are ambiguous when people stand near a common epipolar plane,
    and a person hidden behind another in one view gets a detection there that mixes both: the
    candidates are judged by the consistency of all their views at once, so such a view is left
    out of the person's group instead of splitting the views that agree. With more than
    ``max_candidates`` candidates (large crowds in many views) the older sequential grouping is
    used: views visited in decreasing number of detections, each matched to the current groups by
    ``scipy.optimize.linear_sum_assignment`` on the mean pairwise cost, then each group given the
    candidates' test, splitting off the view whose removal leaves the others most consistent
    until it passes (a failing pair becomes two single views).

People seen in one view only stay single-view groups. One detection belongs to exactly one group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES, get_layout

# Rigid-ish, well-localised keypoints used for the geometric costs (names of the layout).
ASSOCIATION_KEYPOINTS = LIMB_KEYPOINT_NAMES


@dataclass
class MultiViewPerson:
    """One person across views: ``views`` maps view index -> detection index in that view.

    cost: mean pairwise epipolar cost (px) between its views (0 for a single view).
    reprojection_px: per view, median reprojection error (px) of the triangulated keypoints
    (filled for groups of >= 2 views).
    """

    views: dict[int, int]
    cost: float = 0.0
    reprojection_px: dict[int, float] = field(default_factory=dict)

    @property
    def num_views(self) -> int:
        return len(self.views)


def keypoint_indices(names: Sequence[str], layout: str = "blazepose33") -> np.ndarray:
    """Indices ``(N,)`` of keypoint ``names`` in ``layout``."""
    index = {n: i for i, n in enumerate(get_layout(layout).keypoint_names)}
    return np.array([index[n] for n in names], np.int64)


def fundamental_from_projections(P_a: np.ndarray, P_b: np.ndarray) -> np.ndarray:
    """Fundamental matrix ``(3, 3)`` with ``x_b^T F x_a = 0`` for projections ``P_a``, ``P_b`` ``(3, 4)``."""
    P_a = np.asarray(P_a, np.float64)
    P_b = np.asarray(P_b, np.float64)
    centre_a = np.linalg.svd(P_a)[2][-1]  # null vector: camera centre (homogeneous)
    e_b = P_b @ centre_a
    e_cross = np.array([[0.0, -e_b[2], e_b[1]], [e_b[2], 0.0, -e_b[0]], [-e_b[1], e_b[0], 0.0]])
    F = e_cross @ P_b @ np.linalg.pinv(P_a)
    return F / np.linalg.norm(F)


def symmetric_epipolar_distance(F: np.ndarray, x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """Mean of the two point-to-epipolar-line distances (px). F (3, 3) from view a to b;
    x_a, x_b (..., 2) pixels. Returns (...)."""
    ha = np.concatenate([x_a, np.ones_like(x_a[..., :1])], axis=-1)
    hb = np.concatenate([x_b, np.ones_like(x_b[..., :1])], axis=-1)
    line_b = ha @ F.T  # epipolar lines in b of points in a
    line_a = hb @ F  # epipolar lines in a of points in b
    num = np.abs(np.sum(hb * line_b, axis=-1))
    d_b = num / np.maximum(np.linalg.norm(line_b[..., :2], axis=-1), 1e-12)
    d_a = num / np.maximum(np.linalg.norm(line_a[..., :2], axis=-1), 1e-12)
    return 0.5 * (d_a + d_b)


def triangulate_weighted_dlt(P: np.ndarray, xy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Minimal confidence-weighted DLT triangulation.

    P: (V, 3, 4) projections. xy: (V, K, 2) pixels. weights: (V, K) >= 0 (0 = not seen).
    Returns (K, 3) world points; NaN where fewer than two views have positive weight.
    """
    P = np.asarray(P, np.float64)
    xy = np.asarray(xy, np.float64)
    w = np.asarray(weights, np.float64)
    rows = np.concatenate(
        [
            xy[..., 0:1] * P[:, None, 2, :] - P[:, None, 0, :],
            xy[..., 1:2] * P[:, None, 2, :] - P[:, None, 1, :],
        ],
        axis=0,
    )  # (2V, K, 4)
    # Unit rows times the weight: the weights, not the pixel scale, set each view's influence.
    rows = rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)
    A = np.transpose(rows * np.concatenate([w, w], axis=0)[..., None], (1, 0, 2))  # (K, 2V, 4)
    X = np.linalg.svd(A)[2][:, -1]  # (K, 4)
    out = X[:, :3] / np.where(np.abs(X[:, 3:]) < 1e-12, np.nan, X[:, 3:])
    out[(w > 0).sum(0) < 2] = np.nan
    return out


def project(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Project world points X (K, 3) with P (3, 4) -> (K, 2) pixels."""
    h = np.concatenate([X, np.ones_like(X[:, :1])], axis=1) @ P.T
    return h[:, :2] / h[:, 2:3]


def _detection_arrays(det, idx: np.ndarray, min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    xy = np.asarray(det.xy, np.float64)[idx]
    conf = np.asarray(det.confidence, np.float64)[idx]
    return xy, np.where(conf >= min_confidence, conf, 0.0)


def pairwise_costs(
    F: np.ndarray,
    dets_a: Sequence,
    dets_b: Sequence,
    idx: np.ndarray,
    min_confidence: float,
    min_common_keypoints: int,
    max_epipolar_px: float,
) -> np.ndarray:
    """Cost matrix (len(dets_a), len(dets_b)): median symmetric epipolar distance (px) over keypoints
    ``idx`` confident in both detections; ``inf`` when gated (too few keypoints or too far)."""
    cost = np.full((len(dets_a), len(dets_b)), np.inf)
    arrays_b = [_detection_arrays(d, idx, min_confidence) for d in dets_b]
    for i, da in enumerate(dets_a):
        xa, ca = _detection_arrays(da, idx, min_confidence)
        for j, (xb, cb) in enumerate(arrays_b):
            both = (ca > 0) & (cb > 0)
            if both.sum() < min_common_keypoints:
                continue
            d = float(np.median(symmetric_epipolar_distance(F, xa[both], xb[both])))
            if d <= max_epipolar_px:
                cost[i, j] = d
    return cost


def associate(
    projections: np.ndarray,
    detections: Sequence[Sequence],
    *,
    layout: str = "blazepose33",
    keypoints: Sequence[str] = ASSOCIATION_KEYPOINTS,
    min_confidence: float = 0.5,
    min_common_keypoints: int = 4,
    max_epipolar_px: float = 25.0,
    max_reprojection_px: float = 30.0,
    max_candidates: int = 4096,
) -> list[MultiViewPerson]:
    """Group per-view detections into multi-view people (see the module docstring).

    projections: (V, 3, 4) pixel projection matrices. detections: V lists of detections
    (``xy`` (K, 2), ``confidence`` (K,), in ``layout``). Returns one :class:`MultiViewPerson`
    per person, multi-view groups first (more views first), then single-view ones.
    max_candidates: above this many candidate groups, the sequential fallback (module docstring).
    """
    P = np.asarray(projections, np.float64)
    V = len(detections)
    if P.shape != (V, 3, 4):
        raise ValueError(f"projections must be ({V}, 3, 4) for {V} views, got {P.shape}")
    idx = keypoint_indices(keypoints, layout)
    gate = dict(
        min_confidence=min_confidence,
        min_common_keypoints=min_common_keypoints,
        max_epipolar_px=max_epipolar_px,
    )
    costs: dict[tuple[int, int], np.ndarray] = {}
    for a in range(V):
        for b in range(a + 1, V):
            F = fundamental_from_projections(P[a], P[b])
            costs[a, b] = pairwise_costs(F, detections[a], detections[b], idx, **gate)
            costs[b, a] = costs[a, b].T

    arrays = [[_detection_arrays(d, idx, min_confidence) for d in dets] for dets in detections]
    candidates = _candidate_groups(costs, [len(d) for d in detections], max_candidates)
    if candidates is None:
        groups = _sequential_groups(detections, costs)
        people = [p for g in groups for p in _verify(P, arrays, g, costs, max_reprojection_px)]
    else:
        people = _select(P, arrays, candidates, costs, max_reprojection_px)
        taken = {(v, j) for p in people for v, j in p.views.items()}
        people += [
            MultiViewPerson({v: j})
            for v in range(V)
            for j in range(len(detections[v]))
            if (v, j) not in taken
        ]
    people.sort(key=lambda p: (-p.num_views, min(p.views)))
    return people


def _candidate_groups(costs, counts: list[int], limit: int) -> list[dict[int, int]] | None:
    """Every {view: detection} with >= 2 views whose members pass the gate pairwise (None: > limit)."""
    V = len(counts)
    out: list[dict[int, int]] = []
    members: dict[int, int] = {}

    def extend(v: int) -> bool:
        if v == V:
            if len(members) >= 2:
                out.append(dict(members))
            return len(out) <= limit
        if not extend(v + 1):  # view v not in the group
            return False
        for j in range(counts[v]):
            if all(np.isfinite(costs[u, v][members[u], j]) for u in members):
                members[v] = j
                ok = extend(v + 1)
                del members[v]
                if not ok:
                    return False
        return True

    return out if extend(0) else None


def _reprojection_errors(P, arrays, members: dict[int, int]) -> dict[int, float] | None:
    """Per view, the median reprojection error (px) of the group's triangulated keypoints; None
    when nothing triangulates or a triangulated point lies behind one of the group's cameras."""
    views = sorted(members)
    xy = np.stack([arrays[v][members[v]][0] for v in views])
    w = np.stack([arrays[v][members[v]][1] for v in views])
    X = triangulate_weighted_dlt(P[views], xy, w)
    ok_points = np.all(np.isfinite(X), axis=1)
    if not ok_points.any():
        return None
    Xh = np.concatenate([X[ok_points], np.ones((int(ok_points.sum()), 1))], axis=1)
    errors = {}
    for k, v in enumerate(views):
        h = Xh @ P[v].T
        if np.median(h[:, 2]) <= 0:
            return None
        ok = (w[k] > 0)[ok_points]
        uv = h[:, :2] / h[:, 2:3]
        errors[v] = (
            float(np.median(np.linalg.norm(uv[ok] - xy[k, ok_points][ok], axis=1))) if ok.any() else 0.0
        )
    return errors


def _select(P, arrays, candidates, costs, max_reprojection_px) -> list[MultiViewPerson]:
    """Greedy choice among the consistent candidates: more views first, then lower mean error."""
    scored = []
    for members in candidates:
        errors = _reprojection_errors(P, arrays, members)
        if errors is not None and max(errors.values()) <= max_reprojection_px:
            scored.append((-len(members), float(np.mean(list(errors.values()))), members, errors))
    scored.sort(key=lambda c: (c[0], c[1]))
    taken: set[tuple[int, int]] = set()
    people = []
    for _, _, members, errors in scored:
        if taken.isdisjoint(members.items()):
            taken.update(members.items())
            people.append(MultiViewPerson(members, _group_cost(members, costs), errors))
    return people


def _sequential_groups(detections, costs) -> list[dict[int, int]]:
    """The fallback grouping: views in decreasing number of detections, Hungarian per view."""
    groups: list[dict[int, int]] = []
    for v in sorted(range(len(detections)), key=lambda v: -len(detections[v])):
        n = len(detections[v])
        if n == 0:
            continue
        matched: set[int] = set()
        if groups:
            c = np.full((len(groups), n), np.inf)
            for g, members in enumerate(groups):
                per_member = np.stack([costs[u, v][members[u]] for u in members])  # (M, n)
                c[g] = per_member.mean(0)
            finite = np.isfinite(c)
            if finite.any():
                rows, cols = linear_sum_assignment(np.where(finite, c, 1e9))
                for g, j in zip(rows, cols, strict=True):
                    if finite[g, j]:
                        groups[g][v] = int(j)
                        matched.add(int(j))
        groups.extend({v: j} for j in range(n) if j not in matched)
    return groups


def _group_cost(members: dict[int, int], costs) -> float:
    views = sorted(members)
    pairs = [costs[a, b][members[a], members[b]] for i, a in enumerate(views) for b in views[i + 1 :]]
    return float(np.mean(pairs)) if pairs else 0.0


def _verify(P, arrays, members, costs, max_reprojection_px) -> list[MultiViewPerson]:
    """Fallback path: the candidates' test on a sequential group. While a view exceeds the limit
    (or the points lie behind a camera), split off the view whose removal leaves the rest most
    consistent; a pair that fails becomes two single views."""
    members = dict(members)
    split: list[MultiViewPerson] = []

    def worst_error(group: dict[int, int]) -> float:
        errors = _reprojection_errors(P, arrays, group)
        return np.inf if errors is None else max(errors.values())

    while len(members) >= 2:
        errors = _reprojection_errors(P, arrays, members)
        if errors is not None and max(errors.values()) <= max_reprojection_px:
            return [MultiViewPerson(members, _group_cost(members, costs), errors), *split]
        if len(members) == 2:
            break
        v = min(members, key=lambda v: worst_error({u: j for u, j in members.items() if u != v}))
        split.append(MultiViewPerson({v: members.pop(v)}))
    return [MultiViewPerson({v: j}) for v, j in members.items()] + split
