"""ScoreHMR variants on a held-out scene: how each batch is laid out and which terms guide it.

A scene has T frames × V views; samples are flattened frame-major (index t * V + v). Variants:

- ``regressor``: the per-view regression, no refinement;
- ``single``: keypoint guidance, every view-frame independent (paper: single-frame);
- ``multiview``: keypoints + uncalibrated multi-view consistency over the views of each frame,
  output fused (body pose averaged over the views, as the node publishes it);
- ``temporal``: keypoints + smoothness along each view's sequence (offline: whole sequence);
- ``combined``: all three in one pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import roma
import torch

from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.guidance import Observations, make_terms
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import TEMPORAL_REFERENCE_INTERVAL_S, VARIANT_SCHEDULES, variant_weights
from scorehmr_ros.core.refiner import RefineConfig, refine
from scorehmr_ros.eval.heldout import Regressed, camera_joints, regress_scene
from scorehmr_ros.eval.metrics import acceleration_error, mpjpe, pa_mpjpe, reprojection_error
from scorehmr_ros.sim.scene import Scene

VARIANTS = ("regressor", "single", "multiview", "temporal", "combined")


@dataclass
class VariantResult:
    rotations: torch.Tensor  # (T*V, 24, 3, 3)
    betas: torch.Tensor  # (T*V, 10)
    transl: torch.Tensor  # (T*V, 3)
    seconds: float
    denoiser_calls: int = 0
    valid: torch.Tensor | None = None  # (T*V,) bool: samples holding an estimate (None: all)


def flat_cameras(scene: Scene) -> PinholeCameras:
    T, V = scene.num_frames, scene.num_views
    c = scene.cameras

    def rep(x):
        return x.unsqueeze(0).expand(T, *x.shape).reshape(T * V, *x.shape[1:])

    return PinholeCameras(rep(c.K), rep(c.R), rep(c.t), rep(c.image_size))


def scene_observations(scene: Scene, variant: str, time_weighted: bool = True) -> Observations:
    """Batch relations for ``variant``: frames grouped for multi-view, previous-frame links for temporal.

    ``time_weighted``: the temporal term per second, as the streaming estimator weighs it
    (``TEMPORAL_REFERENCE_INTERVAL_S / scene.frame_interval_s`` per link, so a scene sampled at
    15 fps is pulled half as hard as one at 30 fps); False: one weight per frame whatever the
    frame rate (the behaviour before, kept for comparison in scripts/eval_frame_rate.py)."""
    T, V = scene.num_frames, scene.num_views
    t_idx = torch.arange(T).repeat_interleave(V)
    v_idx = torch.arange(V).repeat(T)
    grouped = variant in ("multiview", "combined")
    linked = variant in ("temporal", "combined")
    frame = t_idx if grouped else torch.arange(T * V)
    prev = torch.where((t_idx > 0) & linked, (t_idx - 1) * V + v_idx, torch.full_like(t_idx, -1))
    tweight = None
    if linked and time_weighted and scene.frame_interval_s:
        tweight = torch.full((T * V,), TEMPORAL_REFERENCE_INTERVAL_S / scene.frame_interval_s)
    return Observations(
        keypoints=scene.keypoints2d.reshape(T * V, -1, 2),
        confidence=scene.confidence.reshape(T * V, -1),
        frame=frame,
        prev_index=prev,
        anchor_pose=torch.zeros(T * V, 144),
        has_anchor=torch.zeros(T * V, dtype=torch.bool),
        temporal_weight=tweight,
    )


def shared_betas(betas: torch.Tensor, scene: Scene, variant: str) -> torch.Tensor:
    """Betas averaged over what the variant knows is one person (views of a frame, frames of a view, all)."""
    T, V = scene.num_frames, scene.num_views
    b = betas.reshape(T, V, -1)
    if variant == "multiview":
        b = b.mean(1, keepdim=True).expand_as(b)
    elif variant == "temporal":
        b = b.mean(0, keepdim=True).expand_as(b)
    elif variant == "combined":
        b = b.mean((0, 1), keepdim=True).expand_as(b)
    return b.reshape(T * V, -1)


@dataclass
class SceneBatch:
    """A scene regressed and laid out as one refinement batch for ``variant`` (see ``refine_args``)."""

    scene: Scene
    reg: Regressed
    betas: torch.Tensor  # (T*V, 10), shared as the variant knows
    cameras: PinholeCameras
    obs: Observations

    def refine_args(self) -> tuple:
        """The first six arguments of :func:`refine`: x, cond, betas, transl, cameras, observations."""
        return (self.reg.x, self.reg.cond, self.betas, self.reg.transl, self.cameras, self.obs)


def scene_batch(models: ScoreHMRModels, scene: Scene, variant: str) -> SceneBatch:
    """Regress every view-frame of ``scene`` and lay the batch out for ``variant``."""
    reg = regress_scene(models.body_model, models.regressor, scene)
    return SceneBatch(
        scene,
        reg,
        shared_betas(reg.betas, scene, variant),
        flat_cameras(scene),
        scene_observations(scene, variant),
    )


def run_variant(
    models: ScoreHMRModels,
    scene: Scene,
    reg: Regressed,
    variant: str,
    config: RefineConfig | None = None,
    weights: dict[str, float] | None = None,
    time_weighted: bool = True,
) -> VariantResult:
    if variant == "regressor":
        return VariantResult(reg.rotations, reg.betas, reg.transl, reg.seconds)
    w = variant_weights(variant, weights)
    config = config or VARIANT_SCHEDULES[variant]
    betas = shared_betas(reg.betas, scene, variant)
    t0 = time.perf_counter()
    res = refine(
        reg.x,
        reg.cond,
        betas,
        reg.transl,
        flat_cameras(scene),
        scene_observations(scene, variant, time_weighted),
        make_terms(w),
        config,
        models.denoiser,
        models.body_model,
        models.schedule,
    )
    rotations = fuse_views(res.rotations, scene) if variant in ("multiview", "combined") else res.rotations
    seconds = time.perf_counter() - t0 + reg.seconds
    return VariantResult(rotations, betas, res.transl, seconds, res.denoiser_calls)


def fuse_views(rotations: torch.Tensor, scene: Scene) -> torch.Tensor:
    """The fused multi-view output (as the node publishes it): each frame's 23 body-joint rotations
    replaced by their chordal mean over the views; global orientations stay per view. (T*V, 24, 3, 3)."""
    T, V = scene.num_frames, scene.num_views
    rot = rotations.reshape(T, V, 24, 3, 3)
    body = roma.special_procrustes(rot[:, :, 1:].sum(1))  # (T, 23, 3, 3)
    return torch.cat([rot[:, :, :1], body.unsqueeze(1).expand(T, V, 23, 3, 3)], dim=2).reshape(
        T * V, 24, 3, 3
    )


@torch.no_grad()
def score(models: ScoreHMRModels, scene: Scene, result: VariantResult) -> dict[str, float]:
    """MPJPE / PA-MPJPE (mm), 2D error vs exact projections (px), acceleration error (mm/frame²)."""
    T, V = scene.num_frames, scene.num_views
    bm, rot = models.body_model, result.rotations
    pred = bm.skeleton(rot[:, 0], rot[:, 1:], result.betas)
    gt = camera_joints(scene).reshape(T * V, 24, 3)
    kp = bm.pose_keypoints(rot[:, 0], rot[:, 1:], result.betas, result.transl)
    uv = project(kp, flat_cameras(scene).K)
    clean = scene.keypoints2d_clean.reshape(T * V, -1, 2)
    size = flat_cameras(scene).image_size.unsqueeze(1)
    inside = ((clean >= 0) & (clean < size)).all(-1).float()
    root_rel = (pred - pred[:, :1]).reshape(T, V, 24, 3).transpose(0, 1)
    gt_rel = (gt - gt[:, :1]).reshape(T, V, 24, 3).transpose(0, 1)
    accel = (
        torch.cat([acceleration_error(p, g) for p, g in zip(root_rel, gt_rel, strict=True)])
        if T > 2
        else None
    )
    return {
        "mpjpe": 1000 * mpjpe(pred, gt).mean().item(),
        "pa_mpjpe": 1000 * pa_mpjpe(pred, gt).mean().item(),
        "err_2d": reprojection_error(uv, clean, inside).nanmean().item(),
        "accel": float("nan") if accel is None else 1000 * accel.mean().item(),
        "ms_per_view_frame": 1000 * result.seconds / (T * V),
    }
