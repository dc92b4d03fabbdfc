"""Keypoint guidance terms as pure functions."""

import torch

from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.guidance import (
    BodyState,
    Observations,
    keypoint_reprojection,
    multiview_keypoint_reprojection,
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
