"""core.calibrated_fit: one body fitted to every calibrated view's keypoints (pose, shape, position);
and the calibrated stream built on it beats robust DLT triangulation of the same keypoints."""

import dataclasses

import pytest
import roma
import torch

from scorehmr_ros.core.body_model import load_body_model, rotmat_to_pose6d
from scorehmr_ros.core.calibrated_fit import FitConfig, FitJob, _Problem, fit_bodies, fit_body_to_views
from scorehmr_ros.core.camera import project, world_to_camera
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import PRESETS
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.core.streaming import StreamingEstimator
from scorehmr_ros.core.triangulation import project_points, projection_matrices, triangulate
from scorehmr_ros.eval.heldout import heldout_scenes
from scorehmr_ros.eval.streaming import LIMB_BLAZEPOSE, LIMB_SMPL, calibrated_views
from scorehmr_ros.sim.mocap import heldout_clips, load_mocap
from scorehmr_ros.sim.scene import CLEAN, make_scene


@pytest.fixture(scope="module")
def bm():
    return load_body_model()


@pytest.fixture(scope="module")
def dance(bm):
    clip = heldout_clips(load_mocap())["humanoid3d_dance_b"]
    return make_scene(bm, clip, 3, seed=3, frames=slice(0, 1), corruption=CLEAN)


def _P(scene):
    T = torch.eye(4).repeat(scene.num_views, 1, 1)
    T[:, :3, :3], T[:, :3, 3] = scene.cameras.R, scene.cameras.t
    return projection_matrices(scene.cameras.K, torch.linalg.inv(T))


def _perturbed_start(scene, gen):
    """The true body with every joint rotated by ~10 degrees, shape off, pelvis 5 cm away."""
    rot = scene.rotations[0]
    noise = roma.rotvec_to_rotmat(0.17 * torch.randn(23, 3, generator=gen) / 3**0.5)
    body_pose = noise @ rot[1:]
    betas = scene.betas + 0.5 * torch.randn(scene.betas.shape, generator=gen)
    pelvis = scene.joints_world[0, 0] + torch.tensor([0.05, -0.03, 0.02])
    return rot[0], body_pose, betas, pelvis


def test_fit_recovers_the_body_from_exact_projections(bm, dance):
    gen = torch.Generator().manual_seed(0)
    P = _P(dance)
    orient, body_pose, betas, pelvis = _perturbed_start(dance, gen)
    gt = dance.joints_world[0]
    start = bm.skeleton(orient[None], body_pose[None], betas[None])[0]
    start = start - start[0] + pelvis
    exact = FitConfig(iterations=10, pose_prior=0.0, betas_prior=0.0)
    kp = dance.keypoints2d_clean[0]
    fit = fit_body_to_views(bm, P, kp, torch.ones(3, 33), orient, body_pose, betas, pelvis, exact)
    joints = bm.skeleton(fit.orient[None], fit.body_pose[None], fit.betas[None])[0]
    joints = joints - joints[0] + fit.pelvis
    err_fit = (joints - gt).norm(dim=-1).mean()
    err_start = (start - gt).norm(dim=-1).mean()
    assert err_fit < 0.012 and err_fit < 0.25 * err_start, (err_fit, err_start)
    assert fit.residual_px < 1.5
    assert (fit.pelvis - gt[0]).norm() < 0.01


def test_fit_ignores_a_view_with_zero_weight_and_keeps_its_inputs(bm, dance):
    gen = torch.Generator().manual_seed(1)
    P = _P(dance)
    orient, body_pose, betas, pelvis = _perturbed_start(dance, gen)
    kp = dance.keypoints2d_clean[0].clone()
    kp[1] += 80.0  # a view confidently wrong everywhere...
    weights = torch.ones(3, 33)
    weights[1] = 0.0  # ...that the triangulation rejected
    copies = [t.clone() for t in (kp, orient, body_pose, betas, pelvis)]
    fit = fit_body_to_views(bm, P, kp, weights, orient, body_pose, betas, pelvis, FitConfig(iterations=10))
    for a, b in zip(copies, (kp, orient, body_pose, betas, pelvis), strict=True):
        assert torch.equal(a, b)  # inputs never edited in place
    pts = bm.pose_keypoints(fit.orient[None], fit.body_pose[None], fit.betas[None], None)[0]
    pts = pts - bm.skeleton(fit.orient[None], fit.body_pose[None], fit.betas[None])[0, :1] + fit.pelvis
    err = (project_points(P, pts) - dance.keypoints2d_clean[0]).norm(dim=-1)
    assert err[[0, 2]].mean() < 3.0, err[[0, 2]].mean()
    unfitted = fit_body_to_views(bm, P, kp, torch.zeros(3, 33), orient, body_pose, betas, pelvis)
    assert unfitted.residual_px != unfitted.residual_px and unfitted.body_pose is body_pose  # NaN: start kept


def test_calibrated_stream_beats_triangulation():
    """Two held-out clips, 3 calibrated views with the default detector-like corruption: the
    realtime preset's limb error in the fixed frame is at most 0.9x robust DLT's (on the keypoints DLT
    dares to triangulate), its pelvis never 0.25 m off."""
    stride = 4
    models = ScoreHMRModels.load()
    scenes = heldout_scenes(models.body_model, num_views=3, seed=11, frame_stride=stride, max_frames=6)[:2]
    ours, dlt = [], []
    for scene in scenes:
        est = StreamingEstimator(models, PRESETS["realtime"])
        for t in range(scene.num_frames):
            views = calibrated_views(scene, t)
            body = est.process(round(t * stride * 1e9 / scene.fps), views)[0]
            gt_j = scene.joints_world[t]
            ours.append((body.joints[list(LIMB_SMPL)] - gt_j[list(LIMB_SMPL)]).norm(dim=-1).mean())
            assert (body.joints[0] - gt_j[0]).norm() < 0.25
            P = projection_matrices(
                torch.stack([v.K for v in views]), torch.stack([v.cam_to_ref for v in views])
            )
            tri = triangulate(
                P, torch.stack([v.keypoints for v in views]), torch.stack([v.confidence for v in views])
            )
            pts, gt_k = tri.points[list(LIMB_BLAZEPOSE)], scene.keypoints3d_world[t, list(LIMB_BLAZEPOSE)]
            ok = torch.isfinite(pts).all(-1)
            dlt.append((pts[ok] - gt_k[ok]).norm(dim=-1).mean())
    ours, dlt = torch.stack(ours).mean(), torch.stack(dlt).mean()
    assert ours <= 0.9 * dlt, (float(ours), float(dlt))


def test_finite_difference_jacobian_matches_forward_mode_autodiff(bm, dance):
    """The Levenberg-Marquardt Jacobian (forward differences, one batched body-model call) against
    torch.func.jacfwd of the same weighted residuals: rotation increments, pelvis shift and shape."""
    gen = torch.Generator().manual_seed(4)
    P = _P(dance)[None]
    kp = (dance.keypoints2d_clean[0] + 3.0 * torch.randn(3, 33, 2, generator=gen))[None]
    orient, body_pose, betas, pelvis = _perturbed_start(dance, gen)
    w = torch.rand(1, 3, 33, generator=gen)
    problem = _Problem(bm, P, kp, w / w.sum(), rotmat_to_pose6d(dance.rotations[0, 1:]).reshape(1, -1),
                       dance.betas[None].float(), FitConfig())  # fmt: skip
    R = torch.cat([orient[None], body_pose])[None].float()
    transl, b = pelvis[None].float(), betas[None].float()
    sqrt_w = torch.rand(1, 3, 33, 2, generator=gen)
    r, J = problem.jacobian(R, transl, b, sqrt_w)
    D = J.shape[-1]
    assert D == 24 * 3 + 3 + b.shape[-1]
    exact = torch.func.jacfwd(lambda th: problem.residuals(R, transl, b, sqrt_w, th[None])[0])(torch.zeros(D))
    assert torch.allclose(r[0], problem.residuals(R, transl, b, sqrt_w, torch.zeros(1, D))[0])
    rel = (J[0] - exact).norm() / exact.norm()
    assert rel < 1e-2, float(rel)
    for block in (slice(0, 72), slice(72, 75), slice(75, D)):  # each parameter group on its own
        assert (J[0, :, block] - exact[:, block]).norm() < 0.02 * exact[:, block].norm()


def test_batched_fits_equal_separate_fits(bm, dance):
    """Two bodies (3 views and 2 views) in one fit_bodies call give the separate calls' results."""
    gen = torch.Generator().manual_seed(2)
    P = _P(dance)
    kp = dance.keypoints2d_clean[0] + 2.0 * torch.randn(3, 33, 2, generator=gen)
    jobs = [
        FitJob(P, kp, torch.ones(3, 33), *_perturbed_start(dance, gen)),
        FitJob(P[:2], kp[:2], torch.ones(2, 33), *_perturbed_start(dance, gen)),
    ]
    cfg = FitConfig(iterations=3)
    together = fit_bodies(bm, jobs, cfg)

    def joints(fit):  # (24, 3) m: what the fit is for; float rounding moves ill-posed rotations a little
        j = bm.skeleton(fit.orient[None], fit.body_pose[None], fit.betas[None])[0]
        return j - j[0] + fit.pelvis

    for job, fit in zip(jobs, together, strict=True):
        alone = fit_body_to_views(bm, job.P, job.keypoints, job.weights, job.orient, job.body_pose, job.betas,
                                  job.pelvis, cfg)  # fmt: skip
        assert (joints(fit) - joints(alone)).norm(dim=-1).max() < 5e-4
        assert torch.allclose(fit.betas, alone.betas, atol=1e-2)
    assert (joints(together[0]) - joints(together[1])).norm(dim=-1).max() > 5e-3


def test_shape_average_restarts_after_a_gap():
    """The running mean of fitted shapes spans one stretch of the stream: after a gap longer than
    fit_memory_s (someone else may stand there now) it starts again."""
    models = ScoreHMRModels.load()
    scene = heldout_scenes(models.body_model, num_views=3, seed=11, frame_stride=4, max_frames=4)[0]
    est = StreamingEstimator(models, PRESETS["realtime"])
    step_ns = round(4e9 / scene.fps)
    for t in range(3):
        est.process(t * step_ns, calibrated_views(scene, t))
    assert est._fit_count == 3
    est.process(2 * step_ns + int(2e9), calibrated_views(scene, 3))  # 2 s later
    assert est._fit_count == 1


def test_someone_elses_legs_in_two_views_are_not_fitted():
    """Two of three calibrated views hold another person's legs (the true legs shifted 0.5 m, so
    the two views agree with each other and the triangulation keeps them): the limb-length check
    drops those keypoints and the published knees and ankles stay far closer to the truth than
    without it (which fits the other person's legs)."""
    models = ScoreHMRModels.load()
    clip = heldout_clips(load_mocap())["humanoid3d_dance_b"]
    scene = make_scene(models.body_model, clip, 3, seed=3, frames=slice(0, 24, 4), corruption=CLEAN)
    names = get_layout("blazepose33").keypoint_names
    legs = [
        names.index(f"{s}_{p}") for s in ("left", "right") for p in ("knee", "ankle", "heel", "foot_index")
    ]
    other = scene.keypoints3d_world[:, legs] + torch.tensor([0.5, 0.0, 0.0])
    kp = scene.keypoints2d.clone()
    for v in (0, 1):
        cam = world_to_camera(other.reshape(1, -1, 3), scene.cameras.R[v : v + 1], scene.cameras.t[v : v + 1])
        kp[:, v, legs] = project(cam, scene.cameras.K[v : v + 1]).reshape(scene.num_frames, len(legs), 2)
    mixed = dataclasses.replace(scene, keypoints2d=kp)
    leg_joints = [JOINT_INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("knee", "ankle")]
    errors = {}
    for tol in (0.35, None):
        est = StreamingEstimator(models, dataclasses.replace(PRESETS["realtime"], limb_length_tolerance=tol))
        err = []
        for t in range(scene.num_frames):
            body = est.process(round(t * 4e9 / scene.fps), calibrated_views(mixed, t))[0]
            err.append((body.joints[leg_joints] - scene.joints_world[t, leg_joints]).norm(dim=-1).mean())
        errors[tol] = float(torch.stack(err).mean())
        assert (est.limb_keypoints_rejected > 0) == (tol is not None)
    assert errors[0.35] < 0.6 * errors[None], errors
