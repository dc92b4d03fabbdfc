"""Multi-view body fit for calibrated rigs (torch, no ROS): the start of the one-sample refinement.

One body (global orientation, 23 body-joint rotations, shape, pelvis position; all in the reference
frame) is fitted to the 2D keypoints of every calibrated view at once: a robust reprojection error
(Geman-McClure, σ px, weights = confidence² of the views the triangulation kept) plus weak pulls
toward the starting body pose (the regressors' mean: the only pose prior here; the diffusion prior
comes after, in refine()) and toward the starting shape, from a start whose orientation and
position come from the triangulated torso.

Solver: Levenberg-Marquardt on that cost, the Geman-McClure error handled by iteratively
reweighted least squares (weights σ⁴/(σ²+e²)² per pixel coordinate, which gives the robust cost's
gradient). Each iteration linearises the residuals in a rotation increment per joint
(R ← R·exp([δ]ₓ)), the pelvis shift and the shape change; the Jacobian comes from forward finite
differences evaluated in ONE batched body-model call (1 + D bodies per fitted body, D = 85
parameters), which on a CPU is several times cheaper than torch's forward-mode autodiff through
the same model (tested against ``torch.func.jacfwd``). A step is kept only when it lowers the robust
cost (else the damping grows and the step is retried), so the cost never increases.

Shape is observable with two or more calibrated views (bone lengths), so ``fit_betas`` lets the fit
move it; a streaming caller averages the fitted shapes over frames (one person, one shape).

Shapes: P (V, 3, 4) reference → pixel projections; keypoints (V, K, 2); weights (V, K) >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

from scorehmr_ros.core.body_model import rotmat_to_pose6d
from scorehmr_ros.core.guidance import gmof
from scorehmr_ros.core.triangulation import project_points

ROTATION_PARAMS = 24 * 3  # a rotation increment per joint (global orientation first)
FD_STEP = 1e-3  # finite-difference step (rad, m, shape units)
MAX_RETRIES = 4  # damping increases per iteration when a step would raise the cost
DAMPING_START = 1e-2


@dataclass(frozen=True)
class FitConfig:
    """iterations: Levenberg-Marquardt iterations (each: one batched Jacobian, one or more cost
    evaluations); sigma_px: robust scale of the reprojection error; pose_prior: weight of
    ‖6D body pose − start‖² (px² units); betas_prior: weight of ‖β − β_start‖²; fit_betas: let the
    shape move; min_keypoints: confident (view, keypoint) pairs needed to fit at all (else the start
    is returned)."""

    iterations: int = 3
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

    Each body's cost depends on its own parameters only, and each body has its own normal equations,
    damping and step acceptance, so the result equals separate :func:`fit_body_to_views` calls (up to
    float rounding) at the cost of about one.
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


@dataclass
class _Problem:
    """The batched fit's fixed data: P (N, V, 3, 4); kp (N, V, K, 2); w (N, V, K) confidence²
    normalised to sum 1 per body; x_prior (N, 138) 6D pose pull target; betas0 (N, nb)."""

    body_model: object
    P: torch.Tensor
    kp: torch.Tensor
    w: torch.Tensor
    x_prior: torch.Tensor
    betas0: torch.Tensor
    config: FitConfig

    def errors(self, R: torch.Tensor, transl: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """(B, V, K, 2) px reprojection errors of bodies R (B, 24, 3, 3), transl (B, 3), betas
        (B, nb); B a multiple of N (each body's data repeated B / N times)."""
        m = R.shape[0] // self.P.shape[0]
        pts = self.body_model.pose_keypoints(R[:, 0], R[:, 1:], betas, transl, self.config.layout)
        return project_points(self.P.repeat_interleave(m, 0), pts) - self.kp.repeat_interleave(m, 0)

    def cost(self, R: torch.Tensor, transl: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """(N,) robust cost: Σ w·GMoF(e) + pose and shape pulls."""
        c = self.config
        data = (gmof(self.errors(R, transl, betas), c.sigma_px).sum(-1) * self.w).sum((1, 2))
        x = rotmat_to_pose6d(R[:, 1:]).reshape(R.shape[0], -1)
        return (data + c.pose_prior * ((x - self.x_prior) ** 2).sum(-1)
                + c.betas_prior * ((betas - self.betas0) ** 2).sum(-1))  # fmt: skip

    def residuals(self, R, transl, betas, sqrt_w, theta: torch.Tensor) -> torch.Tensor:
        """Weighted residual vectors (N·m, M) at parameter increments theta (N·m, D) around each
        body (R, transl, betas, IRLS weights sqrt_w (N, V, K, 2)), repeated m times."""
        c = self.config
        m = theta.shape[0] // R.shape[0]
        rep = lambda x: x.repeat_interleave(m, 0)  # noqa: E731
        delta = theta[:, :ROTATION_PARAMS].reshape(-1, 24, 3)
        Rn = rep(R) @ roma.rotvec_to_rotmat(delta)
        tn = rep(transl) + theta[:, ROTATION_PARAMS : ROTATION_PARAMS + 3]
        bn = rep(betas) + theta[:, ROTATION_PARAMS + 3 :] if c.fit_betas else rep(betas)
        data = (rep(sqrt_w) * self.errors(Rn, tn, bn)).reshape(theta.shape[0], -1)
        x = rotmat_to_pose6d(Rn[:, 1:]).reshape(theta.shape[0], -1)
        pose = c.pose_prior**0.5 * (x - rep(self.x_prior))
        parts = [data, pose] + ([c.betas_prior**0.5 * (bn - rep(self.betas0))] if c.fit_betas else [])
        return torch.cat(parts, -1)

    def jacobian(self, R, transl, betas, sqrt_w) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals r (N, M) and their Jacobian J (N, M, D) by forward differences (one batched call)."""
        N, D = R.shape[0], self.num_params(betas)
        steps = torch.cat([torch.zeros(1, D), FD_STEP * torch.eye(D)])  # (1 + D, D)
        out = self.residuals(R, transl, betas, sqrt_w, steps.repeat(N, 1)).reshape(N, D + 1, -1)
        r = out[:, 0]
        return r, ((out[:, 1:] - r[:, None]) / FD_STEP).transpose(1, 2)

    def num_params(self, betas: torch.Tensor) -> int:
        return ROTATION_PARAMS + 3 + (betas.shape[-1] if self.config.fit_betas else 0)


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
    w = w / w.sum((1, 2))[:, None, None]
    orient = torch.stack([j.orient for j in jobs]).float()
    body_pose = torch.stack([j.body_pose for j in jobs]).float()
    prior = torch.stack([j.body_pose if j.prior_body_pose is None else j.prior_body_pose for j in jobs])
    betas = torch.stack([j.betas for j in jobs]).float()
    pelvis = torch.stack([j.pelvis for j in jobs]).float()
    problem = _Problem(body_model, P, kp, w, rotmat_to_pose6d(prior.float()).reshape(N, -1), betas, config)
    with torch.no_grad():
        R = torch.cat([orient[:, None], body_pose], 1)  # (N, 24, 3, 3)
        transl = pelvis - body_model.skeleton(orient, body_pose, betas)[:, 0]
        R, transl, betas = _levenberg_marquardt(problem, R, transl, betas)
        err = problem.errors(R, transl, betas).norm(dim=-1)
        residual = (err * w).sum((1, 2))
        pelvis_out = body_model.skeleton(R[:, 0], R[:, 1:], betas, transl)[:, 0]
    return [BodyFit(R[n, 0], R[n, 1:], betas[n], pelvis_out[n], float(residual[n])) for n in range(N)]


def _levenberg_marquardt(problem: _Problem, R, transl, betas):
    """``config.iterations`` damped Gauss-Newton steps per body (IRLS weights of the current
    errors), each body with its own damping; a step is kept only when it lowers the robust cost."""
    sigma2 = problem.config.sigma_px**2
    N = R.shape[0]
    damping = torch.full((N,), DAMPING_START)
    cost = problem.cost(R, transl, betas)
    for _ in range(problem.config.iterations):
        e = problem.errors(R, transl, betas)
        sqrt_w = (problem.w[..., None] * (sigma2 / (sigma2 + e**2)) ** 2).sqrt()  # IRLS: GMoF's gradient
        r, J = problem.jacobian(R, transl, betas, sqrt_w)
        H = J.transpose(1, 2) @ J
        g = J.transpose(1, 2) @ r.unsqueeze(-1)
        diag = torch.diagonal(H, dim1=1, dim2=2)
        pending = torch.ones(N, dtype=torch.bool)
        for _ in range(MAX_RETRIES):
            step, _info = torch.linalg.solve_ex(H + torch.diag_embed(damping[:, None] * (diag + 1e-6)), -g)
            step = step.squeeze(-1)
            R_new = R @ roma.rotvec_to_rotmat(step[:, :ROTATION_PARAMS].reshape(N, 24, 3))
            t_new = transl + step[:, ROTATION_PARAMS : ROTATION_PARAMS + 3]
            b_new = betas + step[:, ROTATION_PARAMS + 3 :] if problem.config.fit_betas else betas
            c_new = problem.cost(R_new, t_new, b_new)
            better = pending & (c_new < cost)  # NaN (a failed solve) is never better
            R = torch.where(better[:, None, None, None], R_new, R)
            transl = torch.where(better[:, None], t_new, transl)
            betas = torch.where(better[:, None], b_new, betas)
            cost = torch.where(better, c_new, cost)
            grown = torch.where(pending, damping * 4, damping)
            damping = torch.where(better, damping / 3, grown).clamp(1e-6, 1e6)
            pending = pending & ~better
            if not bool(pending.any()):
                break
    return R, transl, betas
