"""Accuracy and cost of the node's causal estimator on the held-out scenes (no ROS).

Every held-out scene is streamed set by set through the public API (``Estimator.stream()``, which
the node's compute process runs); the published bodies are scored in the reference camera's frame
against the ground truth: MPJPE and PA-MPJPE (mm), acceleration error (mm/frame²) and the time
each call took. ``RefineConfig(iterations=0)`` gives the regressor + fusion baseline. The
calibrated comparison below (DLT vs one body per frame) reads ``core.streaming`` directly, for
the triangulation it keeps beside each body."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.api import Estimator, Stream, View
from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.presets import StreamingConfig
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.core.streaming import FusedBody, StreamingEstimator, ViewInput
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


def scene_views(scene: Scene, t: int) -> list[View]:
    """The synchronised set of frame ``t`` as the node hands it to the API (cameras cam1..camN)."""
    return [
        View(
            scene.cameras.K[v].numpy(),
            keypoints=scene.keypoints2d[t, v].numpy(),
            confidence=scene.confidence[t, v].numpy(),
            image_size=tuple(int(x) for x in scene.cameras.image_size[v]),
            camera=f"cam{v + 1}",
        )
        for v in range(scene.num_views)
    ]


def stream_scene(stream: Stream, scene: Scene, sets_per_call: int = 1):
    """Feed a scene through a public-API stream; returns predicted joints (T', 24, 3), their frame
    indices and per-call seconds.

    ``sets_per_call`` > 1 feeds that many consecutive sets per :meth:`Stream.push_many` call, as
    the node does when sets queue up behind a busy worker.
    """
    stream.reset()
    joints, frames, seconds = [], [], []
    T = scene.num_frames
    for start in range(0, T, sets_per_call):
        batch = [(t, scene_views(scene, t)) for t in range(start, min(T, start + sets_per_call))]
        t0 = time.perf_counter()
        bodies = stream.push_many(batch).bodies
        seconds.append(time.perf_counter() - t0)
        joints += [b.joints for b in bodies]
        frames += [b.stamp_ns for b in bodies]
    for b in stream.flush():
        joints.append(b.joints)
        frames.append(b.stamp_ns)
    return torch.as_tensor(np.stack(joints)), torch.tensor(frames), seconds


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
    stream = Estimator(models, config, denoiser).stream()
    errs, pa, acc, secs, n = [], [], [], [], 0
    for scene in tqdm(scenes, desc=name, disable=not progress, leave=False):
        pred, frames, seconds = stream_scene(stream, scene, sets_per_call)
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


# -- calibrated rigs: one body per frame in the fixed (world) frame vs DLT triangulation ----------
# The 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists): SMPL joint indices and the
# BlazePose-33 keypoints that sit on the same SMPL joints (core.keypoints maps them one to one).
LIMB_SMPL = tuple(JOINT_INDEX[name] for name in LIMB_KEYPOINT_NAMES)
LIMB_BLAZEPOSE = tuple(get_layout("blazepose33").keypoint_names.index(name) for name in LIMB_KEYPOINT_NAMES)


def calibrated_views(scene: Scene, t: int, reference: str = "world") -> list[ViewInput]:
    """Frame ``t`` of a scene as calibrated views: cam_to_ref maps each camera into the world frame."""
    views = []
    for v in range(scene.num_views):
        E = torch.eye(4)
        E[:3, :3], E[:3, 3] = scene.cameras.R[v], scene.cameras.t[v]
        views.append(
            ViewInput(
                f"cam{v + 1}",
                scene.keypoints2d[t, v].float(),
                scene.confidence[t, v].float(),
                scene.cameras.K[v].float(),
                scene.cameras.image_size[v].float(),
                torch.linalg.inv(E),
                reference,
            )
        )
    return views


@dataclass
class CalibratedResult:
    """Per-frame scores of one method on calibrated scenes (world frame), pooled over scenes.

    limb_mm: fixed-frame error of the 12 limb joints; pelvis_mm: pelvis (DLT: mid-hip) error;
    mpjpe_mm: root-aligned (24 joints; DLT: the 12 limb joints on the mid-hip); pa_mpjpe_mm likewise
    after Procrustes; per_clip: clip -> (limb mean, pelvis max) mm.
    """

    name: str
    limb_mm: list
    pelvis_mm: list
    mpjpe_mm: list
    pa_mpjpe_mm: list
    per_clip: dict
    set_ms: list

    def row(self) -> str:
        lm, pm = np.mean(self.limb_mm), np.max(self.pelvis_mm)
        clips = " / ".join(f"{v[0]:.0f}" for v in self.per_clip.values())
        return (
            f"| {self.name} | {lm:.1f} | {clips} | {np.median(self.pelvis_mm):.0f} | {pm:.0f} | "
            f"{np.mean(self.mpjpe_mm):.1f} | {np.mean(self.pa_mpjpe_mm):.1f} | "
            f"{np.percentile(self.set_ms, 50):.0f} | {len(self.limb_mm)} |"
        )


CALIBRATED_HEADER = (
    "| method | limb fixed-frame mm | per clip (sorted names) | pelvis median mm | pelvis max mm | "
    "root-aligned MPJPE mm | PA-MPJPE mm | ms/set p50 | frames |\n|---|---|---|---|---|---|---|---|---|"
)


def _mid_hip(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x[..., 23, :] + x[..., 24, :])


def triangulate_frame(scene: Scene, t: int) -> torch.Tensor:
    """Robust DLT of frame ``t``'s keypoints over every calibrated view: (33, 3) world, NaN where a
    keypoint was not triangulated."""
    from scorehmr_ros.core.triangulation import projection_matrices, triangulate

    views = calibrated_views(scene, t)
    P = projection_matrices(torch.stack([v.K for v in views]), torch.stack([v.cam_to_ref for v in views]))
    kp = torch.stack([v.keypoints for v in views])
    return triangulate(P, kp, torch.stack([v.confidence for v in views])).points


def stream_calibrated(
    models, config: StreamingConfig, scene: Scene, stride: int = 1, denoiser=None
) -> tuple[dict[int, FusedBody], list[float]]:
    """Stream a scene as a calibrated rig through a fresh ``StreamingEstimator``: ({frame: the
    published world-frame body}, ms per set). Stamps are ``scene.frame_interval_s`` apart (when the
    scene has none: the clip's frame interval x ``stride``). Bodies that become final later
    (``free_frames`` > 1) are collected, the rest by a final flush."""
    est = StreamingEstimator(models, config, denoiser)
    interval = scene.frame_interval_s or stride / scene.fps
    stamps = [round(t * interval * 1e9) for t in range(scene.num_frames)]
    published, set_ms = {}, []
    for t in range(scene.num_frames):
        views = calibrated_views(scene, t)
        t0 = time.perf_counter()
        published.update({b.stamp_ns: b for b in est.process(stamps[t], views)})
        set_ms.append(1000 * (time.perf_counter() - t0))
    published.update({b.stamp_ns: b for b in est.flush()})
    return {t: published[st] for t, st in enumerate(stamps) if st in published}, set_ms


def evaluate_calibrated(
    name: str, models, config: StreamingConfig | None, scenes: list[Scene], stride: int = 1, denoiser=None
) -> CalibratedResult:
    """Stream every scene as a calibrated rig (stamps from the clip's fps x ``stride``) and score the
    published bodies in the world frame; ``config`` None scores plain robust DLT triangulation."""
    res = CalibratedResult(name, [], [], [], [], {}, [])
    limb_s = list(LIMB_SMPL)
    limb_b = list(LIMB_BLAZEPOSE)
    for scene in scenes:
        is_body = config is not None
        limbs, pelv = [], []
        if config is None:
            preds = {}
            for t in range(scene.num_frames):
                t0 = time.perf_counter()
                preds[t] = triangulate_frame(scene, t).double()
                res.set_ms.append(1000 * (time.perf_counter() - t0))
        else:
            bodies, set_ms = stream_calibrated(models, config, scene, stride, denoiser)
            preds = {t: b.joints.double() for t, b in bodies.items()}
            res.set_ms += set_ms
        for t in range(scene.num_frames):
            pred = preds.get(t)
            gt_j = scene.joints_world[t].double()
            gt_k = scene.keypoints3d_world[t].double()
            if pred is None or not torch.isfinite(pred[limb_b if not is_body else limb_s]).all():
                if not is_body:  # a limb keypoint not triangulated: score the ones that were
                    ok = torch.isfinite(pred[limb_b]).all(-1)
                    if int(ok.sum()) < 4:
                        continue
                else:
                    continue
            if not is_body:
                ok = torch.isfinite(pred[limb_b]).all(-1)
                p, g = pred[limb_b][ok], gt_k[limb_b][ok]
                limb = (p - g).norm(dim=-1).mean()
                pel = (
                    (_mid_hip(pred) - _mid_hip(gt_k)).norm() if torch.isfinite(_mid_hip(pred)).all() else None
                )
                root_p, root_g = _mid_hip(pred), _mid_hip(gt_k)
                aligned_p, aligned_g = p - root_p, g - root_g
                pa = pa_mpjpe(p[None].float(), g[None].float())[0]
            else:
                limb = (pred[limb_s] - gt_j[limb_s]).norm(dim=-1).mean()
                pel = (pred[0] - gt_j[0]).norm()
                aligned_p, aligned_g = pred - pred[:1], gt_j - gt_j[:1]
                pa = pa_mpjpe(pred[None].float(), gt_j[None].float())[0]
            res.limb_mm.append(1000 * float(limb))
            limbs.append(1000 * float(limb))
            if pel is not None and torch.isfinite(pel):
                res.pelvis_mm.append(1000 * float(pel))
                pelv.append(1000 * float(pel))
            aligned = float((aligned_p - aligned_g).norm(dim=-1).mean())
            if aligned == aligned:  # DLT: NaN when a hip was not triangulated
                res.mpjpe_mm.append(1000 * aligned)
            res.pa_mpjpe_mm.append(1000 * float(pa))
        res.per_clip[scene.clip_name] = (
            float(np.mean(limbs)) if limbs else float("nan"),
            float(np.max(pelv)) if pelv else float("nan"),
        )
    return res
