"""Multi-view body fit for calibrated rigs (torch, no ROS): the start of the one-sample refinement.

One body (global orientation, 23 body-joint rotations, shape, pelvis position; all in the reference
frame) is fitted to the 2D keypoints of every calibrated view at once: a robust reprojection error
(Geman-McClure, σ px, weights = confidence² of the views the triangulation kept) plus weak pulls
toward the starting body pose (the regressors' mean: the only pose prior here; the diffusion prior
comes after, in refine()) and toward the starting shape. Adam on the 6D rotations from a start
whose orientation and position come from the triangulated torso.

Shape is observable with two or more calibrated views (bone lengths), so ``fit_betas`` lets the fit
move it; a streaming caller averages the fitted shapes over frames (one person, one shape).

Shapes: P (V, 3, 4) reference → pixel projections; keypoints (V, K, 2); weights (V, K) >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat, rotmat_to_pose6d
from scorehmr_ros.core.guidance import gmof


@dataclass(frozen=True)
class FitConfig:
    """steps/lr: Adam on the 6D rotations, pelvis and shape; sigma_px: robust scale of the
    reprojection error; pose_prior: weight of ‖6D body pose − start‖² (px² units); betas_prior:
    weight of ‖β − β_start‖²; fit_betas: let the shape move; min_keypoints: confident (view,
    keypoint) pairs needed to fit at all (else the start is returned)."""

    steps: int = 40
    lr: float = 0.06
    sigma_px: float = 25.0
    pose_prior: float = 2.0
    betas_prior: float = 5.0
    fit_betas: bool = True
    min_keypoints: int = 16
    layout: str = "blazepose33"


@dataclass
class BodyFit:
    """orient (3, 3) and body_pose (23, 3, 3) rotations, betas (nb,), pelvis (3,) in the reference
    frame; residual_px: weighted mean reprojection error of the result (NaN when not fitted)."""

    orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    pelvis: torch.Tensor
    residual_px: float


def project_views(P: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(V, K, 2) pixels of reference-frame points (K, 3) in every view; differentiable."""
    P = P.to(points.dtype)
    h = torch.einsum("vij,kj->vki", P[..., :3], points) + P[:, None, :, 3]
    return h[..., :2] / h[..., 2:3].clamp(min=1e-6)


def fit_body_to_views(
    body_model,
    P: torch.Tensor,
    keypoints: torch.Tensor,
    weights: torch.Tensor,
    orient: torch.Tensor,
    body_pose: torch.Tensor,
    betas: torch.Tensor,
    pelvis: torch.Tensor,
    config: FitConfig = FitConfig(),
    prior_body_pose: torch.Tensor | None = None,
) -> BodyFit:
    """Fit one body to V calibrated views from the given start (see the module docstring).

    The inputs are not modified; with fewer than ``config.min_keypoints`` weighted (view, keypoint)
    pairs the start is returned unchanged (residual NaN)."""
    w = torch.nan_to_num(weights.float()).clamp(min=0) ** 2
    kp = torch.nan_to_num(keypoints.float())
    if int((w > 0).sum()) < config.min_keypoints:
        return BodyFit(orient, body_pose, betas, pelvis, float("nan"))
    eye = torch.eye(3)[None]
    layout = config.layout
    x_body0 = rotmat_to_pose6d(body_pose).reshape(-1)
    x_prior = x_body0 if prior_body_pose is None else rotmat_to_pose6d(prior_body_pose).reshape(-1)
    betas0 = betas.float()
    with torch.enable_grad():
        x_o = rotmat_to_pose6d(orient[None]).reshape(-1).clone().requires_grad_(True)
        x_b = x_body0.clone().requires_grad_(True)
        b = betas0.clone().requires_grad_(config.fit_betas)
        J0 = body_model.skeleton(eye, body_pose[None], betas0[None])[0, 0]
        tr = (pelvis - J0).float().clone().requires_grad_(True)
        params = [x_o, x_b, tr] + ([b] if config.fit_betas else [])
        norm = w.sum()

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = _loss(body_model, P, kp, w, norm, x_o, x_b, b, tr, x_prior, betas0, config, layout)
            loss.backward()
            return loss

        opt = torch.optim.Adam(params, lr=config.lr)
        for _ in range(config.steps):
            opt.step(closure)
    with torch.no_grad():
        R = pose6d_to_rotmat(x_o.detach().reshape(1, 6))
        B = pose6d_to_rotmat(x_b.detach().reshape(23, 6))
        b = b.detach()
        pts = body_model.pose_keypoints(R, B[None], b[None], tr.detach()[None], layout)[0]
        err = (project_views(P, pts) - kp).norm(dim=-1)
        residual = float((err * w).sum() / norm)
        pelvis_out = body_model.skeleton(R, B[None], b[None], tr.detach()[None])[0, 0]
    return BodyFit(R[0], B, b, pelvis_out, residual)


def _loss(body_model, P, kp, w, norm, x_o, x_b, b, tr, x_prior, betas0, config: FitConfig, layout):
    R = pose6d_to_rotmat(x_o.reshape(1, 6))
    B = pose6d_to_rotmat(x_b.reshape(23, 6))
    pts = body_model.pose_keypoints(R, B[None], b[None], tr[None], layout)[0]
    err = gmof(project_views(P, pts) - kp, config.sigma_px).sum(-1)  # (V, K) px²
    data = (err * w).sum() / norm
    prior = config.pose_prior * ((x_b - x_prior) ** 2).sum() + config.betas_prior * ((b - betas0) ** 2).sum()
    return data + prior
