"""Synthetic scenes: random rigs, keypoint corruption, self-occlusion, scene ground truth."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.camera import look_at, project, world_to_camera
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.sim.mocap import load_mocap
from scorehmr_ros.sim.scene import (
    CLEAN,
    HARD,
    HEAVY_TRAINING,
    KeypointCorruption,
    Scene,
    corrupt_keypoints,
    interpolate_corruption,
    make_scene,
    random_cameras,
    scene_vertices,
    scene_views,
    self_occlusion,
)
from scorehmr_ros.sim.view_sampling import CorruptionRange, sample_views

KP = get_layout("blazepose33").keypoint_names


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def clips():
    return load_mocap()


@pytest.fixture(scope="module")
def run_scene(body, clips) -> Scene:
    return make_scene(body, clips["humanoid3d_run"], 3, seed=7)


# --------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_views", [1, 2, 3, 4, 6])
def test_random_cameras_geometry(num_views):
    target = torch.tensor([0.3, 0.9, -0.2])
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        cams = random_cameras(num_views, gen, tuple(target.tolist()))
        assert len(cams) == num_views
        c = cams.centers
        dist = (c - target).norm(dim=-1)
        assert (dist >= 2.0 - 1e-4).all() and (dist <= 6.0 + 1e-4).all(), dist
        assert (c[:, 1] >= 0.5 - 1e-4).all() and (c[:, 1] <= 2.5 + 1e-4).all()
        az = torch.atan2(c[:, 0] - target[0], c[:, 2] - target[2])
        step = torch.rad2deg(torch.remainder(az[1:] - az[:-1], 2 * math.pi))
        assert ((step >= 40 - 1e-3) & (step <= 90 + 1e-3)).all(), step
        f = cams.K[:, 0, 0]
        assert ((f >= 500 - 1e-3) & (f <= 1500 + 1e-3)).all()
        assert torch.allclose(cams.K[:, 1, 1], f)
        assert ((cams.K[:, 0, 2] - 320).abs() <= 0.02 * 640 + 1e-3).all()
        assert ((cams.K[:, 1, 2] - 240).abs() <= 0.02 * 480 + 1e-3).all()
        assert torch.equal(cams.image_size, torch.tensor([[640.0, 480.0]]).expand(num_views, 2))
        # every camera looks at the target: it projects near the principal point
        tc = world_to_camera(target.expand(num_views, 1, 3), cams.R, cams.t)
        assert (tc[..., 2] > 0).all()
        uv = project(tc, cams.K)[:, 0]
        assert torch.allclose(uv, cams.K[:, :2, 2], atol=1e-2)
        # proper rotations
        assert torch.allclose(
            cams.R @ cams.R.transpose(1, 2), torch.eye(3).expand(num_views, 3, 3), atol=1e-5
        )
        assert torch.allclose(torch.linalg.det(cams.R), torch.ones(num_views), atol=1e-5)


def test_random_cameras_options_and_determinism():
    a = random_cameras(3, torch.Generator().manual_seed(1), image_size=(1280, 720), focal_range=(800, 900))
    b = random_cameras(3, torch.Generator().manual_seed(1), image_size=(1280, 720), focal_range=(800, 900))
    assert torch.equal(a.K, b.K) and torch.equal(a.R, b.R) and torch.equal(a.t, b.t)
    assert torch.equal(a.image_size[0], torch.tensor([1280.0, 720.0]))
    assert ((a.K[:, 0, 0] >= 800) & (a.K[:, 0, 0] <= 900)).all()
    assert ((a.K[:, 0, 2] - 640).abs() <= 0.02 * 1280 + 1e-3).all()


def test_body_projects_inside_image(body, clips):
    for name in ("humanoid3d_run", "humanoid3d_dance_b", "humanoid3d_kick", "walker_turn_left0"):
        for seed in range(3):
            sc = make_scene(body, clips[name], 4, seed, slice(0, None, 3), CLEAN, occlusion=False)
            uv = sc.keypoints2d_clean
            inside = (uv[..., 0] >= 0) & (uv[..., 0] < 640) & (uv[..., 1] >= 0) & (uv[..., 1] < 480)
            assert inside.float().mean() > 0.97, (name, seed, inside.float().mean())
            # person is a reasonable size: median keypoint-box height > 80 px
            height = uv[..., 1].amax(-1) - uv[..., 1].amin(-1)
            assert height.median() > 80, (name, seed)


# --------------------------------------------------------------------------------------------
# Corruption
# --------------------------------------------------------------------------------------------
def _grid_uv(B, K, w=640, h=480, seed=0):
    g = torch.Generator().manual_seed(seed)
    uv = torch.rand(B, K, 2, generator=g) * torch.tensor([w - 200.0, h - 200.0]) + 100
    return uv, torch.full((B, K), 4.0), torch.tensor([float(w), float(h)]).expand(B, 2)


def test_clean_corruption_is_exact():
    uv, depth, size = _grid_uv(50, 33)
    noisy, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(0), CLEAN)
    assert torch.equal(noisy, uv)
    assert torch.equal(conf, torch.ones(50, 33))
    # occlusion flags do not change a CLEAN corruption either
    occ = torch.rand(50, 33) < 0.5
    noisy, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(0), CLEAN, occ)
    assert torch.equal(noisy, uv) and torch.equal(conf, torch.ones(50, 33))


def test_corruption_statistics():
    B, K = 2000, 33
    uv, depth, size = _grid_uv(B, K)
    cfg = KeypointCorruption(pixel_noise_std=3.0, outlier_prob=0.0, missing_prob=0.05, conf_noise=0.1)
    noisy, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(1), cfg)
    res = noisy - uv
    assert abs(res.std().item() - 3.0) < 0.1
    assert abs(res.mean().item()) < 0.05
    missing = (conf == 0).float().mean().item()
    assert abs(missing - 0.05) < 0.01
    visible = conf[conf > 0]
    assert (visible <= 1).all() and (visible > 0.5).all()
    assert abs((1 - visible).mean().item() - 0.1 * math.sqrt(2 / math.pi)) < 0.01  # E|N(0, 0.1)|

    # outliers: displaced up to 150 px, confidence still fairly high
    cfg = KeypointCorruption(pixel_noise_std=0.0, outlier_prob=0.2, missing_prob=0.0, conf_noise=0.0)
    noisy, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(2), cfg)
    moved = (noisy - uv).norm(dim=-1)
    assert abs((moved > 0).float().mean().item() - 0.2) < 0.01
    assert moved.max() <= 150 + 1e-3
    assert (conf[moved > 0] >= 0.5).all() and (conf[moved > 0] <= 0.9 + 1e-6).all()

    # self-occluded: doubled noise, low confidence
    cfg = KeypointCorruption(pixel_noise_std=3.0, outlier_prob=0.0, missing_prob=0.0)
    occ = torch.ones(B, K, dtype=torch.bool)
    noisy, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(3), cfg, occ)
    assert abs((noisy - uv).std().item() - 6.0) < 0.2
    assert abs(conf.mean().item() - 0.3) < 0.02


def test_corruption_is_seeded():
    uv, depth, size = _grid_uv(10, 33)
    a = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(5))
    b = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_out_of_image_and_behind_camera_get_zero_confidence():
    uv = torch.tensor(
        [[[10.0, 10.0], [-1.0, 50.0], [50.0, -0.5], [640.0, 10.0], [10.0, 480.0], [300.0, 200.0]]]
    )
    depth = torch.tensor([[3.0, 3.0, 3.0, 3.0, 3.0, -2.0]])
    size = torch.tensor([[640.0, 480.0]])
    for cfg in (CLEAN, KeypointCorruption()):
        _, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(0), cfg)
        assert (conf[0, 1:] == 0).all()
    _, conf = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(0), CLEAN)
    assert conf[0, 0] == 1


# --------------------------------------------------------------------------------------------
# Self-occlusion
# --------------------------------------------------------------------------------------------
def test_self_occlusion_tpose(body):
    eye3 = torch.eye(3)
    out = body(eye3[None], eye3.expand(1, 23, 3, 3))
    kp = body.keypoints(out, "blazepose33")
    idx = {n: i for i, n in enumerate(KP)}
    # camera on the subject's left (+x): the right arm is behind the left arm and the torso (the
    # left wrist, elbow and shoulder are behind the left hand, which points at the camera)
    R, t = look_at(torch.tensor([[4.0, 0.3, 0.0]]), torch.tensor([[0.0, 0.3, 0.0]]))
    occ = self_occlusion(world_to_camera(kp, R, t), world_to_camera(out.vertices, R, t))[0]
    for n in ("right_elbow", "right_wrist", "right_shoulder", "right_hip", "right_knee", "right_ear"):
        assert occ[idx[n]], n
    for n in ("left_hip", "left_knee", "left_ankle", "left_heel", "left_ear", "nose"):
        assert not occ[idx[n]], n
    # from the front almost everything is visible; from the back the face is hidden
    R, t = look_at(torch.tensor([[0.0, 0.3, 4.0]]), torch.tensor([[0.0, 0.3, 0.0]]))
    occ = self_occlusion(world_to_camera(kp, R, t), world_to_camera(out.vertices, R, t))[0]
    assert occ.float().mean() < 0.1
    R, t = look_at(torch.tensor([[0.0, 0.3, -4.0]]), torch.tensor([[0.0, 0.3, 0.0]]))
    occ = self_occlusion(world_to_camera(kp, R, t), world_to_camera(out.vertices, R, t))[0]
    assert occ[idx["nose"]] and occ[idx["mouth_left"]]
    # keypoint-only variant runs and returns the right shape
    assert self_occlusion(world_to_camera(kp, R, t), None).shape == (1, 33)


# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------
def test_scene_shapes_and_ground_truth(body, clips, run_scene):
    sc, clip = run_scene, clips["humanoid3d_run"]
    T, V = clip.num_frames, 3
    assert sc.clip_name == "humanoid3d_run" and sc.fps == pytest.approx(clip.fps)
    assert sc.rotations.shape == (T, 24, 3, 3) and sc.betas.shape == (10,) and sc.transl.shape == (T, 3)
    assert sc.joints_world.shape == (T, 24, 3) and sc.keypoints3d_world.shape == (T, 33, 3)
    assert sc.keypoints2d.shape == (T, V, 33, 2) and sc.confidence.shape == (T, V, 33)
    assert sc.keypoints2d_clean.shape == (T, V, 33, 2) and len(sc.cameras) == V
    assert torch.equal(sc.rotations, clip.rotations)
    assert (sc.betas.abs() <= 2.5).all()
    # pelvis path: the clip's, re-centred in x/z at the first frame, height kept
    pelvis = sc.joints_world[:, 0]
    expected = clip.root_translation - clip.root_translation[0] * torch.tensor([1.0, 0.0, 1.0])
    assert torch.allclose(pelvis, expected, atol=1e-4)
    assert torch.allclose(sc.transl + sc.rest_pelvis, pelvis, atol=1e-4)
    # world ground truth = the body model's output
    out = body(sc.rotations[:, 0], sc.rotations[:, 1:], sc.betas.expand(T, -1), sc.transl)
    assert torch.allclose(out.joints[:, :24], sc.joints_world, atol=1e-5)
    assert torch.allclose(body.keypoints(out, "blazepose33"), sc.keypoints3d_world, atol=1e-5)
    assert torch.allclose(scene_vertices(body, sc), out.vertices, atol=1e-5)
    # projecting the 3D keypoints with the cameras gives keypoints2d_clean
    for v in range(V):
        cam = world_to_camera(
            sc.keypoints3d_world, sc.cameras.R[v].expand(T, 3, 3), sc.cameras.t[v].expand(T, 3)
        )
        uv = project(cam, sc.cameras.K[v].expand(T, 3, 3))
        assert torch.allclose(uv, sc.keypoints2d_clean[:, v], atol=1e-3)
    # corrupted detections stay near the clean ones where confident (outliers excepted)
    err = (sc.keypoints2d - sc.keypoints2d_clean).norm(dim=-1)
    assert err[sc.confidence > 0.5].median() < 8
    assert ((sc.confidence >= 0) & (sc.confidence <= 1)).all()
    # cameras are 2-6 m from the aim point (mean joint position)
    dist = (sc.cameras.centers - sc.joints_world.reshape(-1, 3).mean(0)).norm(dim=-1)
    assert ((dist > 2 - 1e-3) & (dist < 6 + 1e-3)).all()


def test_scene_is_deterministic_and_clean(body, clips):
    clip = clips["humanoid3d_kick"]
    a = make_scene(body, clip, 2, seed=3, frames=slice(0, 10))
    b = make_scene(body, clip, 2, seed=3, frames=slice(0, 10))
    assert torch.equal(a.keypoints2d, b.keypoints2d) and torch.equal(a.betas, b.betas)
    c = make_scene(body, clip, 2, seed=3, frames=slice(0, 10), corruption=CLEAN, betas_std=0.0)
    assert torch.equal(c.betas, torch.zeros(10))
    assert torch.equal(c.keypoints2d, c.keypoints2d_clean)
    inside = (c.keypoints2d_clean[..., 0] >= 0) & (c.keypoints2d_clean[..., 0] < 640)
    inside &= (c.keypoints2d_clean[..., 1] >= 0) & (c.keypoints2d_clean[..., 1] < 480)
    assert torch.equal(c.confidence, inside.float())
    d = make_scene(body, clip, 2, seed=4, frames=slice(0, 10))
    assert not torch.equal(a.cameras.R, d.cameras.R)


def test_scene_occlusion_lowers_confidence(run_scene):
    sc = run_scene
    assert sc.occluded is not None and sc.occluded.shape == sc.confidence.shape
    frac = sc.occluded.float().mean().item()
    assert 0.05 < frac < 0.6
    vis_conf = sc.confidence[~sc.occluded & (sc.confidence > 0)].mean()
    occ_conf = sc.confidence[sc.occluded & (sc.confidence > 0)].mean()
    assert occ_conf < 0.5 < vis_conf


def test_scene_views_camera_frame_ground_truth(body, run_scene):
    sc = run_scene
    for t in (0, 11):
        gt = scene_views(sc, t)
        V = sc.num_views
        assert gt["global_orient_cam"].shape == (V, 3, 3) and gt["transl_cam"].shape == (V, 3)
        out = body(gt["global_orient_cam"], gt["body_pose"], gt["betas"], gt["transl_cam"])
        kp_cam = body.keypoints(out, "blazepose33")
        assert torch.allclose(kp_cam, gt["keypoints3d_cam"], atol=1e-4)
        assert torch.allclose(out.joints[:, 0], gt["pelvis_cam"], atol=1e-4)
        assert torch.allclose(project(kp_cam, gt["K"]), sc.keypoints2d_clean[t], atol=1e-2)


def test_corruption_config_is_replaceable():
    cfg = replace(KeypointCorruption(), pixel_noise_std=1.0)
    assert cfg.pixel_noise_std == 1.0 and cfg.missing_prob == 0.05
    assert CLEAN.pixel_noise_std == 0 and CLEAN.missing_prob == 0 and CLEAN.occluded_conf == 1.0


def test_swap_and_lower_body_drop_act_on_whole_sets_and_leave_other_settings_unchanged():
    """Drawn after every other random stream: the same seed gives the same noise, then with
    swap_prob = 1 every set is the left/right mirror of it, and with lower_body_drop_prob = 1 the
    hips, legs and feet (only they) get confidence 0."""
    uv, depth, size = _grid_uv(6, 33)
    flip = list(get_layout("blazepose33").flip_permutation)
    base = corrupt_keypoints(uv, depth, size, torch.Generator().manual_seed(3), KeypointCorruption())
    swapped = corrupt_keypoints(
        uv, depth, size, torch.Generator().manual_seed(3), KeypointCorruption(swap_prob=1.0)
    )
    assert torch.equal(swapped[0], base[0][:, flip]) and torch.equal(swapped[1], base[1][:, flip])
    assert not torch.equal(swapped[0], base[0])
    dropped = corrupt_keypoints(
        uv, depth, size, torch.Generator().manual_seed(3), KeypointCorruption(lower_body_drop_prob=1.0)
    )
    lower = torch.tensor([n.split("_")[-1] in ("hip", "knee", "ankle", "heel") or "foot" in n for n in KP])
    assert lower.sum() == 10
    assert torch.equal(dropped[0], base[0])
    assert (dropped[1][:, lower] == 0).all() and torch.equal(dropped[1][:, ~lower], base[1][:, ~lower])
    assert (base[1][:, lower] > 0).any()
    with pytest.raises(ValueError):
        corrupt_keypoints(uv[:, :17], depth[:, :17], size, None, KeypointCorruption(swap_prob=0.5))


def test_corruption_range_corrupts_each_chunk_at_its_own_level(body):
    """Training corruption: chunks of one batch at different levels, error growing with the level."""
    poses = load_mocap()["humanoid3d_dance_a"].rotations[:8].repeat(64, 1, 1, 1)  # 512 samples
    rng = CorruptionRange(mild=CLEAN, heavy=replace(HEAVY_TRAINING, outlier_prob=0.0, missing_prob=0.0),
                          chunks=8, zero_share=0.5)  # fmt: skip
    views = sample_views(body, poses, torch.Generator().manual_seed(5), rng)
    levels = views.corruption_level[::64]  # one level per chunk of 64
    exact = sample_views(body, poses, torch.Generator().manual_seed(5), CLEAN)
    err = (views.keypoints - exact.keypoints).norm(dim=-1)  # (512, 33), same cameras and bodies
    seen = exact.confidence > 0
    per_chunk = torch.stack([e[s].mean() for e, s in zip(err.chunk(8), seen.chunk(8), strict=True)])
    assert (levels >= 0).all() and (levels <= 1).all()
    assert bool((levels == 0).any()) and bool((levels > 0.5).any())
    assert torch.allclose(per_chunk[levels == 0], torch.zeros(1), atol=1e-6)  # mild = CLEAN exactly
    moved = levels > 0
    # Mean 2D error of Gaussian noise ~ 1.25 sigma, sigma = level * heavy (occluded doubled).
    ratio = per_chunk[moved] / (levels[moved] * HEAVY_TRAINING.pixel_noise_std)
    assert bool(((ratio > 1.0) & (ratio < 2.6)).all()), ratio
    assert views.rotations.equal(exact.rotations) and views.cameras.K.equal(exact.cameras.K)
    assert views.corruption_level.reshape(8, 64).eq(levels[:, None]).all()


def test_interpolate_corruption_endpoints_and_midpoint():
    mid = interpolate_corruption(KeypointCorruption(), HARD, 0.5)
    assert interpolate_corruption(KeypointCorruption(), HARD, 0.0) == KeypointCorruption()
    assert interpolate_corruption(KeypointCorruption(), HARD, 1.0) == HARD
    assert mid.pixel_noise_std == pytest.approx((3.0 + HARD.pixel_noise_std) / 2)
    assert mid.swap_prob == pytest.approx(HARD.swap_prob / 2)


def test_corruption_range_rejects_a_share_that_leaves_no_level():
    with pytest.raises(ValueError):
        CorruptionRange(zero_share=1.0)  # levels() would divide by zero
    with pytest.raises(ValueError):
        CorruptionRange(chunks=0)
