"""refine(): ScoreHMR's loop — K × [DDIM inversion 0→τ ; guided DDIM τ→0] — re-entrant.

No state is kept between calls and inputs are never edited in place. At each guided step:

    ε̂ = ε_φ(x_t, t, c)                       (no gradient through ε_φ unless configured)
    x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t  → body model (keypoints only) → projection
    L = Σ w_i term_i(x̂0, ...) ;  g = ∂L/∂x_t ;  ε̂ ← ε̂ + s·√(1−ᾱ_t)·g ;  DDIM update
    one Adam step on the camera translation.

Samples stop early when the relative change of their guidance loss between iterations falls
below ``early_stop_rel``; their result is then frozen and they leave the batch (the denoiser and
body model run on the active samples only).

``share_body_pose`` (uncalibrated multi-view, hard sharing): the samples of one instant
(``obs.frame``) start from their mean body pose, x̂0 and every DDIM update are projected onto one
body pose per instant (the mean of the 23 joints' 6D rotations; each view keeps its own global
orientation), so the summed keypoint guidance of all views moves one shared pose; a group stops
early only when all its samples would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat
from scorehmr_ros.core.camera import PinholeCameras
from scorehmr_ros.core.diffusion import Schedule, ddim_step, predict_x0, step_ladder
from scorehmr_ros.core.guidance import BodyState, Observations, WeightedTerm, total_loss

DenoiseFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RefineConfig:
    """tau/step: inversion depth and stride on the 1000-step schedule; iterations: K."""

    tau: int = 50
    step: int = 2
    iterations: int = 10
    guidance_scale: float = 1.0
    transl_lr: float = 1e-2
    early_stop_rel: float = 1e-3
    grad_through_denoiser: bool = False
    layout: str = "blazepose33"
    share_body_pose: bool = False


@dataclass
class RefineResult:
    """x0: (B, 144) refined pose; rotations (B, 24, 3, 3); transl (B, 3); loss (B,) final guidance loss.

    iterations_run: (B,) iterations each sample took before stopping. Counters: ``*_calls`` are
    batched calls, ``*_evals`` the samples they evaluated (stopped samples leave the batch, so
    evals < calls × B when some stop early).
    """

    x0: torch.Tensor
    rotations: torch.Tensor
    transl: torch.Tensor
    loss: torch.Tensor
    iterations_run: torch.Tensor
    denoiser_calls: int = 0
    body_calls: int = 0
    denoiser_evals: int = 0
    body_evals: int = 0
    loss_history: list[torch.Tensor] = field(default_factory=list)


def body_state(
    body_model, x0: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor, layout: str
) -> BodyState:
    """Keypoints of pose x0 (B, 144) in the camera frame, without the mesh."""
    rot = pose6d_to_rotmat(x0.reshape(-1, 24, 6))
    kp = body_model.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl, layout)
    return BodyState(rot, kp, transl)


def _merge(frozen: torch.Tensor, idx: torch.Tensor | None, live: torch.Tensor) -> torch.Tensor:
    """``frozen`` (B, ...) with rows ``idx`` replaced by ``live`` (A, ...), differentiable in ``live``.

    ``idx`` None means every sample is live (no copy)."""
    return live if idx is None else frozen.detach().index_put((idx,), live)


class _Counters:
    def __init__(self) -> None:
        self.denoiser_calls = self.denoiser_evals = self.body_calls = self.body_evals = 0

    def denoiser(self, n: int) -> None:
        self.denoiser_calls += 1
        self.denoiser_evals += n

    def body(self, n: int) -> None:
        self.body_calls += 1
        self.body_evals += n


@dataclass
class _Run:
    """What one refine() call shares between its helpers (built once per call, never returned).

    transl (B, 3) requires grad and is stepped by ``opt``; ``frozen`` is the body of the last
    iteration's results, read only for samples that stopped (None until the first iteration ends).
    """

    betas: torch.Tensor
    transl: torch.Tensor
    opt: torch.optim.Optimizer
    cameras: PinholeCameras
    obs: Observations
    terms: Sequence[WeightedTerm]
    config: RefineConfig
    denoiser: DenoiseFn
    body_model: object
    schedule: Schedule
    counts: _Counters
    # (B, B) group_mean_matrix of the samples' frames when the body pose is shared, else None.
    pose_mean: torch.Tensor | None = None
    frozen: BodyState | None = None

    def eps(self, x_t: torch.Tensor, level: int, cond: torch.Tensor) -> torch.Tensor:
        """ε̂ (A, 144) of the denoiser at ``level`` for A samples."""
        self.counts.denoiser(x_t.shape[0])
        return self.denoiser(x_t, torch.full((x_t.shape[0],), level, dtype=torch.long), cond)

    def body(self, x0_live: torch.Tensor, idx: torch.Tensor | None) -> BodyState:
        """Body of the whole batch: live samples from ``x0_live`` (A, 144), stopped ones frozen."""
        self.counts.body(x0_live.shape[0])
        layout = self.config.layout
        if idx is None:  # everyone is live: no indexing (it would add autograd nodes on transl)
            return body_state(self.body_model, x0_live, self.betas, self.transl, layout)
        live = body_state(self.body_model, x0_live, self.betas[idx], self.transl[idx], layout)
        return BodyState(
            _merge(self.frozen.rotations, idx, live.rotations),
            _merge(self.frozen.keypoints3d, idx, live.keypoints3d),
            self.transl,
        )


def share_body_pose(
    x: torch.Tensor, groups: torch.Tensor | None, mean: torch.Tensor | None = None
) -> torch.Tensor:
    """x (A, 144) 6D poses, groups (A,) long (or None with ``mean``): every sample gets its group's
    mean body pose (joints 1-23, the mean of their 6D values, which the 6D -> rotation map
    orthonormalises) and keeps its own global orientation (the first 6 values). Differentiable; x
    is not modified.

    ``mean``: the groups' :func:`group_mean_matrix` when the caller already has it (refine() builds
    it once per call; one small matmul per use instead of renumbering the groups)."""
    if mean is None:
        mean = group_mean_matrix(groups, x.dtype)
    return torch.cat([x[:, :6], mean @ x[:, 6:]], dim=1)


def group_mean_matrix(groups: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """groups (A,) long -> (A, A) averaging matrix: row i holds 1/n over the n samples of i's group.

    Restricted to whole groups (rows and columns of the same samples) it is still their mean."""
    same = (groups[:, None] == groups[None, :]).to(dtype)
    return same / same.sum(1, keepdim=True)


def _level_index(level: int) -> int:
    """Schedule index of a ladder level: level 0 is the clean sample (ᾱ = 1, index -1)."""
    return level if level > 0 else -1


@torch.no_grad()
def _invert(run: _Run, x0: torch.Tensor, cond: torch.Tensor, levels: list[int]) -> torch.Tensor:
    """Deterministic DDIM inversion 0 → τ of clean poses x0 (A, 144): the denoiser only."""
    x_t = x0
    for cur, nxt in pairwise(levels):
        x_t = ddim_step(run.schedule, x_t, run.eps(x_t, cur, cond), _level_index(cur), nxt)
    return x_t


def _guided_step(
    run: _Run,
    x_t: torch.Tensor,
    cond: torch.Tensor,
    cur: int,
    prv: int,
    x_batch: torch.Tensor,
    idx: torch.Tensor | None,
    active: torch.Tensor,
    transl_final: torch.Tensor,
) -> torch.Tensor:
    """One guided DDIM step cur → prv for the live samples x_t (A, 144); returns x_prv (A, 144).

    ε̂ ← ε̂ + s·√(1−ᾱ)·∂L/∂x_t with L the weighted guidance on x̂0 (stopped samples of ``x_batch``
    (B, 144) enter the coupled terms as constants); then one Adam step on the translation, which
    leaves stopped samples at ``transl_final``.
    """
    config = run.config
    x_req = x_t.detach().requires_grad_(True)
    if config.grad_through_denoiser:
        eps = run.eps(x_req, cur, cond)
    else:
        with torch.no_grad():
            eps = run.eps(x_req.detach(), cur, cond)
    x0_hat = predict_x0(run.schedule, x_req, eps, cur)
    mean = None
    if run.pose_mean is not None:
        # Groups stop together (refine()), so the live rows and columns are whole groups.
        mean = run.pose_mean if idx is None else run.pose_mean[idx][:, idx]
        x0_hat = share_body_pose(x0_hat, None, mean)
    loss, _ = total_loss(run.terms, _merge(x_batch, idx, x0_hat), run.body(x0_hat, idx), run.cameras, run.obs)
    if loss.requires_grad:
        grad_x, grad_t = torch.autograd.grad(loss.sum(), [x_req, run.transl], allow_unused=True)
    else:  # no guidance terms: plain DDIM inversion + sampling
        grad_x, grad_t = None, None
    grad_x = torch.nan_to_num(grad_x) if grad_x is not None else torch.zeros_like(x_t)
    abar = run.schedule.alpha_bar(cur, x_t)
    eps_guided = eps.detach() + config.guidance_scale * (1 - abar).sqrt() * grad_x
    if mean is not None:  # the update's x̂0 shares the body pose too (ε made consistent with it)
        x0_shared = share_body_pose(predict_x0(run.schedule, x_t.detach(), eps_guided, cur), None, mean)
        eps_guided = (x_t.detach() - abar.sqrt() * x0_shared) / (1 - abar).sqrt()
    x_prv = ddim_step(run.schedule, x_t.detach(), eps_guided, cur, _level_index(prv))
    run.opt.zero_grad(set_to_none=True)
    run.transl.grad = None if grad_t is None else torch.nan_to_num(grad_t) * active.unsqueeze(-1)
    run.opt.step()
    with torch.no_grad():  # Adam's momentum must not move stopped samples
        run.transl.copy_(torch.where(active.unsqueeze(-1), run.transl, transl_final))
    return x_prv


def refine(
    x_init: torch.Tensor,
    cond: torch.Tensor,
    betas: torch.Tensor,
    transl_init: torch.Tensor,
    cameras: PinholeCameras,
    obs: Observations,
    terms: Sequence[WeightedTerm],
    config: RefineConfig,
    denoiser: DenoiseFn,
    body_model,
    schedule: Schedule,
) -> RefineResult:
    """Refine a batch of pose estimates (B, 144) with conditioning (B, C) toward the observations.

    betas (B, nb) are held fixed; transl_init (B, 3) camera-frame translations are optimised.

    A sample that stops early leaves the batch: the denoiser and the body model run only on the
    active samples, and the coupled terms (multi-view, temporal) see a stopped sample's frozen
    result as a constant.
    """
    levels = step_ladder(config.tau, config.step)
    B = x_init.shape[0]
    x = x_init.detach().clone()
    pose_mean = group_mean_matrix(obs.frame, x.dtype) if config.share_body_pose else None
    if pose_mean is not None:
        x = share_body_pose(x, obs.frame, pose_mean)
    transl = transl_init.detach().clone().requires_grad_(True)
    run = _Run(
        betas, transl, torch.optim.Adam([transl], lr=config.transl_lr), cameras, obs, terms, config,
        denoiser, body_model, schedule, _Counters(), pose_mean,
    )  # fmt: skip
    cond = cond.detach()
    active = torch.ones(B, dtype=torch.bool)
    iterations_run = torch.zeros(B, dtype=torch.long)
    prev_loss = torch.full((B,), float("inf"))
    transl_final = transl.detach().clone()  # last translation of each sample while it was active
    history: list[torch.Tensor] = []

    for _ in range(config.iterations):
        if not active.any():
            break
        idx = None if active.all() else active.nonzero().squeeze(-1)
        cond_live = cond if idx is None else cond[idx]
        # 1) deterministic DDIM inversion of the current estimate, 0 → τ.
        x_t = _invert(run, x if idx is None else x[idx], cond_live, levels)
        # 2) guided deterministic DDIM, τ → 0, with one translation step per guided step.
        for prv, cur in reversed(list(pairwise(levels))):
            x_t = _guided_step(run, x_t, cond_live, cur, prv, x, idx, active, transl_final)
        x = _merge(x, idx, x_t.detach())
        iterations_run += active.long()
        transl_final = torch.where(active.unsqueeze(-1), transl.detach(), transl_final)
        # 3) per-sample early stopping on the relative change of the guidance loss.
        with torch.no_grad():
            body = run.body(x if idx is None else x[idx], idx)
            loss, _ = total_loss(terms, x, body, cameras, obs)
        run.frozen = BodyState(body.rotations.detach(), body.keypoints3d.detach(), transl_final)
        history.append(loss.detach().clone())
        rel = (prev_loss - loss).abs() / prev_loss.abs().clamp(min=1e-9)
        stop = rel < config.early_stop_rel
        if pose_mean is not None:  # a group stops when all its samples would
            stop = (pose_mean @ (~stop).to(pose_mean.dtype)) == 0
        active &= ~stop
        prev_loss = loss
    return RefineResult(
        x0=x,
        rotations=pose6d_to_rotmat(x.reshape(-1, 24, 6)),
        transl=transl_final,
        loss=prev_loss,
        iterations_run=iterations_run,
        denoiser_calls=run.counts.denoiser_calls,
        body_calls=run.counts.body_calls,
        denoiser_evals=run.counts.denoiser_evals,
        body_evals=run.counts.body_evals,
        loss_history=history,
    )
