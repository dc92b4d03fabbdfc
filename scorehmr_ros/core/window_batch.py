"""Several refinement windows (one per tracked person) as ONE batched :func:`refine` call.

Each :class:`~scorehmr_ros.core.streaming.StreamingEstimator` lays its sliding window out as a
:class:`WindowBatch` (the arguments of ``refine`` plus what it needs to take the result back).
:func:`refine_windows` concatenates the windows that share a schedule, guidance weights and
models, with frame ids and previous-frame links offset so that people never mix (the multi-view
and shared-pose groups are per ``obs.frame``; the temporal term follows ``prev_index``), runs
``refine`` once per such group and hands each window its rows of the result. Every operation of
``refine`` is per sample or per frame group, so the batched result equals separate calls up to
floating-point summation order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import torch

from scorehmr_ros.core.camera import PinholeCameras
from scorehmr_ros.core.guidance import Observations, make_terms
from scorehmr_ros.core.refiner import RefineConfig, refine

VIEW_FIELDS = ("view_transforms", "view_keypoints", "view_confidence", "view_K", "view_image_size")


@dataclass
class WindowBatch:
    """One window laid out for refine(): B samples.

    x: (B, 144) start poses (6D); cond: (B, C); betas: (B, 10); transl: (B, 3); cameras: B cameras;
    obs: their observations; weights: {term: weight}; config: the schedule; models: the estimator's
    ScoreHMRModels; denoiser: its ε̂ engine; context: whatever the owner needs to apply the result.
    x0 / transl0: (B, 144) / (B, 3) filled by :func:`refine_windows`; seconds: the wall time of the
    refine() call this window was part of.
    """

    x: torch.Tensor
    cond: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    cameras: PinholeCameras
    obs: Observations
    weights: dict[str, float]
    config: RefineConfig
    models: object
    denoiser: object
    context: dict = field(default_factory=dict)
    x0: torch.Tensor | None = None
    transl0: torch.Tensor | None = None
    seconds: float = 0.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def key(self) -> tuple:
        """Windows with equal keys can share one refine() call."""
        return (
            tuple(sorted(self.weights.items())),
            self.config,
            id(self.models),
            id(self.denoiser),
            self.obs.cam_to_ref is not None,
        )


def _pad_views(t: torch.Tensor, v_max: int, name: str) -> torch.Tensor:
    """(B, V, ...) -> (B, v_max, ...): padded views are identity transforms / intrinsics, zero
    confidence (ignored by every term), unit image size."""
    B, V = t.shape[:2]
    if V == v_max:
        return t
    if name in ("view_transforms", "view_K"):
        pad = torch.eye(t.shape[-1], dtype=t.dtype).expand(B, v_max - V, *t.shape[2:])
    elif name == "view_image_size":
        pad = torch.ones(B, v_max - V, *t.shape[2:], dtype=t.dtype)
    else:
        pad = torch.zeros(B, v_max - V, *t.shape[2:], dtype=t.dtype)
    return torch.cat([t, pad], dim=1)


def concat_observations(parts: list[Observations]) -> Observations:
    """One Observations for windows placed one after another: frame ids and prev_index offset."""
    frames, prev, frame_offset, row_offset = [], [], 0, 0
    for o in parts:
        frames.append(o.frame + frame_offset)
        prev.append(torch.where(o.prev_index >= 0, o.prev_index + row_offset, o.prev_index))
        frame_offset += int(o.frame.max()) + 1 if len(o.frame) else 0
        row_offset += len(o.frame)
    out = {"frame": torch.cat(frames), "prev_index": torch.cat(prev)}
    for f in fields(Observations):
        if f.name in out:
            continue
        values = [getattr(o, f.name) for o in parts]
        if all(v is None for v in values):
            out[f.name] = None
        elif f.name == "temporal_weight":
            out[f.name] = torch.cat(
                [torch.ones(len(o.frame)) if v is None else v for o, v in zip(parts, values, strict=True)]
            )
        elif any(v is None for v in values):
            raise ValueError(f"cannot batch windows with and without Observations.{f.name}")
        elif f.name in VIEW_FIELDS:
            v_max = max(v.shape[1] for v in values)
            out[f.name] = torch.cat([_pad_views(v, v_max, f.name) for v in values])
        else:
            out[f.name] = torch.cat(values)
    return Observations(**out)


def refine_windows(windows: list[WindowBatch]) -> None:
    """Refine every window, one batched refine() per group of equal :meth:`WindowBatch.key`;
    fills each window's ``x0``, ``transl0`` and ``seconds``. Inputs are not modified."""
    groups: dict[tuple, list[WindowBatch]] = {}
    for w in windows:
        groups.setdefault(w.key(), []).append(w)
    for group in groups.values():
        first = group[0]
        cams = [w.cameras for w in group]
        t0 = time.perf_counter()
        res = refine(
            torch.cat([w.x for w in group]),
            torch.cat([w.cond for w in group]),
            torch.cat([w.betas for w in group]),
            torch.cat([w.transl for w in group]),
            PinholeCameras(
                K=torch.cat([c.K for c in cams]),
                R=torch.cat([c.R for c in cams]),
                t=torch.cat([c.t for c in cams]),
                image_size=torch.cat([c.image_size for c in cams]),
            ),
            concat_observations([w.obs for w in group]),
            make_terms(first.weights),
            first.config,
            first.denoiser,
            first.models.body_model,
            first.models.schedule,
        )
        seconds = time.perf_counter() - t0
        start = 0
        for w in group:
            stop = start + len(w)
            w.x0, w.transl0, w.seconds = res.x0[start:stop], res.transl[start:stop], seconds
            start = stop
