"""Keypoint guidance terms as pure functions."""

import pytest
import torch

from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.guidance import (
    KEYPOINT_SIGMA_MEDIAN,
    KEYPOINT_SIGMA_PX,
    BodyState,
    Observations,
    gmof,
    keypoint_reprojection,
    multiview_keypoint_reprojection,
    residual_sigma,
)


def _person(seed: int = 0):
    """33 keypoints of a 1.8 m tall upright person 3 m in front of a 640x480 camera (f = 500)."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(1, 33, 3, generator=g) * torch.tensor([0.6, 1.8, 0.3]) - torch.tensor([0.3, 0.9, -3.0])
    K = torch.tensor([[[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]])
    cams = PinholeCameras(K, torch.eye(3)[None], torch.zeros(1, 3), torch.tensor([[640.0, 480.0]]))
    body = BodyState(torch.eye(3).expand(1, 24, 3, 3), pts, torch.zeros(1, 3))
    return body, cams


def _observe(body, cams, outlier_px: float, seed: int = 1):
    """Projections with 3 px noise, keypoint 0 moved ``outlier_px`` px to the right, confidences
    in [0.3, 1)."""
    g = torch.Generator().manual_seed(seed)
    kp = project(body.keypoints3d, cams.K) + 3.0 * torch.randn(1, 33, 2, generator=g)
    kp[0, 0, 0] += outlier_px
    return Observations.independent(kp, 0.3 + 0.7 * torch.rand(1, 33, generator=g))


def test_calibrated_term_with_one_identity_view_equals_the_single_view_term():
    body, cams = _person()
    obs = _observe(body, cams, 120.0)
    views = Observations(
        obs.keypoints,
        obs.confidence,
        obs.frame,
        obs.prev_index,
        obs.anchor_pose,
        obs.has_anchor,
        view_transforms=torch.eye(4)[None, None],
        view_keypoints=obs.keypoints[:, None],
        view_confidence=obs.confidence[:, None],
        view_K=cams.K[:, None],
        view_image_size=cams.image_size[:, None],
    )
    x0 = torch.zeros(1, 144)
    torch.testing.assert_close(
        multiview_keypoint_reprojection(x0, body, cams, views), keypoint_reprojection(x0, body, cams, obs)
    )


def test_a_confident_outlier_costs_at_most_sigma_squared_once_the_rest_fits():
    # 32 keypoints with 3 px noise, one 150 px off: σ = 2 × the median residual (~7 px), so the
    # outlier costs at most σ² (a fixed 100 px scale lets it cost ~70 % of 100², ~70 inliers).
    body, cams = _person()
    obs = _observe(body, cams, 150.0)
    residual = project(body.keypoints3d, cams.K) - obs.keypoints
    sigma = residual_sigma(residual, obs.confidence)
    median = residual.norm(dim=-1).median()
    assert sigma.item() == pytest.approx(KEYPOINT_SIGMA_MEDIAN * median.item(), rel=1e-5)
    assert sigma.item() < 15.0
    outlier_cost = obs.confidence[0, 0] ** 2 * gmof(residual[0, 0], sigma[0, 0]).sum()
    assert outlier_cost <= 2 * sigma.item() ** 2


def test_a_poor_start_keeps_the_official_scale_so_every_keypoint_pulls():
    # Every keypoint 80 px off (a start far from the detections): σ is the 100 px cap, the term is
    # the official fixed-scale one, and no correct keypoint is treated as an outlier.
    body, cams = _person()
    kp = project(body.keypoints3d, cams.K) + torch.tensor([80.0, 0.0])
    obs = Observations.independent(kp, torch.full((1, 33), 0.9))
    residual = project(body.keypoints3d, cams.K) - kp
    assert residual_sigma(residual, obs.confidence).item() == 100.0
    expected = (0.9**2 * gmof(residual, 100.0).sum(-1)).sum(-1) * 1000.0 / 640.0
    torch.testing.assert_close(keypoint_reprojection(torch.zeros(1, 144), body, cams, obs), expected)


def test_residual_sigma_ignores_missing_keypoints_and_is_per_set():
    residual = torch.zeros(2, 4, 2)
    residual[0, :, 0] = torch.tensor([1.0, 2.0, 3.0, 500.0])
    residual[1, :, 0] = 4.0
    conf = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    sigma = residual_sigma(residual.requires_grad_(True), conf)
    assert sigma.shape == (2, 1, 1) and not sigma.requires_grad
    # set 0: median of 1, 2, 3 (the 500 px keypoint is missing); set 1: nothing confident -> cap
    torch.testing.assert_close(
        sigma.flatten(), torch.tensor([KEYPOINT_SIGMA_MEDIAN * 2.0, KEYPOINT_SIGMA_PX])
    )
