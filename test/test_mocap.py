"""Tests for the retargeted mocap data and its augmentation (scorehmr_ros.sim.mocap)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from scorehmr_ros.core.skeleton import JOINT_INDEX as J
from scorehmr_ros.sim import mocap

LIMB_THRESHOLD_DEG = 5.0


@pytest.fixture(scope="module")
def clips():
    return mocap.load_mocap()


def _unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def _angle_deg(a, b):
    return torch.rad2deg(torch.arccos((_unit(a) * _unit(b)).sum(-1).clamp(-1, 1)))


def test_default_path_is_package_relative(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert mocap.DEFAULT_MOCAP_PATH.is_file()
    assert mocap.DEFAULT_MOCAP_PATH.parent == Path(mocap.__file__).resolve().parent.parent / "data"
    assert len(mocap.load_mocap()) == len(mocap.ALL_CLIPS)


def test_npz_contents_and_split(clips):
    assert set(clips) == set(mocap.ALL_CLIPS)
    assert set(mocap.HELDOUT_CLIPS) == {
        "humanoid3d_run",
        "humanoid3d_dance_b",
        "humanoid3d_kick",
        "humanoid3d_getup_faceup",
    }
    train, held = mocap.train_clips(clips), mocap.heldout_clips(clips)
    assert set(held) == set(mocap.HELDOUT_CLIPS)
    assert not set(train) & set(held)
    assert set(train) | set(held) == set(clips)
    assert all(c.split == "train" for c in train.values())
    assert all(c.split == "heldout" for c in held.values())
    with np.load(mocap.DEFAULT_MOCAP_PATH) as z:
        assert set(map(str, z["heldout_clips"])) == set(mocap.HELDOUT_CLIPS)
    humanoid_frames = sum(clips[n].num_frames for n in mocap.HUMANOID3D_CLIPS)
    assert 1500 <= humanoid_frames <= 2000
    for c in clips.values():
        n = c.num_frames
        assert n >= 20
        assert c.rotations.shape == (n, 24, 3, 3) and c.rotations.dtype == torch.float32
        assert c.root_translation.shape == (n, 3) and c.root_translation.dtype == torch.float32
        assert c.source_frames.shape == (n, mocap.CLIP_FRAME_SIZE)
        assert 10.0 <= c.fps <= 120.0
        assert bool(roma.is_rotation_matrix(c.rotations.double(), epsilon=1e-4).all())
        # unused joints stay identity
        und = [J[name] for name in mocap.UNDRIVEN_JOINTS]
        assert torch.allclose(c.rotations[:, und], torch.eye(3).expand(n, len(und), 3, 3), atol=1e-6)
        # pelvis heights plausible (metres, y up): crawling/lying ~0.1 m .. standing/jumping ~1.2 m
        assert 0.05 < c.root_translation[:, 1].min() and c.root_translation[:, 1].max() < 1.3


def test_walk_frame0_limb_directions(clips):
    walk = clips["humanoid3d_walk"]
    pts = mocap.smpl_points(walk.rotations[:1].double())
    down = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    for side in ("left", "right"):
        assert _angle_deg(pts[f"{side}_knee"] - pts[f"{side}_hip"], down) < 35
        assert _angle_deg(pts[f"{side}_ankle"] - pts[f"{side}_hip"], down) < 35
        assert _angle_deg(pts[f"{side}_elbow"] - pts[f"{side}_shoulder"], down) < 35
        # feet point forward (+z), not sideways or back
        toe = pts[f"{side}_foot"] - pts[f"{side}_ankle"]
        assert toe[0, 2] > 0.05
    lateral = pts["left_hip"] - pts["right_hip"]
    assert _angle_deg(lateral, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)) < 20
    assert pts["head_top"][0, 1] > pts["neck"][0, 1] > pts["pelvis"][0, 1]
    # walking forward: the character moves along SMPL +z
    dz = walk.root_translation[-1, 2] - walk.root_translation[0, 2]
    assert dz > 0.8 and abs(walk.root_translation[-1, 0] - walk.root_translation[0, 0]) < 0.2


def test_turn_clips_turn_the_right_way(clips):
    # the walker "turn_left" clip must curve towards the subject's left (+x in SMPL), turn_right to -x
    assert clips["walker_turn_left1"].root_translation[-1, 0] > 0.3
    assert clips["walker_turn_right0"].root_translation[-1, 0] < -0.3


def test_knees_bend_backwards_elbows_forwards(clips):
    for c in clips.values():
        pts = mocap.smpl_points(c.rotations.double())
        for side in ("left", "right"):
            for a, b, d, name in (("hip", "knee", "ankle", "knee"), ("shoulder", "elbow", "wrist", "elbow")):
                ka = _angle_deg(
                    pts[f"{side}_{b}"] - pts[f"{side}_{a}"], pts[f"{side}_{d}"] - pts[f"{side}_{b}"]
                )
                bent = ka > 20  # well bent frames
                if not bent.any():
                    continue
                _, glob = mocap.forward_kinematics(c.rotations.double())
                # express the distal bone in the proximal segment's frame at rest (SMPL T-pose axes)
                parent_rot = glob[:, J[f"{side}_{a}"]]
                local = (
                    parent_rot.transpose(-1, -2) @ (pts[f"{side}_{d}"] - pts[f"{side}_{b}"]).unsqueeze(-1)
                )[..., 0]
                if name == "knee":
                    assert (local[bent, 2] < 0).all(), f"{c.name}: {side} knee bends forward"
                else:
                    assert (local[bent, 2] > 0).all(), f"{c.name}: {side} elbow bends backward"


def test_bone_directions_match_clip(clips):
    worst = {}
    for c in clips.values():
        for group, err in mocap.bone_direction_errors(c.source_frames, c.rotations).items():
            worst[group] = max(worst.get(group, 0.0), float(err.max()))
    for group in mocap.LIMB_BONE_GROUPS:
        assert worst[group] < LIMB_THRESHOLD_DEG, (group, worst[group])
    for group in mocap.BONE_GROUPS:
        assert worst[group] < LIMB_THRESHOLD_DEG, (group, worst[group])


def test_npz_matches_fresh_retarget_of_pybullet_clip(clips):
    pybullet_data = pytest.importorskip("pybullet_data")
    path = Path(pybullet_data.getDataPath()) / "data" / "motions" / "humanoid3d_walk.txt"
    frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    np.testing.assert_array_equal(frames, clips["humanoid3d_walk"].source_frames)
    rot, trans = mocap.retarget_frames(frames)
    torch.testing.assert_close(rot.float(), clips["humanoid3d_walk"].rotations, atol=1e-6, rtol=0)
    torch.testing.assert_close(trans.float(), clips["humanoid3d_walk"].root_translation, atol=1e-6, rtol=0)


def test_mirror(clips):
    rot = clips["humanoid3d_punch"].rotations.double()
    mirrored = mocap.mirror_poses(rot)
    torch.testing.assert_close(mocap.mirror_poses(mirrored), rot)
    assert bool(roma.is_rotation_matrix(mirrored, epsilon=1e-6).all())
    # mirrored left arm = reflected right arm (world directions on the symmetric rest skeleton)
    p, pm = mocap.smpl_points(rot), mocap.smpl_points(mirrored)
    reflect = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
        right = (p[f"right_{b}"] - p[f"right_{a}"]) * reflect
        left_m = pm[f"left_{b}"] - pm[f"left_{a}"]
        assert float(_angle_deg(right, left_m).max()) < 1e-4
    t = clips["humanoid3d_punch"].root_translation
    torch.testing.assert_close(mocap.mirror_translation(mocap.mirror_translation(t)), t)


def test_hinges_stay_hinges_after_augmentation():
    poses = mocap.augmented_training_poses(256, seed=3).double()
    for name, axis in mocap.HINGE_AXES.items():
        rv = roma.rotmat_to_rotvec(poses[:, J[name]])
        along = rv @ torch.tensor(axis, dtype=torch.float64)
        off_axis = (rv - along[:, None] * torch.tensor(axis, dtype=torch.float64)).norm(dim=-1)
        assert float(off_axis.max()) < 1e-4
        lo, hi = mocap.HINGE_LIMITS[name]
        assert float(along.min()) >= lo - 1e-5 and float(along.max()) <= hi + 1e-5


def test_augmented_poses_valid_and_deterministic():
    a = mocap.augmented_training_poses(300, seed=7)
    b = mocap.augmented_training_poses(300, seed=7)
    c = mocap.augmented_training_poses(300, seed=8)
    assert a.shape == (300, 24, 3, 3) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    eye = torch.eye(3).expand_as(a)
    assert torch.allclose(a @ a.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(a), torch.ones(300, 24), atol=1e-5)
    # random yaw spreads the facing direction all around
    fwd = (a[:, J["pelvis"]] @ torch.tensor([0.0, 0.0, 1.0]))[:, [0, 2]]
    heading = torch.atan2(fwd[:, 0], fwd[:, 1])
    assert heading.min() < -2.5 and heading.max() > 2.5


def test_individual_augmentations(clips):
    g = torch.Generator().manual_seed(0)
    rot = clips["humanoid3d_walk"].rotations.double()
    yawed = mocap.random_yaw(rot, g)
    torch.testing.assert_close(yawed[:, 1:], rot[:, 1:])
    # yaw is about world y: the pelvis' up axis is unchanged
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(yawed[:, 0].transpose(-1, -2) @ up, rot[:, 0].transpose(-1, -2) @ up)
    rec = mocap.recombine_limbs(rot, g, prob=1.0)
    changed = (rec != rot).flatten(2).any(-1)  # (N, 24)
    chains = [[J[j] for j in joints] for joints in mocap.LIMB_CHAINS.values()]
    for row in changed:
        touched = set(torch.nonzero(row).flatten().tolist())
        assert any(touched <= set(ch) for ch in chains)
    pert = mocap.perturb_poses(rot, g, sigma_deg=3.0, max_deg=8.0)
    d = torch.rad2deg(roma.rotmat_geodesic_distance(pert, rot))
    assert float(d[:, J["pelvis"]].max()) < 1e-6
    assert float(d.max()) < 12.0  # hinge: |noise| small; ball: capped at 8 deg
    mid = mocap.interpolate_poses(rot[:-1], rot[1:], torch.full((len(rot) - 1,), 0.5, dtype=torch.float64))
    d0 = roma.rotmat_geodesic_distance(mid, rot[:-1])
    d1 = roma.rotmat_geodesic_distance(mid, rot[1:])
    torch.testing.assert_close(d0, d1, atol=1e-6, rtol=0)
    torch.testing.assert_close(mocap.interpolate_poses(rot, rot.flip(0), torch.zeros(len(rot))), rot)


def test_no_heldout_leak_into_augmentation(clips):
    poisoned = {}
    for name, c in clips.items():
        if c.split == "heldout":
            c = mocap.Clip(c.name, c.fps, torch.full_like(c.rotations, math.nan), c.root_translation, c.split)
        poisoned[name] = c
    out = mocap.augmented_training_poses(2000, seed=1, clips=poisoned)
    assert bool(torch.isfinite(out).all())
    only_heldout = {n: c for n, c in clips.items() if c.split == "heldout"}
    with pytest.raises(ValueError):
        mocap.augmented_training_poses(4, seed=0, clips=only_heldout)


def test_is_lying_and_lying_weight(clips):
    """Lying frames (torso > 60 degrees from upright) are sampled more often with lying_weight > 1."""
    upright = torch.eye(3).expand(1, 24, 3, 3).clone()
    tilted = upright.clone()
    tilted[0, 0] = roma.rotvec_to_rotmat(torch.tensor([math.radians(80.0), 0.0, 0.0]))
    assert mocap.is_lying(torch.cat([upright, tilted])).tolist() == [False, True]
    train = torch.cat([c.rotations for c in mocap.train_clips(clips).values()])
    share = mocap.is_lying(train).float().mean().item()
    uniform = mocap.is_lying(mocap.augmented_training_poses(4000, seed=2, clips=clips)).float().mean().item()
    weighted = mocap.augmented_training_poses(4000, seed=2, clips=clips, lying_weight=3.0)
    expected = 3 * share / (3 * share + 1 - share)
    # Augmentations (random yaw about the vertical, small perturbations) keep a body lying or upright.
    assert abs(uniform - share) < 0.04
    assert abs(mocap.is_lying(weighted).float().mean().item() - expected) < 0.04
