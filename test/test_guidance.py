"""Keypoint guidance terms as pure functions: the robust scale follows the person's size."""

import torch

from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.guidance import (
    KEYPOINT_SIGMA_REL,
    BodyState,
    Observations,
    keypoint_reprojection,
    multiview_keypoint_reprojection,
    person_sigma,
)


def _person(scale: float = 1.0, seed: int = 0):
    """33 keypoints of a 1.8 m tall upright person 3 m in front of a 640x480 camera (f = 500);
    ``scale`` multiplies focal length, principal point and image size (a finer sensor)."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(1, 33, 3, generator=g) * torch.tensor([0.6, 1.8, 0.3]) - torch.tensor([0.3, 0.9, -3.0])
    K = torch.tensor([[[500.0 * scale, 0, 320 * scale], [0, 500.0 * scale, 240 * scale], [0, 0, 1]]])
    cams = PinholeCameras(K, torch.eye(3)[None], torch.zeros(1, 3), torch.tensor([[640.0, 480.0]]) * scale)
    body = BodyState(torch.eye(3).expand(1, 24, 3, 3), pts, torch.zeros(1, 3))
    return body, cams


def _observe(body, cams, outlier_px: float, scale: float = 1.0):
    """Exact projections with keypoint 0 moved ``outlier_px`` × ``scale`` px to the right."""
    kp = project(body.keypoints3d, cams.K).clone()
    kp[0, 0, 0] += outlier_px * scale
    return Observations.independent(kp, torch.ones(1, 33))


def _diag(body, cams) -> float:
    uv = project(body.keypoints3d, cams.K)[0]
    return (uv.amax(0) - uv.amin(0)).norm().item()


def test_a_confident_outlier_weighs_at_most_sigma_squared():
    # An outlier half the person's size away: its cost is capped by σ² with σ = rel × bbox diagonal
    # (a fixed 100 px scale lets it cost ~70 % of 100² px², about six times that cap here).
    body, cams = _person()
    diag = _diag(body, cams)
    loss = keypoint_reprojection(torch.zeros(1, 144), body, cams, _observe(body, cams, 0.5 * diag))
    cap = (KEYPOINT_SIGMA_REL * diag) ** 2 * 1000.0 / 640.0
    assert 0.8 * cap < loss.item() <= cap


def test_loss_scales_with_the_image_like_a_squared_pixel_residual_normalised_by_its_size():
    # The same scene on a sensor twice as fine: residuals double, σ doubles, the term doubles
    # (px² × 4 and 1000 / max(H, W) × 1/2), with an inlier and an outlier residual alike.
    body, cams = _person()
    body2, cams2 = _person(scale=2.0)
    x0 = torch.zeros(1, 144)
    for outlier in (5.0, 80.0, 300.0):
        a = keypoint_reprojection(x0, body, cams, _observe(body, cams, outlier))
        b = keypoint_reprojection(x0, body2, cams2, _observe(body2, cams2, outlier, scale=2.0))
        torch.testing.assert_close(b, 2 * a, rtol=1e-4, atol=1e-4)


def test_person_sigma_is_per_set_and_ignores_the_detections():
    uv = torch.tensor([[[0.0, 0.0], [300.0, 400.0]], [[10.0, 10.0], [13.0, 14.0]]])  # (2, 2, 2)
    sigma = person_sigma(uv, rel=0.1)
    assert sigma.shape == (2, 1, 1)
    torch.testing.assert_close(sigma.flatten(), torch.tensor([50.0, 2.0]))  # 0.1 × 500; floor 2 px
    assert not person_sigma(uv.requires_grad_(True)).requires_grad


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
