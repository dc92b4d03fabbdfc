"""Robust multi-view triangulation of 2D keypoints and left/right swap resolution (torch, no ROS).

Calibrated views are given as pixel projection matrices ``P_v = K_v [R_v | t_v]`` (reference →
camera), built from each view's intrinsics and its camera→reference transform by
:func:`projection_matrices`.

* :func:`triangulate`: confidence-weighted DLT per keypoint (each view contributes its two DLT rows,
  normalised to unit length and multiplied by its confidence). With more than ``min_views`` views,
  every pair of views is a hypothesis; the views that reproject within ``max_residual_px`` of the
  pair's point are its inliers, and the keypoint is triangulated from the largest inlier set (so
  one confidently wrong view is rejected even when it would drag a least-squares fit of all views).
  A keypoint seen by fewer than ``min_views`` consistent views is not triangulated, nor one whose
  final point any of its views places more than ``max_residual_px`` away or behind the camera
  (e.g. seen by exactly two views that disagree: nothing can be rejected, so nothing is kept).
* :func:`labelling_costs` / :func:`resolve_swaps`: per view, keep or swap the detector's left/right
  labels by the triangulation residual of each joint labelling of all views (the labelling under
  which the views agree in 3D). Swapping every view gives the same residual (the body's mirror
  image is consistent too), so a small cost per swapped view breaks that tie toward the labels as
  detected: most views are assumed right.
* :func:`leg_flexions` / :func:`is_mirrored`: which of the two mirror labellings is the body. Where
  most views swapped the same way (a detector that takes a person seen from behind as facing it,
  in two cameras of three), the residual cannot tell; the knees can: a knee bends only one way, so
  the axis of its bend (thigh x shank) points to the body's left, and under the mirror labelling
  to its right, whatever the hips, lying or standing.

Shapes: P (V, 3, 4); keypoints (V, K, 2) px; confidence (V, K) (0 = not seen); points (K, 3).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch


def projection_matrices(K: torch.Tensor, cam_to_ref: torch.Tensor) -> torch.Tensor:
    """(V, 3, 4) pixel projections of reference-frame points. K (V, 3, 3); cam_to_ref (V, 4, 4)."""
    ref_to_cam = torch.linalg.inv(cam_to_ref.double())
    return K.double() @ ref_to_cam[:, :3, :]


def project_points(P: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Pixels of points through projection matrices; differentiable in X.

    P (V, 3, 4) with X (K, 3) -> (V, K, 2), or with X (V, K, 3) (per view) -> (V, K, 2); batched
    P (N, V, 3, 4) with X (N, K, 3) -> (N, V, K, 2)."""
    X = X.to(P.dtype)
    Xh = torch.cat([X, torch.ones_like(X[..., :1])], -1)
    if P.dim() == 4:
        h = torch.einsum("nvij,nkj->nvki", P, Xh)
    else:
        h = Xh @ P.transpose(-1, -2) if X.dim() == 3 else torch.einsum("vij,kj->vki", P, Xh)
    return h[..., :2] / h[..., 2:3].clamp(min=1e-9)


def weighted_dlt(P: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted linear triangulation. P (V, 3, 4); keypoints (V, K, 2); weights (V, K).

    Returns (K, 3); NaN where fewer than two views have a positive weight. Batched over leading
    dimensions of ``keypoints``/``weights`` beyond (V, K) is not supported: loop outside.
    """
    P = P.double()
    xy = keypoints.double()
    w = weights.double().clamp(min=0)
    rows = torch.cat(
        [
            xy[..., 0:1] * P[:, None, 2, :] - P[:, None, 0, :],
            xy[..., 1:2] * P[:, None, 2, :] - P[:, None, 1, :],
        ],
        0,
    )  # (2V, K, 4)
    rows = rows / rows.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    A = (rows * torch.cat([w, w], 0).unsqueeze(-1)).transpose(0, 1)  # (K, 2V, 4)
    X = torch.linalg.svd(A).Vh[:, -1]  # (K, 4)
    w4 = X[:, 3:]
    out = X[:, :3] / torch.where(w4.abs() < 1e-12, torch.full_like(w4, float("nan")), w4)
    out[(w > 0).sum(0) < 2] = float("nan")
    return out


@dataclass
class Triangulation:
    """points (K, 3) reference frame (NaN where not triangulated); used (V, K) bool views kept;
    residual_px (V, K) reprojection error of every view that saw the keypoint (NaN otherwise)."""

    points: torch.Tensor
    used: torch.Tensor
    residual_px: torch.Tensor

    @property
    def valid(self) -> torch.Tensor:
        """(K,) keypoints triangulated."""
        return torch.isfinite(self.points).all(-1)


def triangulate(
    P: torch.Tensor,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    *,
    min_confidence: float = 0.3,
    max_residual_px: float | torch.Tensor = 20.0,
    min_views: int = 2,
    fallback_confidence: float | None = 0.05,
) -> Triangulation:
    """Robust weighted DLT (module docstring). P (V, 3, 4); keypoints (V, K, 2); confidence (V, K);
    ``max_residual_px`` one limit or one per view (V,).

    Keypoints that fewer than ``min_views`` views see at ``min_confidence`` are tried again with the
    views above ``fallback_confidence`` (detectors report occluded hips and knees with low
    visibility although their positions are often right; the residual test still rejects the
    wrong ones, and the weights keep such views light)."""
    if torch.is_tensor(max_residual_px):
        max_residual_px = max_residual_px.double().reshape(-1, 1)  # (V, 1): against (V, K) residuals
    first = _triangulate_once(P, keypoints, confidence, min_confidence, max_residual_px, min_views)
    if fallback_confidence is None or fallback_confidence >= min_confidence or bool(first.valid.all()):
        return first
    again = _triangulate_once(P, keypoints, confidence, fallback_confidence, max_residual_px, min_views)
    fill = ~first.valid & again.valid
    return Triangulation(
        torch.where(fill.unsqueeze(-1), again.points, first.points),
        torch.where(fill, again.used, first.used),
        torch.where(fill, again.residual_px, first.residual_px),
    )


def _triangulate_once(
    P: torch.Tensor,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    min_confidence: float,
    max_residual_px: float | torch.Tensor,
    min_views: int,
) -> Triangulation:
    kp = torch.nan_to_num(keypoints.double())
    conf = torch.nan_to_num(confidence.double()) * torch.isfinite(keypoints).all(-1)
    seen = conf >= min_confidence
    V, K = seen.shape
    used = seen.clone()
    if V > min_views:
        # Hypotheses: every pair of views; each keypoint keeps the pair with the most inlier views
        # (residual <= max_residual_px), ties to the smaller summed residual of its inliers.
        best_score = torch.full((K,), -float("inf"), dtype=torch.float64)
        for a, b in itertools.combinations(range(V), 2):
            pair = torch.zeros_like(conf)
            pair[[a, b]] = conf[[a, b]] * seen[[a, b]]
            X = weighted_dlt(P, kp, pair)
            res = (project_points(P.double(), torch.nan_to_num(X)) - kp).norm(dim=-1)  # (V, K)
            inl = seen & (res <= max_residual_px) & torch.isfinite(X).all(-1)
            score = inl.sum(0) * 1e6 - torch.where(inl, res, torch.zeros_like(res)).sum(0)
            score = torch.where(inl.sum(0) >= min_views, score, torch.full_like(score, -float("inf")))
            better = score > best_score
            used[:, better] = inl[:, better]
            best_score = torch.where(better, score, best_score)
        # Inliers of the refit from all of them (a last check; keeps at least the hypothesis').
        X = weighted_dlt(P, kp, conf * used)
        res = (project_points(P.double(), torch.nan_to_num(X)) - kp).norm(dim=-1)
        refit = seen & (res <= max_residual_px)
        keep = refit.sum(0) >= min_views
        used[:, keep] = refit[:, keep]
    w = conf * used
    X = weighted_dlt(P, kp, w)
    Xf = torch.nan_to_num(X)
    res = (project_points(P.double(), Xf) - kp).norm(dim=-1)  # (V, K)
    depth = torch.einsum("vj,kj->vk", P[:, 2, :3].double(), Xf) + P[:, 2, 3:].double()
    # A point stands only if every view it rests on agrees with it and sees it in front: keypoints
    # with no consistent pair (e.g. seen by just two views that disagree) are not triangulated.
    agree = torch.isfinite(X).all(-1) & ((res <= max_residual_px) & (depth > 0) | ~used).all(0)
    failed = ~agree | (used.sum(0) < min_views)
    X[failed] = float("nan")
    used = used & ~failed
    res = torch.where(seen & ~failed, res, torch.full_like(res, float("nan")))
    return Triangulation(X.to(keypoints.dtype), used, res.to(keypoints.dtype))


def view_weights(
    tri: Triangulation,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    *,
    tolerance: float = 2.0,
    min_confidence: float = 0.3,
    floor_rel: float = 0.005,
) -> torch.Tensor:
    """(V,) weight in (0, 1] of each view by how well it agrees with the triangulated keypoints.

    A view's disagreement is the median, over the triangulated keypoints it saw confidently, of
    its reprojection residual divided by the diagonal of its confident keypoints' bounding box (the
    person's size there); the reference is the median disagreement over the views (at least
    ``floor_rel``). weight = 1 / (1 + (disagreement / (tolerance · reference))²), scaled so that the
    best view has 1: a view that keeps placing the person's keypoints elsewhere than the others do
    (an occluded view holding parts of a neighbour) counts less everywhere. Two views disagree
    symmetrically, so they keep equal weights. keypoints (V, K, 2); confidence (V, K)."""
    V = keypoints.shape[0]
    seen = (confidence > min_confidence) & torch.isfinite(keypoints).all(-1)
    rel = torch.full((V,), float("nan"), dtype=torch.float64)
    for v in range(V):
        pts = keypoints[v][seen[v]]
        ok = seen[v] & tri.valid & torch.isfinite(tri.residual_px[v])
        if len(pts) < 3 or int(ok.sum()) < 3:
            continue
        diagonal = float((pts.max(0).values - pts.min(0).values).norm())
        rel[v] = float(tri.residual_px[v][ok].median()) / max(diagonal, 1.0)
    known = rel[torch.isfinite(rel)]
    if len(known) < 3:  # with two views (or fewer) nothing says which one is wrong
        return torch.ones(V, dtype=keypoints.dtype)
    ref = max(float(known.median()), floor_rel)
    w = 1.0 / (1.0 + (torch.nan_to_num(rel, nan=0.0) / (tolerance * ref)) ** 2)
    return (w / w.max()).to(keypoints.dtype)


def labelling_costs(
    P: torch.Tensor,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    flip_permutation: Sequence[int],
    combos: Sequence[Sequence[bool]],
    *,
    keypoint_ids: Sequence[int] | None = None,
    min_confidence: float = 0.3,
    clamp_px: float = 60.0,
) -> torch.Tensor:
    """(C,) triangulation residual (px, confidence-weighted mean, each clamped at ``clamp_px``) of
    each labelling in ``combos`` (C tuples of V bools: swap that view's left/right labels)."""
    flip = list(flip_permutation)
    ids = list(range(keypoints.shape[1])) if keypoint_ids is None else list(keypoint_ids)
    kp = torch.nan_to_num(keypoints.double())
    conf = torch.nan_to_num(confidence.double()) * torch.isfinite(keypoints).all(-1)
    conf = conf * (conf >= min_confidence)
    both = torch.stack([kp, kp[:, flip]]), torch.stack([conf, conf[:, flip]])  # (2, V, K, ...)
    costs = []
    V = P.shape[0]
    for combo in combos:
        pick = torch.tensor([int(bool(c)) for c in combo])
        k = both[0][pick, torch.arange(V)][:, ids]
        c = both[1][pick, torch.arange(V)][:, ids]
        X = weighted_dlt(P, k, c)
        ok = torch.isfinite(X).all(-1)
        res = (project_points(P.double(), torch.nan_to_num(X)) - k).norm(dim=-1).clamp(max=clamp_px)
        wts = c * ok
        costs.append(float((res * wts).sum() / wts.sum().clamp(min=1e-9)) if wts.sum() > 0 else clamp_px)
    return torch.tensor(costs)


def resolve_swaps(
    P: torch.Tensor,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    flip_permutation: Sequence[int],
    *,
    keypoint_ids: Sequence[int] | None = None,
    swap_cost_px: float = 0.5,
    min_confidence: float = 0.3,
    max_exhaustive_views: int = 8,
) -> list[bool]:
    """Per view, whether to swap its left/right labels: the labelling with the lowest
    triangulation residual plus ``swap_cost_px`` per swapped view (see the module docstring).
    Exhaustive up to ``max_exhaustive_views`` views, else greedy single-view swaps until none helps."""
    V = P.shape[0]
    if V < 2:
        return [False] * V
    kw = dict(keypoint_ids=keypoint_ids, min_confidence=min_confidence)
    if V <= max_exhaustive_views:
        combos = list(itertools.product((False, True), repeat=V))
        cost = labelling_costs(P, keypoints, confidence, flip_permutation, combos, **kw)
        cost = cost + swap_cost_px * torch.tensor([sum(c) for c in combos], dtype=cost.dtype)
        return list(combos[int(cost.argmin())])
    current = [False] * V
    best = float(labelling_costs(P, keypoints, confidence, flip_permutation, [current], **kw)[0])
    while True:  # total cost of ``current`` (residual + swap costs) is ``best``
        cands = [[c if j != i else not c for j, c in enumerate(current)] for i in range(V)]
        cost = labelling_costs(P, keypoints, confidence, flip_permutation, cands, **kw)
        cost = cost + swap_cost_px * torch.tensor([sum(c) for c in cands], dtype=cost.dtype)
        i = int(cost.argmin())
        if float(cost[i]) >= best - 1e-9:
            return current
        current, best = cands[i], float(cost[i])


# Legs (hip, knee, ankle) by keypoint name, left then right.
LEGS: tuple[tuple[str, str, str], ...] = tuple(
    (f"{side}_hip", f"{side}_knee", f"{side}_ankle") for side in ("left", "right")
)
# Knee flexion (the sine of the bend, signed; twice the least per leg) that decides a mirror: the
# knee axis of every frame of the bundled mocap clips (lying, crawling, flips included), with the
# true labels, gives a sum over the legs >= 0.13 (scripts/probe_knee_flexion.py); straight legs
# (about 0) and triangulation noise decide nothing.
MIRROR_MARGIN = 0.3


# Shortest hip or shoulder pair (m) that gives the body's left direction.
MIN_PAIR_M = 0.05


def body_left(points: torch.Tensor, names: Sequence[str]) -> torch.Tensor | None:
    """(3,) float64 unit vector toward the body's left under these labels: right hip to left hip
    plus right shoulder to left shoulder (hips seen from the side triangulate a few centimetres
    apart, and their difference alone can point anywhere; a pair under ``MIN_PAIR_M`` is left
    out). None without such a pair, or when hips and shoulders point opposite ways (a corrupted
    pair: no direction can be trusted)."""
    index = {n: i for i, n in enumerate(names)}
    p = points.double()
    pairs = [p[index[f"left_{j}"]] - p[index[f"right_{j}"]] for j in ("hip", "shoulder")]
    pairs = [d for d in pairs if bool(torch.isfinite(d).all()) and float(d.norm()) >= MIN_PAIR_M]
    if not pairs:
        return None
    if len(pairs) == 2 and float(pairs[0] @ pairs[1]) < 0.0:  # hips and shoulders disagree: unknown
        return None
    across = torch.stack(pairs).sum(0)
    return across / across.norm()


def leg_flexions(points: torch.Tensor, names: Sequence[str]) -> list[float | None] | None:
    """Per leg (left, right) sin(knee bend), signed by the axis of the bend (thigh x shank) along
    the body's right -> left direction (right hip to left hip plus right shoulder to left
    shoulder): positive for the labels of a real body (its shanks fold backward), negative under
    the mirror labelling. points (K, 3) (NaN where not triangulated); names: the K keypoint names.
    None for a leg without hip, knee and ankle; None overall without a hip or shoulder pair."""
    index = {n: i for i, n in enumerate(names)}
    p = points.double()
    across = body_left(points, names)
    if across is None:
        return None
    legs: list[float | None] = []
    for hip, knee, ankle in LEGS:
        h, k, a = p[index[hip]], p[index[knee]], p[index[ankle]]
        thigh, shank = k - h, a - k
        scale = float(thigh.norm() * shank.norm())
        ok = bool(torch.isfinite(thigh).all() and torch.isfinite(shank).all()) and scale > 1e-12
        legs.append(float(torch.linalg.cross(thigh, shank) @ across) / scale if ok else None)
    return legs


def knee_flexion(points: torch.Tensor, names: Sequence[str]) -> float | None:
    """Σ of :func:`leg_flexions` over the legs it could measure; None: no leg (or no hips and
    shoulders)."""
    legs = leg_flexions(points, names)
    legs = [f for f in legs or () if f is not None]
    return sum(legs) if legs else None


def is_mirrored(points: torch.Tensor, names: Sequence[str], margin: float = MIRROR_MARGIN) -> bool:
    """True when each knee bends forward under these labels by more than ``margin / 2`` (see
    :func:`leg_flexions`): the mirror labelling (every view swapped) is the body. One leg alone
    decides nothing: a leg the detector got wrong (an outlier, a swap of that leg only) bends
    either way, while a mirror turns both."""
    legs = leg_flexions(points, names)
    if legs is None or any(f is None for f in legs):
        return False
    return all(f < -margin / 2 for f in legs)


def rigid_fit(
    source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted Kabsch: rotation R (3, 3) and translation t (3,) minimising Σ w ‖R s + t − x‖².

    source, target (N, 3); weights (N,) >= 0 (at least three non-collinear points with weight > 0).
    """
    w = weights.double().clamp(min=0)
    w = w / w.sum().clamp(min=1e-12)
    s, x = source.double(), target.double()
    cs, cx = (w[:, None] * s).sum(0), (w[:, None] * x).sum(0)
    H = ((s - cs) * w[:, None]).T @ (x - cx)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vh.T @ U.T))
    D = torch.diag(torch.stack([torch.ones_like(d), torch.ones_like(d), d]))
    R = Vh.T @ D @ U.T
    t = cx - R @ cs
    return R.to(source.dtype), t.to(source.dtype)


# Limb chains (root -> middle -> end) by keypoint name; a bone's length is pose-invariant.
LIMB_CHAINS: tuple[tuple[str, str, str], ...] = tuple(
    (f"{side}_{a}", f"{side}_{b}", f"{side}_{c}")
    for side in ("left", "right")
    for a, b, c in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))
)


# Keypoints that hang below a limb's end (flagged with it).
EXTREMITIES: dict[str, tuple[str, ...]] = {
    f"{side}_{end}": tuple(f"{side}_{p}" for p in parts)
    for side in ("left", "right")
    for end, parts in (("ankle", ("heel", "foot_index")), ("wrist", ("pinky", "index", "thumb")))
}


TORSO_BONES: tuple[tuple[str, str], ...] = (
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_hip"),
    ("right_shoulder", "left_hip"),
)


TORSO_TOLERANCE = (0.2, 0.08)  # (fraction, metres) for the torso bones


def implausible_limbs(
    points: torch.Tensor,
    expected: torch.Tensor,
    names: Sequence[str],
    *,
    tolerance: float = 0.35,
    min_error_m: float = 0.15,
) -> torch.Tensor:
    """(K,) bool: triangulated keypoints that no body of the person's shape can have.

    points (K, 3): triangulated keypoints (NaN = not triangulated); expected (K, 3): the same
    keypoints on a body of the person's shape in any pose (only distances are used); names: the
    layout's K keypoint names. A bone is implausible when its length differs from the expected one
    by more than ``max(tolerance x expected, min_error_m)``; bones with an end not triangulated are
    not judged. Along each :data:`LIMB_CHAINS` chain root -> middle -> end:

    * root-middle implausible, middle-end plausible: if the root agrees with the torso (every
      judged :data:`TORSO_BONES` bone at it within :data:`TORSO_TOLERANCE`, at least one) the
      middle and end are someone else's (e.g. two views whose crops hold another person's legs):
      both are flagged, with the end's :data:`EXTREMITIES`; otherwise the root is flagged;
    * both bones implausible: the middle is flagged, and the end too when it is farther from the
      root than the two bones can reach;
    * only middle-end implausible: the end and its extremities are flagged.
    """
    index = {n: i for i, n in enumerate(names)}
    bad = torch.zeros(points.shape[0], dtype=torch.bool)

    def judge(a: int, b: int, tol: float = tolerance, min_m: float = min_error_m) -> bool | None:
        length = (points[a] - points[b]).norm()  # True = plausible, None = not judged
        if not torch.isfinite(length):
            return None
        want = float((expected[a] - expected[b]).norm())
        return abs(float(length) - want) <= max(tol * want, min_m)

    def torso_agrees(a: int) -> bool:  # the torso is nearly rigid: a tighter test
        tol, min_m = TORSO_TOLERANCE
        verdicts = [
            judge(index[x], index[y], tol, min_m) for x, y in TORSO_BONES if a in (index[x], index[y])
        ]
        return any(v is True for v in verdicts) and not any(v is False for v in verdicts)

    def flag_end(c: str) -> None:
        bad[[index[c]] + [index[n] for n in EXTREMITIES.get(c, ()) if n in index]] = True

    for chain in LIMB_CHAINS:
        if not all(n in index for n in chain):
            continue
        a, b, c = (index[n] for n in chain)
        upper, lower = judge(a, b), judge(b, c)
        if upper is False and lower is not False:
            if torso_agrees(a):
                bad[b] = True
                if lower is True:
                    flag_end(chain[2])
            else:
                bad[a] = True
        elif upper is False and lower is False:
            bad[b] = True
            reach = float((expected[a] - expected[b]).norm() + (expected[b] - expected[c]).norm())
            if judge(a, c) is not None and float((points[a] - points[c]).norm()) > reach * (1 + tolerance):
                flag_end(chain[2])
        elif upper is True and lower is False:
            flag_end(chain[2])
    return bad
