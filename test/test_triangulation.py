"""core.triangulation: robust weighted DLT of BlazePose-33 keypoints and multi-view swap resolution."""

import pytest
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.triangulation import (
    MIRROR_MARGIN,
    body_left,
    is_mirrored,
    knee_flexion,
    projection_matrices,
    resolve_swaps,
    triangulate,
    view_weights,
)
from scorehmr_ros.sim.mocap import heldout_clips, load_mocap
from scorehmr_ros.sim.scene import CLEAN, make_scene

FLIP = get_layout("blazepose33").flip_permutation


@pytest.fixture(scope="module")
def lying():
    """getup_faceup frames 0 and 20 (the subject lies on the floor), 4 clean views, world = reference."""
    bm = load_body_model()
    clip = heldout_clips(load_mocap())["humanoid3d_getup_faceup"]
    return make_scene(bm, clip, 4, seed=5, frames=slice(0, 40, 20), corruption=CLEAN)


def _rig(scene, views):
    T = torch.eye(4).repeat(len(views), 1, 1)
    T[:, :3, :3], T[:, :3, 3] = scene.cameras.R[views], scene.cameras.t[views]
    cam_to_ref = torch.linalg.inv(T)
    return projection_matrices(scene.cameras.K[views], cam_to_ref)


def test_exact_projections_recovered_below_1mm(lying):
    views = [0, 1, 2, 3]
    P = _rig(lying, views)
    for t in range(lying.num_frames):
        kp = lying.keypoints2d_clean[t, views]
        conf = lying.confidence[t, views]
        tri = triangulate(P, kp, conf)
        ok = tri.valid
        assert ok.sum() >= 30
        err = (tri.points[ok] - lying.keypoints3d_world[t, ok]).norm(dim=-1)
        assert err.max() < 1e-3, err.max()


def test_one_outlier_view_is_rejected(lying):
    views = [0, 1, 2, 3]
    P = _rig(lying, views)
    kp = lying.keypoints2d_clean[0, views].clone()
    conf = lying.confidence[0, views].clone()
    gen = torch.Generator().manual_seed(1)
    kp[2] += 60 + 60 * torch.rand(kp[2].shape, generator=gen)  # a view confidently wrong everywhere
    tri = triangulate(P, kp, conf)
    ok = tri.valid & (conf > 0.3).sum(0).ge(3)
    err = (tri.points[ok] - lying.keypoints3d_world[0, ok]).norm(dim=-1)
    assert err.max() < 2e-3, err.max()
    assert not tri.used[2, ok].any()
    naive = triangulate(P, kp, conf, max_residual_px=1e9)  # no rejection: far off
    assert (naive.points[ok] - lying.keypoints3d_world[0, ok]).norm(dim=-1).mean() > 0.02


def test_keypoints_whose_only_views_disagree_are_not_triangulated(lying):
    """Keypoints seen by exactly two views that disagree (one of them 80 px off) cannot be
    repaired: they are not triangulated, with two views or with four of which two miss them; the
    keypoints the views agree on still are."""
    kp = lying.keypoints2d_clean[0].clone()
    conf = torch.ones(4, kp.shape[1])
    wrong = torch.tensor([11, 12, 23, 24])  # shoulders and hips
    kp[1, wrong] += 80.0
    pair = triangulate(_rig(lying, [0, 1]), kp[[0, 1]], conf[[0, 1]])
    conf[2:, wrong] = 0.0  # the other two views miss them
    four = triangulate(_rig(lying, [0, 1, 2, 3]), kp, conf)
    for tri in (pair, four):
        assert not tri.valid[wrong].any() and not tri.used[:, wrong].any()
        ok = tri.valid
        assert ok.sum() >= 25
        assert (tri.points[ok] - lying.keypoints3d_world[0, ok]).norm(dim=-1).max() < 1e-3


def test_low_visibility_keypoints_fall_back_to_the_light_views(lying):
    """Occluded hips come with visibility below 0.3 in most views but right positions: they are
    triangulated from those views (weighted) rather than left out, which breaks the torso start."""
    views = [0, 1, 2]
    P = _rig(lying, views)
    kp = lying.keypoints2d_clean[0, views]
    conf = torch.full(kp.shape[:2], 0.9)
    names = get_layout("blazepose33").keypoint_names
    hips = [names.index("left_hip"), names.index("right_hip")]
    conf[:, hips] = torch.tensor([0.2, 0.15])  # both hips, every view
    tri = triangulate(P, kp, conf)
    assert tri.valid[hips].all()
    err = (tri.points[hips] - lying.keypoints3d_world[0, hips]).norm(dim=-1)
    assert err.max() < 1e-3, err
    strict = triangulate(P, kp, conf, fallback_confidence=None)
    assert not strict.valid[hips].any()


@pytest.mark.parametrize("swapped", [0, 1, 2])
def test_swap_resolution_on_a_lying_pose(lying, swapped):
    views = [0, 1, 2]
    P = _rig(lying, views)
    gen = torch.Generator().manual_seed(swapped)
    for t in range(lying.num_frames):
        kp = lying.keypoints2d_clean[t, views] + 3 * torch.randn(3, 33, 2, generator=gen)
        conf = lying.confidence[t, views].clone()
        kp[swapped], conf[swapped] = kp[swapped, list(FLIP)], conf[swapped, list(FLIP)]
        flips = resolve_swaps(P, kp, conf, FLIP)
        assert flips == [v == swapped for v in range(3)], (t, flips)
        none = resolve_swaps(P, lying.keypoints2d_clean[t, views], lying.confidence[t, views], FLIP)
        assert none == [False] * 3


def test_implausible_limbs_flags_bones_no_body_has(lying):
    """Exact keypoints of one frame judged against the same body in another pose: nothing flagged,
    also under 2 cm noise. A knee alone 40 cm off flags the knee; the whole lower leg 40 cm off
    (someone else's) flags knee, ankle and foot; a shoulder 50 cm off flags the shoulder, not its
    arm; a hip not triangulated leaves its leg unjudged."""
    from scorehmr_ros.core.triangulation import implausible_limbs

    names = get_layout("blazepose33").keypoint_names
    ix = {n: i for i, n in enumerate(names)}
    pts, other_pose = lying.keypoints3d_world[0].clone(), lying.keypoints3d_world[-1]

    def flagged(points):
        return {names[i] for i in torch.nonzero(implausible_limbs(points, other_pose, names)).flatten()}

    assert flagged(pts) == set()
    gen = torch.Generator().manual_seed(0)
    assert flagged(pts + 0.02 * torch.randn(pts.shape, generator=gen)) == set()
    thigh = torch.nn.functional.normalize(pts[ix["left_knee"]] - pts[ix["left_hip"]], dim=0)
    knee_only = pts.clone()
    knee_only[ix["left_knee"]] += 0.4 * thigh
    assert flagged(knee_only) == {"left_knee"}
    lower_leg = pts.clone()
    leg = [ix[n] for n in ("left_knee", "left_ankle", "left_heel", "left_foot_index")]
    lower_leg[leg] += 0.4 * thigh
    assert flagged(lower_leg) == {"left_knee", "left_ankle", "left_heel", "left_foot_index"}
    shoulder = pts.clone()
    shoulder[ix["left_shoulder"]] += torch.tensor([0.0, 0.5, 0.0])
    assert flagged(shoulder) == {"left_shoulder"}
    lower_leg[ix["left_hip"]] = float("nan")
    assert flagged(lower_leg) == set()


def _noisy_views(scene, views, offset_px, seed=3):
    """Keypoints of frame 0 with 1 px noise; the last view shifted by ``offset_px`` (a view that keeps
    placing the person a little elsewhere: within the default 20 px limit)."""
    gen = torch.Generator().manual_seed(seed)
    kp = scene.keypoints2d_clean[0, views].clone()
    kp += torch.randn(kp.shape, generator=gen)
    kp[-1] += torch.tensor([offset_px, -0.5 * offset_px])
    return kp, scene.confidence[0, views].clone()


def test_a_view_the_others_contradict_weighs_less(lying):
    views = [0, 1, 2, 3]
    kp, conf = _noisy_views(lying, views, 12.0)
    w = view_weights(triangulate(_rig(lying, views), kp, conf), kp, conf)
    assert w.max() == 1.0
    assert w[-1] < 0.6 * w[:-1].min(), w
    clean, _ = _noisy_views(lying, views, 0.0)
    assert bool((view_weights(triangulate(_rig(lying, views), clean, conf), clean, conf) > 0.6).all())
    two = [0, 3]  # two views disagree symmetrically: nothing says which one is wrong
    kp2, conf2 = _noisy_views(lying, two, 12.0)
    assert torch.equal(view_weights(triangulate(_rig(lying, two), kp2, conf2), kp2, conf2), torch.ones(2))


def test_per_view_residual_limits(lying):
    """A limit per view: the shifted view's keypoints pass 20 px but not 6 px in that view."""
    views = [0, 1, 2, 3]
    P = _rig(lying, views)
    kp, conf = _noisy_views(lying, views, 12.0)
    loose = triangulate(P, kp, conf)
    tight = triangulate(P, kp, conf, max_residual_px=torch.tensor([20.0, 20.0, 20.0, 6.0]))
    seen = conf[-1] > 0.3
    assert loose.used[-1, seen].float().mean() > 0.8
    assert tight.used[-1, seen].float().mean() < 0.2
    assert torch.equal(tight.used[:-1], loose.used[:-1] | tight.used[:-1])
    truth = lying.keypoints3d_world[0]
    ok = tight.valid & loose.valid
    assert (tight.points[ok] - truth[ok]).norm(dim=-1).mean() < (loose.points[ok] - truth[ok]).norm(
        dim=-1
    ).mean()


def test_knee_flexion_names_the_mirror_labelling(lying):
    """The knees' bend axis points to the body's left with the true labels (lying here) and to its
    right under the mirror labelling; without hips and shoulders, or legs, it decides nothing."""
    names = get_layout("blazepose33").keypoint_names
    views = [0, 1, 2, 3]
    for t in range(lying.keypoints2d.shape[0]):
        tri = triangulate(_rig(lying, views), lying.keypoints2d[t], lying.confidence[t])
        assert knee_flexion(tri.points, names) > MIRROR_MARGIN and not is_mirrored(tri.points, names)
        mirrored = tri.points[list(FLIP)]
        assert knee_flexion(mirrored, names) == pytest.approx(-knee_flexion(tri.points, names))
        assert is_mirrored(mirrored, names)
        no_torso = mirrored.clone()
        for n in ("left_hip", "right_hip", "left_shoulder", "right_shoulder"):
            no_torso[names.index(n)] = float("nan")
        assert knee_flexion(no_torso, names) is None and not is_mirrored(no_torso, names)
        no_legs = mirrored.clone()
        for n in ("left_knee", "right_knee"):
            no_legs[names.index(n)] = float("nan")
        assert knee_flexion(no_legs, names) is None


def test_body_left_leaves_out_short_pairs_and_gives_up_when_hips_and_shoulders_disagree():
    names = get_layout("blazepose33").keypoint_names
    points = torch.full((33, 3), float("nan"), dtype=torch.float64)

    def put(name, xyz):
        points[names.index(name)] = torch.tensor(xyz, dtype=torch.float64)

    put("left_hip", [0.1, 0.0, 3.0]), put("right_hip", [-0.1, 0.0, 3.0])
    put("left_shoulder", [0.2, -0.5, 3.0]), put("right_shoulder", [-0.2, -0.5, 3.0])
    assert torch.allclose(body_left(points, names), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    put("left_hip", [0.01, 0.0, 3.02])  # hips 2 cm apart (seen from the side): shoulders alone
    put("right_hip", [0.0, 0.0, 3.0])
    assert torch.allclose(body_left(points, names), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    put("left_hip", [-0.1, 0.0, 3.0]), put("right_hip", [0.1, 0.0, 3.0])  # hips one way, shoulders the other
    assert body_left(points, names) is None
