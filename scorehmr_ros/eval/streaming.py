"""Accuracy and cost of the node's causal estimator (core.streaming) on the held-out scenes (no ROS).

Every held-out scene is streamed set by set through a :class:`StreamingEstimator`, exactly as the
node feeds it; the published (fused) bodies are scored in the reference camera's frame against
the ground truth: MPJPE and PA-MPJPE (mm), acceleration error (mm/frame²) and the time each
``process()`` call took. ``RefineConfig(iterations=0)`` gives the regressor + fusion baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.core.presets import StreamingConfig
from scorehmr_ros.core.streaming import StreamingEstimator, ViewInput
from scorehmr_ros.eval.heldout import camera_joints
from scorehmr_ros.eval.metrics import acceleration_error, mpjpe, pa_mpjpe
from scorehmr_ros.sim.scene import Scene

REFERENCE_VIEW = 0


@dataclass
class StreamResult:
    """Scores of one configuration over the scenes (frames pooled)."""

    name: str
    mpjpe_mm: float
    pa_mpjpe_mm: float
    accel_mm: float
    set_ms_p50: float
    set_ms_p95: float
    frames: int

    def row(self) -> str:
        return (
            f"| {self.name} | {self.mpjpe_mm:.1f} | {self.pa_mpjpe_mm:.1f} | {self.accel_mm:.1f} | "
            f"{self.set_ms_p50:.1f} | {self.set_ms_p95:.1f} | {self.frames} |"
        )


HEADER = (
    "| configuration | MPJPE mm | PA-MPJPE mm | accel mm/f² | ms/set p50 | ms/set p95 | frames |\n"
    "|---|---|---|---|---|---|---|"
)


def scene_views(scene: Scene, t: int) -> list[ViewInput]:
    """The synchronised set of frame ``t`` as the node would build it (camera names cam1..camN)."""
    return [
        ViewInput(
            f"cam{v + 1}",
            scene.keypoints2d[t, v].float(),
            scene.confidence[t, v].float(),
            scene.cameras.K[v].float(),
            scene.cameras.image_size[v].float(),
        )
        for v in range(scene.num_views)
    ]


def stream_scene(estimator: StreamingEstimator, scene: Scene, sets_per_call: int = 1):
    """Feed a scene; returns predicted joints (T', 24, 3), their frame indices and per-call seconds.

    ``sets_per_call`` > 1 feeds that many consecutive sets per :meth:`process_many` call, as the
    node does when sets queue up behind a busy worker.
    """
    estimator.reset()
    joints, frames, seconds = [], [], []
    T = scene.num_frames
    for start in range(0, T, sets_per_call):
        batch = [(t, scene_views(scene, t)) for t in range(start, min(T, start + sets_per_call))]
        t0 = time.perf_counter()
        bodies = estimator.process_many(batch)
        seconds.append(time.perf_counter() - t0)
        for b in bodies:
            joints.append(b.joints)
            frames.append(b.stamp_ns)
    for b in estimator.flush():
        joints.append(b.joints)
        frames.append(b.stamp_ns)
    return torch.stack(joints), torch.tensor(frames), seconds


def evaluate_streaming(
    name: str,
    models,
    config: StreamingConfig,
    scenes: list[Scene],
    denoiser=None,
    sets_per_call: int = 1,
    progress: bool = True,
) -> StreamResult:
    """Score one estimator configuration over ``scenes`` (see module docstring)."""
    estimator = StreamingEstimator(models, config, denoiser)
    errs, pa, acc, secs, n = [], [], [], [], 0
    for scene in tqdm(scenes, desc=name, disable=not progress, leave=False):
        pred, frames, seconds = stream_scene(estimator, scene, sets_per_call)
        gt = camera_joints(scene)[frames, REFERENCE_VIEW]
        errs.append(1000 * mpjpe(pred, gt))
        pa.append(1000 * pa_mpjpe(pred, gt))
        contiguous = bool((frames.diff() == 1).all())
        if contiguous and len(frames) > 2:  # root-relative, as MPJPE
            acc.append(1000 * acceleration_error(pred - pred[:, :1], gt - gt[:, :1]))
        secs += seconds[1:]  # the first call pays one-off warm-up costs
        n += len(frames)
    ms = 1000 * np.asarray(secs) / sets_per_call
    return StreamResult(
        name,
        float(torch.cat(errs).mean()),
        float(torch.cat(pa).mean()),
        float(torch.cat(acc).mean()) if acc else float("nan"),
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 95)),
        n,
    )
