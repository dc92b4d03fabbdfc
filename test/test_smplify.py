"""SMPLify baseline: GMM pose prior fitted on training poses, two-stage fit, variants (no ROS)."""

import roma
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.camera import project
from scorehmr_ros.core.regressor import load_regressor
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.smplify import (
    GMMPosePrior,
    SMPLifyConfig,
    bending_prior,
    run_smplify,
)
from scorehmr_ros.eval.variants import flat_cameras
from scorehmr_ros.sim.mocap import heldout_clips, load_mocap, train_clips

torch.set_num_threads(1)
FAST = SMPLifyConfig(camera_iters=20, body_iters=30)


def _body_aa(rot: torch.Tensor) -> torch.Tensor:
    return roma.rotmat_to_rotvec(rot[:, 1:]).reshape(-1, 69)


def _slice(views=2):
    bm = load_body_model()
    scene = heldout_scenes(bm, num_views=views, seed=0, frame_stride=3, max_frames=4)[0]
    reg = regress_scene(bm, load_regressor(), scene)
    return bm, scene, reg


def _err_2d(bm, scene, rot, betas, transl) -> float:
    T, V = scene.num_frames, scene.num_views
    kp = bm.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl)
    uv = project(kp, flat_cameras(scene).K)
    det, conf = scene.keypoints2d.reshape(T * V, -1, 2), scene.confidence.reshape(T * V, -1)
    return float((((uv - det).norm(dim=-1)) * conf).sum() / conf.sum())


def test_gmm_prefers_mocap_poses_over_random_rotations():
    prior = GMMPosePrior.load()
    assert prior.num_components == 8 and prior.means.shape == (8, 69)
    clips = load_mocap()
    train = torch.cat([c.rotations[::10] for c in train_clips(clips).values()])
    held = torch.cat([c.rotations[::5] for c in heldout_clips(clips).values()])
    rand = roma.random_rotmat((200, 24), generator=torch.Generator().manual_seed(0))
    nll_train, nll_held, nll_rand = (prior.nll(_body_aa(r)) for r in (train, held, rand))
    assert torch.isfinite(nll_train).all() and torch.isfinite(nll_held).all()
    assert nll_train.median() < nll_rand.min()
    assert nll_held.median() < nll_rand.min()
    # SMPLify's max-mixture approximation bounds the exact NLL from above.
    assert (prior(_body_aa(held)) >= prior.nll(_body_aa(held)) - 1e-3).all()


def test_bending_prior_penalises_wrong_way_knees_and_elbows():
    pose = torch.zeros(2, 23, 3)
    pose[1, 3, 0] = -0.5  # left knee bent backwards (flexion is +x)
    assert bending_prior(pose.reshape(2, 69))[1] > bending_prior(pose.reshape(2, 69))[0]


def test_smplify_lowers_reprojection_error_and_keeps_inputs():
    bm, scene, reg = _slice()
    kp0, conf0 = scene.keypoints2d.clone(), scene.confidence.clone()
    rot0, betas0, transl0 = reg.rotations.clone(), reg.betas.clone(), reg.transl.clone()
    res = run_smplify(bm, scene, reg, "single", FAST)
    for a, b in ((kp0, scene.keypoints2d), (conf0, scene.confidence), (rot0, reg.rotations)):
        assert torch.equal(a, b)
    assert torch.equal(betas0, reg.betas) and torch.equal(transl0, reg.transl)
    before = _err_2d(bm, scene, reg.rotations, reg.betas, reg.transl)
    after = _err_2d(bm, scene, res.rotations, res.betas, res.transl)
    assert after < before
    assert res.body_calls == FAST.camera_iters + FAST.body_iters
    assert res.body_evals == res.body_calls * scene.num_frames * scene.num_views
    assert torch.allclose(
        res.rotations.transpose(-1, -2) @ res.rotations, torch.eye(3).expand_as(res.rotations), atol=1e-4
    )


def test_multiview_shares_body_pose_per_frame_and_temporal_runs():
    bm, scene, reg = _slice()
    T, V = scene.num_frames, scene.num_views
    res = run_smplify(bm, scene, reg, "multiview", FAST)
    body = res.rotations[:, 1:].reshape(T, V, 23, 3, 3)
    assert torch.allclose(body, body[:, :1].expand_as(body), atol=1e-6)
    glob = res.rotations[:, 0].reshape(T, V, 3, 3)
    assert not torch.allclose(glob[:, 0], glob[:, 1], atol=1e-3)  # per-view orientation
    betas = res.betas.reshape(T, V, -1)
    assert torch.allclose(betas, betas[:, :1].expand_as(betas))
    comb = run_smplify(bm, scene, reg, "combined", FAST)
    assert torch.allclose(comb.betas, comb.betas[:1].expand_as(comb.betas))
    temp = run_smplify(bm, scene, reg, "temporal", FAST)
    assert all(torch.isfinite(r.rotations).all() for r in (res, comb, temp))


def test_calibrated_smplify_fits_one_world_body_to_every_view():
    """One world-frame body per frame, fitted to all views: it lands on the ground truth far closer
    than its start (the node's torso-placed start) and its inputs are untouched."""
    from scorehmr_ros.eval.smplify import calibrated_start, run_smplify_calibrated

    bm, scene, reg = _slice(views=3)
    T = scene.num_frames
    before = [x.clone() for x in (reg.rotations, reg.betas, reg.transl, scene.keypoints2d)]
    rot0, betas0, transl0 = calibrated_start(bm, scene, reg)
    res = run_smplify_calibrated(bm, scene, reg, SMPLifyConfig(camera_iters=30, body_iters=60))
    assert res.rotations.shape == (T, 24, 3, 3) and res.transl.shape == (T, 3)
    assert torch.allclose(res.betas, res.betas[:1].expand_as(res.betas))  # one shape per scene

    def fixed_mm(rot, betas, transl):
        pred = bm.skeleton(rot[:, 0], rot[:, 1:], betas, transl)
        return 1000 * float((pred - scene.joints_world).norm(dim=-1).mean())

    start, fitted = fixed_mm(rot0, betas0, transl0), fixed_mm(res.rotations, res.betas, res.transl)
    assert fitted < 0.7 * start and fitted < 60, (start, fitted)
    after = (reg.rotations, reg.betas, reg.transl, scene.keypoints2d)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
