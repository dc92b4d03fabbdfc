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
from scorehmr_ros.core.triangulation import project_points


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


@dataclass
class FitJob:
    """One body to fit: P (V, 3, 4); keypoints (V, K, 2); weights (V, K); the start orient (3, 3),
    body_pose (23, 3, 3), betas (nb,), pelvis (3,) (reference frame); prior_body_pose (23, 3, 3)
    the pose the pull goes toward (None: the start's)."""

    P: torch.Tensor
    keypoints: torch.Tensor
    weights: torch.Tensor
    orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    pelvis: torch.Tensor
    prior_body_pose: torch.Tensor | None = None


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
    job = FitJob(P, keypoints, weights, orient, body_pose, betas, pelvis, prior_body_pose)
    return fit_bodies(body_model, [job], config)[0]


def fit_bodies(body_model, jobs: list[FitJob], config: FitConfig = FitConfig()) -> list[BodyFit]:
    """Fit several bodies (e.g. every person of a set) in ONE batched optimisation.

    Each body's loss depends on its own parameters only and Adam updates elementwise, so the result
    equals separate :func:`fit_body_to_views` calls (up to float rounding) at the cost of about one.
    Views are padded to the largest view count with zero weight."""
    out: list[BodyFit | None] = [None] * len(jobs)
    live = []
    for i, j in enumerate(jobs):
        w = torch.nan_to_num(j.weights.float()).clamp(min=0)
        if int((w > 0).sum()) < config.min_keypoints:
            out[i] = BodyFit(j.orient, j.body_pose, j.betas, j.pelvis, float("nan"))
        else:
            live.append(i)
    if live:
        for i, fit in zip(live, _fit_batch(body_model, [jobs[i] for i in live], config), strict=True):
            out[i] = fit
    return out


def _fit_batch(body_model, jobs: list[FitJob], config: FitConfig) -> list[BodyFit]:
    N, Vmax = len(jobs), max(j.P.shape[0] for j in jobs)
    K = jobs[0].keypoints.shape[-2]
    P = torch.zeros(N, Vmax, 3, 4)
    kp = torch.zeros(N, Vmax, K, 2)
    w = torch.zeros(N, Vmax, K)
    for n, j in enumerate(jobs):
        V = j.P.shape[0]
        P[n, :V], P[n, V:] = j.P.float(), j.P[0].float()  # padding: a real camera, weight 0
        kp[n, :V] = torch.nan_to_num(j.keypoints.float())
        w[n, :V] = torch.nan_to_num(j.weights.float()).clamp(min=0) ** 2
    orient = torch.stack([j.orient for j in jobs]).float()
    body_pose = torch.stack([j.body_pose for j in jobs]).float()
    prior = torch.stack([j.body_pose if j.prior_body_pose is None else j.prior_body_pose for j in jobs])
    betas0 = torch.stack([j.betas for j in jobs]).float()
    pelvis = torch.stack([j.pelvis for j in jobs]).float()
    x_body0 = rotmat_to_pose6d(body_pose).reshape(N, -1)
    x_prior = rotmat_to_pose6d(prior.float()).reshape(N, -1)
    eye = torch.eye(3).expand(N, 3, 3)
    layout = config.layout
    norm = w.sum((1, 2))  # (N,)
    with torch.enable_grad():
        x_o = rotmat_to_pose6d(orient).reshape(N, 6).clone().requires_grad_(True)
        x_b = x_body0.clone().requires_grad_(True)
        b = betas0.clone().requires_grad_(config.fit_betas)
        J0 = body_model.skeleton(eye, body_pose, betas0)[:, 0]
        tr = (pelvis - J0).clone().requires_grad_(True)
        params = [x_o, x_b, tr] + ([b] if config.fit_betas else [])
        opt = torch.optim.Adam(params, lr=config.lr)

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = _loss(body_model, P, kp, w, norm, x_o, x_b, b, tr, x_prior, betas0, config, layout)
            loss.sum().backward()
            return loss

        for _ in range(config.steps):
            opt.step(closure)
    with torch.no_grad():
        R = pose6d_to_rotmat(x_o.detach().reshape(N, 1, 6))[:, 0]
        B = pose6d_to_rotmat(x_b.detach().reshape(N, 23, 6))
        b, tr = b.detach(), tr.detach()
        pts = body_model.pose_keypoints(R, B, b, tr, layout)
        err = (project_points(P, pts) - kp).norm(dim=-1)
        residual = (err * w).sum((1, 2)) / norm
        pelvis_out = body_model.skeleton(R, B, b, tr)[:, 0]
    return [BodyFit(R[n], B[n], b[n], pelvis_out[n], float(residual[n])) for n in range(N)]


def _loss(body_model, P, kp, w, norm, x_o, x_b, b, tr, x_prior, betas0, config: FitConfig, layout):
    """(N,) loss of every body: robust reprojection (px², weighted mean) + pose and shape pulls."""
    N = x_o.shape[0]
    R = pose6d_to_rotmat(x_o.reshape(N, 1, 6))[:, 0]
    B = pose6d_to_rotmat(x_b.reshape(N, 23, 6))
    pts = body_model.pose_keypoints(R, B, b, tr, layout)
    err = gmof(project_points(P, pts) - kp, config.sigma_px).sum(-1)  # (N, V, K) px²
    data = (err * w).sum((1, 2)) / norm
    pose_pull = config.pose_prior * ((x_b - x_prior) ** 2).sum(-1)
    shape_pull = config.betas_prior * ((b - betas0) ** 2).sum(-1)
    return data + pose_pull + shape_pull
