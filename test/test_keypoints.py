"""Keypoint layouts gathered from the body model."""

from __future__ import annotations

import pytest
import roma
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.keypoints import (
    BLAZEPOSE_33,
    LAYOUTS,
    KeypointLayout,
    layout_gather_matrix,
    layout_keypoints,
    mirror_keypoint_name,
)

EXPECTED_LEN = {"blazepose33": 33, "coco17": 17, "openpose_body25": 25}
MEDIAPIPE_33 = (
    "nose left_eye_inner left_eye left_eye_outer right_eye_inner right_eye right_eye_outer left_ear "
    "right_ear mouth_left mouth_right left_shoulder right_shoulder left_elbow right_elbow left_wrist "
    "right_wrist left_pinky right_pinky left_index right_index left_thumb right_thumb left_hip right_hip "
    "left_knee right_knee left_ankle right_ankle left_heel right_heel left_foot_index right_foot_index"
).split()


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def _tpose(body, batch=1):
    eye = torch.eye(3).expand(batch, 24, 3, 3)
    return body(eye[:, 0], eye[:, 1:])


def test_layout_lengths_and_names():
    assert set(LAYOUTS) == set(EXPECTED_LEN)
    for name, lay in LAYOUTS.items():
        assert isinstance(lay, KeypointLayout) and len(lay) == EXPECTED_LEN[name]
        assert len(set(lay.keypoint_names)) == len(lay)
        for src in lay.sources:
            assert abs(sum(src.values()) - 1.0) < 1e-9
    assert list(BLAZEPOSE_33.keypoint_names) == MEDIAPIPE_33
    op = LAYOUTS["openpose_body25"].keypoint_names
    assert op[1] == "Neck" and op[8] == "MidHip" and op[24] == "RHeel"


def test_flip_permutation_involution():
    for lay in LAYOUTS.values():
        p = lay.flip_permutation
        assert sorted(p) == list(range(len(lay)))
        assert all(p[p[i]] == i for i in range(len(p)))
        for i, j in enumerate(p):
            assert lay.keypoint_names[j] == mirror_keypoint_name(lay.keypoint_names[i])
    bp = BLAZEPOSE_33.keypoint_names
    assert bp[BLAZEPOSE_33.flip_permutation[bp.index("mouth_left")]] == "mouth_right"


def test_every_layout_gathers(body):
    out = _tpose(body, batch=2)
    for name, lay in LAYOUTS.items():
        kp = layout_keypoints(body, out, name)
        assert kp.shape == (2, len(lay), 3) and torch.isfinite(kp).all()
        m = layout_gather_matrix(body, name)
        assert m.shape == (len(lay), len(body.source_names))
        assert torch.allclose(m.sum(1), torch.ones(len(lay)))


def test_blazepose_tpose_geometry(body):
    out = _tpose(body)
    kp = body.keypoints(out, "blazepose33")[0]
    ix = {n: i for i, n in enumerate(BLAZEPOSE_33.keypoint_names)}
    assert kp[ix["left_wrist"], 0] > 0.5 and kp[ix["right_wrist"], 0] < -0.5
    nose, ls, rs = kp[ix["nose"]], kp[ix["left_shoulder"]], kp[ix["right_shoulder"]]
    assert nose[1] > max(ls[1], rs[1]) + 0.1
    assert nose[2] > max(ls[2], rs[2]) + 0.05
    assert kp[ix["left_eye"], 0] > 0 > kp[ix["right_eye"], 0]
    assert kp[ix["mouth_left"], 0] > 0 and kp[ix["mouth_left"], 1] < kp[ix["left_eye"], 1]
    assert kp[ix["left_foot_index"], 2] > kp[ix["left_heel"], 2]
    # flipping a mirrored body's keypoints gives back the keypoints
    mirrored = kp * torch.tensor([-1.0, 1.0, 1.0])
    torch.testing.assert_close(mirrored[list(BLAZEPOSE_33.flip_permutation)], kp, atol=1e-4, rtol=0)


def test_openpose_midpoints(body):
    out = _tpose(body)
    sm = {n: i for i, n in enumerate(body.joint_names)}
    op = body.keypoints(out, "openpose_body25")[0]
    j = out.joints[0]
    torch.testing.assert_close(op[1], (j[sm["left_shoulder"]] + j[sm["right_shoulder"]]) / 2)
    torch.testing.assert_close(op[8], (j[sm["left_hip"]] + j[sm["right_hip"]]) / 2)


def test_keypoints_differentiable(body):
    g = torch.Generator().manual_seed(0)
    x = roma.rotmat_to_rotvec(roma.random_rotmat((3, 24), generator=g)) * 0.3
    x.requires_grad_(True)
    R = roma.rotvec_to_rotmat(x)
    out = body(R[:, 0], R[:, 1:], torch.zeros(3, 10))
    kp = layout_keypoints(body, out, "coco17")
    kp.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
