"""Guidance terms: pure functions ``term(x0, body, cameras, obs) -> (B,) loss``, composed as a weighted list.

A refinement batch may mix views and frames. ``Observations`` says how samples relate:
``frame`` groups the views of one time step (multi-view terms), ``prev_index`` links a sample to
the same view's previous frame in the batch (temporal terms), and ``anchor_pose`` gives the
already-published previous frame where that frame is fixed (causal streaming).

Shapes: x0 (B, 144) = 24 joints × 6D (global orientation first); keypoints (B, K, 2) px.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from scorehmr_ros.core.camera import PinholeCameras, project


@dataclass(frozen=True)
class Observations:
    """What the guidance terms compare against, per sample b of the batch.

    keypoints: (B, K, 2) detected pixels; confidence: (B, K) (0 = missing).
    frame: (B,) long, time step of the sample (samples sharing it are views of one instant).
    prev_index: (B,) long, index in the batch of the same view's previous frame, -1 if none.
    anchor_pose: (B, 144) fixed previous-frame pose used when ``has_anchor`` (published frames).
    has_anchor: (B,) bool.
    cam_to_ref: optional (B, 4, 4) camera→reference transforms (calibrated rigs only).
    temporal_weight: optional (B,) per-sample multiplier of the temporal term (its link's frame
        interval in units of the reference interval: ``reference_dt / dt``; None = 1).
    view_transforms: optional (B, V, 4, 4) transforms from the sample's frame into each of V view
        cameras (calibrated rigs: one sample seen by every view); view_keypoints (B, V, K, 2);
        view_confidence (B, V, K) (0 = missing view or keypoint); view_K (B, V, 3, 3);
        view_image_size (B, V, 2).
    """

    keypoints: torch.Tensor
    confidence: torch.Tensor
    frame: torch.Tensor
    prev_index: torch.Tensor
    anchor_pose: torch.Tensor
    has_anchor: torch.Tensor
    cam_to_ref: torch.Tensor | None = None
    temporal_weight: torch.Tensor | None = None
    view_transforms: torch.Tensor | None = None
    view_keypoints: torch.Tensor | None = None
    view_confidence: torch.Tensor | None = None
    view_K: torch.Tensor | None = None
    view_image_size: torch.Tensor | None = None

    @classmethod
    def independent(cls, keypoints: torch.Tensor, confidence: torch.Tensor) -> Observations:
        """Unrelated single-view samples (each its own frame, no temporal links)."""
        B = keypoints.shape[0]
        return cls(
            keypoints,
            confidence,
            frame=torch.arange(B),
            prev_index=torch.full((B,), -1, dtype=torch.long),
            anchor_pose=torch.zeros(B, 144),
            has_anchor=torch.zeros(B, dtype=torch.bool),
        )


@dataclass
class BodyState:
    """The body of x̂0 in each sample's camera frame.

    rotations: (B, 24, 3, 3). keypoints3d: (B, K, 3) layout keypoints (m). transl: (B, 3).
    """

    rotations: torch.Tensor
    keypoints3d: torch.Tensor
    transl: torch.Tensor


Term = Callable[[torch.Tensor, BodyState, PinholeCameras, Observations], torch.Tensor]


@dataclass(frozen=True)
class WeightedTerm:
    name: str
    fn: Term
    weight: float


def gmof(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust error σ²r²/(σ²+r²), elementwise."""
    sq = residual**2
    return sigma**2 * sq / (sigma**2 + sq)


def keypoint_reprojection(
    x0: torch.Tensor, body: BodyState, cameras: PinholeCameras, obs: Observations, sigma: float = 100.0
) -> torch.Tensor:
    """Σ conf² · GMoF(projected − detected, σ px) · (1000 / max(H, W)); missing keypoints weigh 0."""
    uv = project(body.keypoints3d, cameras.K)
    err = gmof(uv - obs.keypoints, sigma).sum(-1)  # (B, K)
    scale = 1000.0 / cameras.image_size.max(dim=-1).values
    return (obs.confidence.clamp(min=0) ** 2 * err).sum(-1) * scale


def multiview_keypoint_reprojection(
    x0: torch.Tensor, body: BodyState, cameras: PinholeCameras, obs: Observations, sigma: float = 100.0
) -> torch.Tensor:
    """Calibrated rigs, one sample seen by V views: the sample's keypoints (in its own frame) moved
    into each view camera by ``obs.view_transforms`` and projected with that view's K; per view
    Σ conf² · GMoF(σ px) · (1000 / max(H, W)) as :func:`keypoint_reprojection`, summed over views.
    The pose is shared by construction; ``cameras`` is not used."""
    if obs.view_transforms is None:
        raise ValueError("multiview_keypoint_reprojection needs Observations.view_* (calibrated views)")
    T = obs.view_transforms.to(body.keypoints3d.dtype)
    pts = torch.einsum("bvij,bkj->bvki", T[..., :3, :3], body.keypoints3d) + T[..., :3, 3].unsqueeze(2)
    B, V, K, _ = pts.shape
    uv = project(pts.reshape(B * V, K, 3), obs.view_K.reshape(B * V, 3, 3).to(pts.dtype)).reshape(B, V, K, 2)
    err = gmof(uv - obs.view_keypoints, sigma).sum(-1)  # (B, V, K)
    scale = 1000.0 / obs.view_image_size.max(dim=-1).values  # (B, V)
    return ((obs.view_confidence.clamp(min=0) ** 2 * err).sum(-1) * scale).sum(-1)


def _group_mean(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, ...) over samples sharing ``groups`` (B,), broadcast back to (B, ...)."""
    uniq, inverse = torch.unique(groups, return_inverse=True)
    flat = values.reshape(values.shape[0], -1)
    sums = torch.zeros(len(uniq), flat.shape[1], dtype=flat.dtype).index_add(0, inverse, flat)
    counts = torch.zeros(len(uniq), dtype=flat.dtype).index_add(
        0, inverse, torch.ones_like(inverse, dtype=flat.dtype)
    )
    return (sums / counts.unsqueeze(-1))[inverse].reshape(values.shape)


MULTIVIEW_SCALE = 300.0**2


def multiview_pose_consistency(
    x0: torch.Tensor, body: BodyState, cameras: PinholeCameras, obs: Observations
) -> torch.Tensor:
    """Uncalibrated multi-view: each view's 23 body-joint rotations (6D) pulled to their mean over
    the views of the same frame (global orientation excluded: relative camera rotations unknown)."""
    body6d = x0.reshape(-1, 24, 6)[:, 1:]
    return MULTIVIEW_SCALE * ((body6d - _group_mean(body6d, obs.frame)) ** 2).sum((-1, -2)) / 23.0


def multiview_joint_consistency(
    x0: torch.Tensor, body: BodyState, cameras: PinholeCameras, obs: Observations
) -> torch.Tensor:
    """Calibrated multi-view (beyond the paper): 3D keypoints in the reference frame agree across views.

    Needs ``obs.cam_to_ref``; this fixes global orientation and position across views as well.
    """
    if obs.cam_to_ref is None:
        raise ValueError("multiview_joint_consistency needs Observations.cam_to_ref (calibrated cameras)")
    R, t = obs.cam_to_ref[:, :3, :3], obs.cam_to_ref[:, :3, 3]
    ref = body.keypoints3d @ R.transpose(-1, -2) + t.unsqueeze(1)  # (B, K, 3)
    return 1000.0 * ((ref - _group_mean(ref, obs.frame)) ** 2).sum(-1).mean(-1)


def temporal_smoothness(
    x0: torch.Tensor, body: BodyState, cameras: PinholeCameras, obs: Observations
) -> torch.Tensor:
    """‖x̂0ⁿ − x̂0ⁿ⁻¹‖² on the 144-D pose, to the same view's previous frame (in the batch, or the
    fixed published anchor), times ``obs.temporal_weight`` when given. Each sample's term looks
    backward only; through the gradient of the
    summed loss a previous frame *in the batch* is also pulled toward its successor (smoothing
    within the window), while a published anchor is a constant and never moves."""
    has_prev = obs.prev_index >= 0
    prev_in_batch = x0[obs.prev_index.clamp(min=0)]
    prev = torch.where(has_prev.unsqueeze(-1), prev_in_batch, obs.anchor_pose.to(x0.dtype))
    linked = has_prev | obs.has_anchor
    loss = ((x0 - prev) ** 2).sum(-1) * linked
    return loss if obs.temporal_weight is None else loss * obs.temporal_weight.to(loss.dtype)


TERMS: dict[str, Term] = {
    "keypoints": keypoint_reprojection,
    "multiview": multiview_pose_consistency,
    "multiview_calibrated": multiview_joint_consistency,
    "temporal": temporal_smoothness,
    "keypoints_views": multiview_keypoint_reprojection,
}


def make_terms(weights: dict[str, float]) -> list[WeightedTerm]:
    """Weighted terms from ``{name: weight}`` (names from :data:`TERMS`); zero weights are dropped.

    The weights the project uses, and how they relate to the official code: ``core.presets``."""
    unknown = set(weights) - set(TERMS)
    if unknown:
        raise KeyError(f"unknown guidance terms {sorted(unknown)}; known: {sorted(TERMS)}")
    return [WeightedTerm(name, TERMS[name], float(w)) for name, w in weights.items() if w != 0]


def total_loss(
    terms: Sequence[WeightedTerm],
    x0: torch.Tensor,
    body: BodyState,
    cameras: PinholeCameras,
    obs: Observations,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(B,) weighted sum of the terms, and each weighted term (B,) by name."""
    parts = {t.name: t.weight * t.fn(x0, body, cameras, obs) for t in terms}
    total = torch.stack(list(parts.values())).sum(0) if parts else x0.new_zeros(x0.shape[0])
    return total, parts
