"""``scorehmr-bench``: regressor vs SMPLify vs ScoreHMR on the held-out clips (no ROS).

    scorehmr-bench accuracy [--quick] [--out DIR] [--views 1 2 4] [--stride 2] [--max-frames 50]
    python -m scorehmr_ros.eval.bench accuracy --quick

(``speed`` lives in ``scripts/bench_speed.py``.)

Observation modes:

* ``clean`` / ``noisy`` / ``hard``: the held-out scenes (``eval.heldout.heldout_scenes``, seeded rigs
  of 1, 2 and 4 views) with exact projections (``CLEAN``), detector-like corruption
  (``KeypointCorruption()``: 3 px noise, 3 % outliers, 5 % missing) or a poor detector on hard
  footage (``HARD``: 10 px noise, 15 % outliers, 25 % missing, 10 % of sets left/right swapped,
  15 % without lower body).
* ``e2e``: MediaPipe BlazePose (video mode, one detector per view) on rendered images of a held-out
  clip (``sim.sequence.load_or_build``); undetected frames get confidence 0. The scene is rebuilt
  with the exact ``make_scene`` call the renderer used, so cameras and ground truth are identical.
  Detections are cached next to the rendered sequences (``$SCOREHMR_CACHE_DIR`` or
  ``~/.cache/scorehmr_ros``), never in the working directory.
* ``e2e-unusual``: the same on a rig unlike the training rigs (``sim.rigs.unusual_rig``: 5 cameras
  0.8-2.5 m high, one 1920x1080 wide-angle, one rolled by 90 degrees), including a clip of a person
  lying on and getting up from the floor. Only the detections are cached.

Methods (each on the same regressor estimate, keypoints, intrinsics, betas policy):
``regressor``; ``smplify-{single,multiview,temporal,combined}`` (``eval.smplify``);
``scorehmr-{single,multiview,temporal,combined}`` (``eval.variants.run_variant``). With one view the
multi-view and combined rows are skipped. Calibrated rigs (2+ views; the extrinsics are known):
``dlt`` (robust confidence-weighted DLT of the keypoints, ``core.triangulation``),
``smplify-calibrated`` (one world-frame body per frame fitted to every view,
``eval.smplify.run_smplify_calibrated``) and ``scorehmr-calibrated`` (the node's causal estimator
with the ``calibrated_preset``, frame by frame, ``eval.streaming.stream_calibrated``). A world-frame
body is scored in every camera frame for the camera-frame metrics.

Metrics, averaged over view-frames (each view-frame is a camera-frame estimate):
MPJPE / PA-MPJPE (mm) over the 24 SMPL joints (MPJPE pelvis-aligned) and over LSP-14 (:data:`LSP14`,
MPJPE aligned on the hip midpoint, as for H36M's 14-joint protocol); 2D error (px) of the projected
BlazePose keypoints vs the exact projections (inside the image); acceleration error (mm/frame², root
relative, per view sequence); wall time (ms per view-frame, ms per frame = all views of an instant,
s per call = one method on one scene, regression included); body-model evaluations (per-sample,
per view-frame; regression excluded) and denoiser calls (batched). Speed ratios
(ScoreHMR time / SMPLify time) are measured in the same run.
Fixed-frame errors (world frame, no alignment; camera-frame estimates are mapped with the known
extrinsics): MPJPE over the 24 joints, the 12 limb joints (``LIMB_KEYPOINT_NAMES``: the joints
where BlazePose keypoints sit, so DLT is scored on them) and the pelvis (DLT: hip midpoint of the
keypoints). DLT has no body: only its limb and pelvis errors are reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.core.camera import project
from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES
from scorehmr_ros.core.presets import VARIANT_SCHEDULES, get_preset
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.eval.heldout import camera_joints, heldout_scenes, regress_scene
from scorehmr_ros.eval.metrics import acceleration_error, pa_mpjpe, reprojection_error
from scorehmr_ros.eval.smplify import GMMPosePrior, SMPLifyConfig, run_smplify, run_smplify_calibrated
from scorehmr_ros.eval.streaming import LIMB_BLAZEPOSE, stream_calibrated, triangulate_frame
from scorehmr_ros.eval.variants import VariantResult, flat_cameras, run_variant
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.scene import CLEAN, HARD, KeypointCorruption, Scene, make_scene

# LSP-14 joints by SMPL joint name (LSP order). SMPL has no head-top: LSP "head top" -> SMPL ``head``
# (the head joint at the skull base), LSP "neck" -> SMPL ``neck``.
LSP14: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "neck",
    "head",
)
LSP14_INDEX = [JOINT_INDEX[n] for n in LSP14]
LIMB_INDEX = [JOINT_INDEX[n] for n in LIMB_KEYPOINT_NAMES]
VARIANT_NAMES = ("single", "multiview", "temporal", "combined")
CALIBRATED_METHODS = ("dlt", "smplify-calibrated", "scorehmr-calibrated")
SETTINGS = {"clean": CLEAN, "noisy": KeypointCorruption(), "hard": HARD}
E2E_SETTINGS = ("e2e", "e2e-unusual")
FIXED_KEYS = ("mpjpe_fixed", "limb_fixed", "pelvis")
METRIC_KEYS = ("mpjpe", "pa_mpjpe", "mpjpe_lsp", "pa_mpjpe_lsp", "err_2d", "accel", *FIXED_KEYS)
DLT_KEYS = ("limb_fixed", "pelvis")  # what DLT (no body) is scored on
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class BenchConfig:
    views: tuple[int, ...] = (1, 2, 4)
    settings: tuple[str, ...] = ("clean", "noisy", "hard")
    clips: tuple[str, ...] | None = None  # None = all held-out clips
    frame_stride: int = 2
    max_frames: int | None = 50
    seed: int = 0
    smplify: SMPLifyConfig = dataclasses.field(default_factory=SMPLifyConfig)
    scorehmr_iterations: dict[str, int] | None = None  # override K per variant (None = defaults)
    sweep_scorehmr_k: tuple[int, ...] = (1, 2, 5, 10)
    sweep_smplify_iters: tuple[int, ...] = (10, 30, 100)
    sweep_variants: tuple[str, ...] = ("single", "combined")
    e2e_clips: tuple[str, ...] = ("humanoid3d_dance_b", "humanoid3d_kick")
    e2e_frames: int = 20
    e2e_stride: int = 1
    e2e_views: int = 3
    unusual_clips: tuple[str, ...] = ("humanoid3d_getup_faceup", "humanoid3d_dance_b")
    unusual_views: int = 5
    calibrated: bool = True  # dlt / smplify-calibrated / scorehmr-calibrated rows on 2+ views
    calibrated_preset: str = "realtime"
    select_settings: bool = False  # True: the e2e settings run only when named in ``settings``
    denoiser_path: str | None = None  # None: the packaged prior
    model_complexity: int = 1  # BlazePose landmark model of the e2e settings (1: full, the wheel's)
    tile_fallback: bool = True  # e2e detection as the node's: tiles where the pose solution finds nobody
    # e2e detection's limbs, for every row: MoveNet (the node's "auto" in calibrated sets) or "none"
    limb_model: str = "movenet_thunder"
    threads: int = 1
    quick: bool = False


def quick_config() -> BenchConfig:
    return BenchConfig(
        views=(1, 2, 4),
        clips=("humanoid3d_run",),
        frame_stride=2,
        max_frames=8,
        smplify=SMPLifyConfig(camera_iters=50, body_iters=50),
        scorehmr_iterations={"single": 5, "multiview": 5},
        sweep_scorehmr_k=(1, 2, 5),
        sweep_smplify_iters=(10, 30, 50),
        sweep_variants=("combined",),
        e2e_clips=("humanoid3d_run",),
        e2e_frames=8,
        e2e_stride=2,
        e2e_views=2,
        unusual_clips=("humanoid3d_getup_faceup",),
        quick=True,
    )


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------
class CountingBodyModel:
    """Proxy around a ``BodyModel`` counting ``pose_keypoints`` calls (batched) and samples."""

    def __init__(self, body_model):
        self._bm = body_model
        self.calls = 0
        self.evals = 0

    def pose_keypoints(self, global_orient, *args, **kwargs):
        self.calls += 1
        self.evals += int(global_orient.shape[0])
        return self._bm.pose_keypoints(global_orient, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._bm, name)


def _mpjpe_aligned(pred: torch.Tensor, gt: torch.Tensor, root: torch.Tensor, root_gt: torch.Tensor):
    return ((pred - root.unsqueeze(1)) - (gt - root_gt.unsqueeze(1))).norm(dim=-1).mean(-1)


@torch.no_grad()
def sample_metrics(body_model, scene: Scene, rotations, betas, transl, valid=None) -> dict[str, torch.Tensor]:
    """Per view-frame metrics (T*V,) in mm / px, and per view-sequence acceleration errors.

    rotations (T*V, 24, 3, 3), betas (T*V, nb), transl (T*V, 3): camera-frame bodies, frame-major.
    valid (T*V,) bool: samples that hold an estimate (others score NaN, as do accelerations that
    touch them)."""
    T, V = scene.num_frames, scene.num_views
    pred = body_model.skeleton(rotations[:, 0], rotations[:, 1:], betas)
    gt = camera_joints(scene).reshape(T * V, 24, 3)
    out = {
        "mpjpe": 1000 * _mpjpe_aligned(pred, gt, pred[:, 0], gt[:, 0]),
        "pa_mpjpe": 1000 * pa_mpjpe(pred, gt),
    }
    lp, lg = pred[:, LSP14_INDEX], gt[:, LSP14_INDEX]
    hips = [LSP14.index("left_hip"), LSP14.index("right_hip")]
    out["mpjpe_lsp"] = 1000 * _mpjpe_aligned(lp, lg, lp[:, hips].mean(1), lg[:, hips].mean(1))
    out["pa_mpjpe_lsp"] = 1000 * pa_mpjpe(lp, lg)
    kp = body_model.pose_keypoints(rotations[:, 0], rotations[:, 1:], betas, transl)
    cams = flat_cameras(scene)
    uv = project(kp, cams.K)
    clean = scene.keypoints2d_clean.reshape(T * V, -1, 2)
    inside = ((clean >= 0) & (clean < cams.image_size.unsqueeze(1))).all(-1).float()
    out["err_2d"] = reprojection_error(uv, clean, inside)
    # Fixed (world) frame: X_world = R^T (X_cam - t), against the world ground truth.
    world = ((pred + transl.unsqueeze(1)) - cams.t.unsqueeze(1)) @ cams.R
    out.update(fixed_frame_errors(world, scene.joints_world.repeat_interleave(V, 0)))
    if valid is not None:
        for k in out:
            out[k] = torch.where(valid, out[k], torch.nan)
    if T > 2:
        rel = (pred - pred[:, :1]).reshape(T, V, 24, 3).transpose(0, 1)
        grel = (gt - gt[:, :1]).reshape(T, V, 24, 3).transpose(0, 1)
        out["accel"] = 1000 * torch.cat([acceleration_error(p, g) for p, g in zip(rel, grel, strict=True)])
        if valid is not None:
            ok = valid.reshape(T, V).transpose(0, 1)  # (V, T)
            ok = (ok[:, :-2] & ok[:, 1:-1] & ok[:, 2:]).reshape(-1)
            out["accel"] = torch.where(ok, out["accel"], torch.nan)
    else:
        out["accel"] = torch.full((0,), float("nan"))
    return out


def fixed_frame_errors(pred_world: torch.Tensor, gt_world: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N,) world-frame errors in mm, no alignment: all 24 joints, the 12 limb joints, the pelvis."""
    err = 1000 * (pred_world - gt_world).norm(dim=-1)  # (N, 24)
    return {"mpjpe_fixed": err.mean(-1), "limb_fixed": err[:, LIMB_INDEX].mean(-1), "pelvis": err[:, 0]}


@torch.no_grad()
def dlt_metrics(scene: Scene) -> tuple[dict[str, torch.Tensor], float]:
    """Robust DLT of every frame: ({key: (T,) mm}, seconds). limb_fixed: mean over the limb
    keypoints that were triangulated (NaN when fewer than 4); pelvis: hip midpoint of the
    keypoints vs the ground truth's; every other key NaN (no body)."""
    T = scene.num_frames
    out = {k: torch.full((T,), torch.nan) for k in METRIC_KEYS}
    seconds = 0.0
    hips = [LIMB_BLAZEPOSE[LIMB_KEYPOINT_NAMES.index(n)] for n in ("left_hip", "right_hip")]
    for t in range(T):
        t0 = time.perf_counter()
        pts = triangulate_frame(scene, t).double()
        seconds += time.perf_counter() - t0
        gt = scene.keypoints3d_world[t].double()
        limb = (pts[list(LIMB_BLAZEPOSE)] - gt[list(LIMB_BLAZEPOSE)]).norm(dim=-1)
        if int(torch.isfinite(limb).sum()) >= 4:
            out["limb_fixed"][t] = 1000 * limb[torch.isfinite(limb)].mean()
        out["pelvis"][t] = 1000 * (pts[hips].mean(0) - gt[hips].mean(0)).norm()
    return out, seconds


@torch.no_grad()
def world_bodies_in_views(body_model, scene: Scene, rotations, betas, transl) -> tuple:
    """World-frame bodies (T, 24, 3, 3) / (T, nb) / (T, 3) seen from every camera: the same bodies
    as camera-frame parameters (T*V, ...), frame-major. The root rotates about the rest pelvis j0,
    so ``transl_cam = R (j0 + transl) + t - j0``."""
    T, V = scene.num_frames, scene.num_views
    R, t = scene.cameras.R.float(), scene.cameras.t.float()
    rot = rotations.float().unsqueeze(1).expand(T, V, 24, 3, 3).clone()
    rot[:, :, 0] = R @ rot[:, :, 0]
    j0 = body_model.skeleton(rotations[:, 0].float(), rotations[:, 1:].float(), betas.float())[:, 0]
    tr = torch.einsum("vij,tj->tvi", R, j0 + transl.float()) + t - j0.unsqueeze(1)
    return rot.reshape(T * V, 24, 3, 3), betas.float().repeat_interleave(V, 0), tr.reshape(T * V, 3)


def _mean(x: torch.Tensor) -> float:
    x = x[torch.isfinite(x)]
    return float(x.mean()) if x.numel() else float("nan")


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------
def method_names(num_views: int) -> list[str]:
    variants = [v for v in VARIANT_NAMES if num_views > 1 or v not in ("multiview", "combined")]
    return ["regressor"] + [f"{fam}-{v}" for fam in ("smplify", "scorehmr") for v in variants]


def calibrated_method_names(num_views: int, cfg: BenchConfig) -> list[str]:
    """The calibrated-rig rows (module docstring): only with 2+ views and ``cfg.calibrated``."""
    return list(CALIBRATED_METHODS) if cfg.calibrated and num_views > 1 else []


def scorehmr_config(variant: str, cfg: BenchConfig, iterations: int | None = None):
    conf = VARIANT_SCHEDULES[variant]
    k = iterations if iterations is not None else (cfg.scorehmr_iterations or {}).get(variant)
    return conf if k is None else dataclasses.replace(conf, iterations=int(k))


def run_method(models, prior, scene, reg, method: str, cfg: BenchConfig, *, iterations: int | None = None):
    """(result, body_calls, body_evals) of ``method`` on ``scene`` from the regression ``reg``."""
    if method == "regressor":
        return run_variant(models, scene, reg, "regressor"), 0, 0
    if method == "smplify-calibrated":
        fit = run_smplify_calibrated(models.body_model, scene, reg, cfg.smplify, prior)
        bodies = world_bodies_in_views(models.body_model, scene, fit.rotations, fit.betas, fit.transl)
        return VariantResult(*bodies, fit.seconds), fit.body_calls, fit.body_evals
    if method == "scorehmr-calibrated":
        return run_scorehmr_calibrated(models, scene, cfg), math.nan, math.nan
    family, variant = method.split("-", 1)
    if family == "smplify":
        sc = cfg.smplify if iterations is None else dataclasses.replace(cfg.smplify, body_iters=iterations)
        res = run_smplify(models.body_model, scene, reg, variant, sc, prior)
        return res, res.body_calls, res.body_evals
    counter = CountingBodyModel(models.body_model)
    res = run_variant(
        dataclasses.replace(models, body_model=counter),
        scene,
        reg,
        variant,
        scorehmr_config(variant, cfg, iterations),
    )
    return res, counter.calls, counter.evals


def run_scorehmr_calibrated(models, scene: Scene, cfg: BenchConfig) -> VariantResult:
    """The node's causal estimator (``cfg.calibrated_preset``) on the scene as a calibrated rig,
    its world-frame bodies seen from every camera; frames without a body are marked invalid.
    ``seconds``: the estimator's wall time over all sets (regression included); its body-model
    and denoiser counts are not instrumented (NaN)."""
    T, V = scene.num_frames, scene.num_views
    bodies, set_ms = stream_calibrated(models, get_preset(cfg.calibrated_preset), scene)
    rot = torch.eye(3).expand(T, 24, 3, 3).clone()
    betas = torch.zeros(T, models.body_model.num_betas)
    transl = torch.zeros(T, 3)
    for t, b in bodies.items():
        rot[t], betas[t], transl[t] = b.rotations.float(), b.betas.float(), b.transl.float()
    valid = torch.zeros(T, dtype=torch.bool)
    valid[list(bodies)] = True
    cam_bodies = world_bodies_in_views(models.body_model, scene, rot, betas, transl)
    return VariantResult(*cam_bodies, sum(set_ms) / 1000, math.nan, valid.repeat_interleave(V))


# --------------------------------------------------------------------------------------------
# End-to-end observations (MediaPipe on renders)
# --------------------------------------------------------------------------------------------
def detection_cache_dir() -> Path:
    from scorehmr_ros.sim.sequence import default_cache_dir

    return default_cache_dir().parent / "bench_detections"


def e2e_render_seeds(cfg: BenchConfig) -> dict[str, int]:
    """Render seed of each end-to-end clip."""
    return {c: 1000 + cfg.seed * 100 + i for i, c in enumerate(cfg.e2e_clips)}


def _render_scene(body_model, clip, views: int, seed: int, cfg: BenchConfig, **kwargs) -> Scene:
    """The exact (uncorrupted) scene of the clip's first ``cfg.e2e_frames`` frames at
    ``cfg.e2e_stride`` that the end-to-end settings render; kwargs go to ``make_scene``."""
    stop = min(clip.num_frames, cfg.e2e_frames * cfg.e2e_stride)
    frames = slice(0, stop, cfg.e2e_stride)
    return make_scene(
        body_model, clip, views, seed, frames=frames, corruption=CLEAN, occlusion=False, **kwargs
    )


def e2e_scene(body_model, clip_name: str, cfg: BenchConfig, seed: int, log=None):
    """(scene with MediaPipe keypoints, rendered images (T, V, H, W, 3))."""
    from scorehmr_ros.sim.mocap import load_mocap
    from scorehmr_ros.sim.sequence import cache_key, load_or_build

    seq = load_or_build(clip_name, cfg.e2e_views, seed, cfg.e2e_frames, cfg.e2e_stride, log=log)
    scene = _render_scene(
        body_model, load_mocap()[clip_name], cfg.e2e_views, seed, cfg,
        camera_kwargs={"image_size": tuple(seq.image_size)},
    )  # fmt: skip
    if not np.allclose(scene.cameras.K.numpy(), seq.K, atol=1e-3):
        raise RuntimeError("rebuilt scene does not match the rendered sequence's cameras")
    key = cache_key(clip_name, cfg.e2e_views, seed, cfg.e2e_frames, cfg.e2e_stride, seq.image_size)
    path = detection_cache_dir() / f"{clip_name}_v{cfg.e2e_views}_s{seed}_{key}{_model_tag(cfg)}_mp.npz"
    if path.is_file():
        with np.load(path) as z:
            xy, conf = z["xy"], z["confidence"]
    else:
        T, V = seq.num_frames, seq.num_views
        xy = np.zeros((T, V, 33, 2), np.float32)
        conf = np.zeros((T, V, 33), np.float32)
        for v in range(V):
            with _stream_detector(cfg) as det:
                for t in range(T):
                    d = det.detect(seq.images[t, v])
                    if d is not None:
                        xy[t, v], conf[t, v] = d.xy, d.confidence
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, xy=xy, confidence=conf)
        os.replace(tmp, path)
    scene = dataclasses.replace(
        scene, keypoints2d=torch.from_numpy(xy).float(), confidence=torch.from_numpy(conf).float()
    )
    return scene, seq.images


def _stream_detector(cfg: BenchConfig):
    """One camera stream's detector, as the node builds it for one person (video mode; with
    ``cfg.tile_fallback``, tiles where MediaPipe's pose solution finds nobody)."""
    from scorehmr_ros.core.fallback_detector import single_person_detector

    return single_person_detector(
        model_complexity=cfg.model_complexity, tile_fallback=cfg.tile_fallback, limb_model=cfg.limb_model
    )


def _model_tag(cfg: BenchConfig) -> str:
    """Detection cache name part of a landmark model other than the default (full) one, and of
    the tile fallback (caches written before it existed hold the pose solution's results alone;
    ``_tf`` ones, the fallback before it tracked its person)."""
    tag = "" if cfg.model_complexity == 1 else f"_mc{cfg.model_complexity}"
    tag += "_tft" if cfg.tile_fallback else ""
    if cfg.limb_model == "none":
        return tag
    from scorehmr_ros.core.limb_model import CROP_VERSION

    return tag + f"_{cfg.limb_model}" + ("" if CROP_VERSION == 1 else f"_crop{CROP_VERSION}")


UNUSUAL_RIG_VERSION = 1  # bump when sim.rigs.unusual_rig or the rendering changes


def unusual_render_seeds(cfg: BenchConfig) -> dict[str, int]:
    """Render seed of each unusual-rig clip."""
    return {c: 2000 + cfg.seed * 100 + i for i, c in enumerate(cfg.unusual_clips)}


def unusual_scene(body_model, clip_name: str, cfg: BenchConfig, seed: int) -> Scene:
    """``clip_name`` seen by ``sim.rigs.unusual_rig`` (``cfg.unusual_views`` cameras, mixed image
    sizes), rendered frame by frame and detected by MediaPipe (video mode, one detector per view);
    the scene's keypoints are the detections (confidence 0 where nothing was found). Detections are
    cached like ``e2e_scene``'s; images are not kept."""
    from scorehmr_ros.core.camera import world_to_camera
    from scorehmr_ros.sim.mocap import load_mocap
    from scorehmr_ros.sim.rigs import unusual_rig
    from scorehmr_ros.sim.scene import scene_vertices
    from scorehmr_ros.viz.render import HAIR, body_face_colors, render_mesh

    scene = _render_scene(body_model, load_mocap()[clip_name], cfg.unusual_views, seed, cfg, rig=unusual_rig)
    T, V = scene.num_frames, scene.num_views
    tag = _model_tag(cfg)
    name = f"{clip_name}_unusual{UNUSUAL_RIG_VERSION}_v{V}_s{seed}_n{T}_k{cfg.e2e_stride}{tag}_mp.npz"
    path = detection_cache_dir() / name
    if path.is_file():
        with np.load(path) as z:
            xy, conf = z["xy"], z["confidence"]
    else:
        xy = np.zeros((T, V, 33, 2), np.float32)
        conf = np.zeros((T, V, 33), np.float32)
        colors = body_face_colors(body_model, hair=HAIR)
        faces = np.asarray(body_model.faces, np.int64)
        cams = scene.cameras
        detectors = [_stream_detector(cfg) for _ in range(V)]
        try:
            for t in tqdm(range(T), desc=f"render+detect {clip_name} (unusual rig)", file=sys.stdout):
                verts = scene_vertices(body_model, scene, t)
                for v in range(V):
                    cam = world_to_camera(verts, cams.R[v : v + 1], cams.t[v : v + 1])[0]
                    size = tuple(int(x) for x in cams.image_size[v])
                    d = detectors[v].detect(render_mesh(cam, faces, cams.K[v], size, color=colors))
                    if d is not None:
                        xy[t, v], conf[t, v] = d.xy, d.confidence
        finally:
            for det in detectors:
                det.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, xy=xy, confidence=conf)
        os.replace(tmp, path)
    return dataclasses.replace(
        scene, keypoints2d=torch.from_numpy(xy).float(), confidence=torch.from_numpy(conf).float()
    )


# --------------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------------
def git_revision() -> str:
    """``git describe --always --dirty`` of this checkout (kept for older readers of the report)."""
    return provenance()["git_describe"]


def _jsonable(x):
    if dataclasses.is_dataclass(x):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _scene_jobs(models, cfg: BenchConfig):
    """(setting, views, scene, images or None) for every evaluated scene."""
    for setting in [x for x in cfg.settings if x in SETTINGS]:
        for V in cfg.views:
            scenes = heldout_scenes(
                models.body_model, V, cfg.seed, cfg.frame_stride, cfg.max_frames, SETTINGS[setting]
            )
            for s in scenes:
                if cfg.clips is None or s.clip_name in cfg.clips:
                    yield setting, V, s, None
    if "e2e" in cfg.settings or not cfg.select_settings:
        for clip, seed in e2e_render_seeds(cfg).items():
            yield "e2e", cfg.e2e_views, clip, seed
    if "e2e-unusual" in cfg.settings or not cfg.select_settings:
        for clip, seed in unusual_render_seeds(cfg).items():
            yield "e2e-unusual", cfg.unusual_views, clip, seed


def run_accuracy(cfg: BenchConfig, out: Path) -> dict:
    from scorehmr_ros.core.models import ScoreHMRModels

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    models = ScoreHMRModels.load(denoiser_path=cfg.denoiser_path)
    prior = GMMPosePrior.load()
    jobs = list(_scene_jobs(models, cfg))
    acc: dict = defaultdict(lambda: defaultdict(list))  # (setting, V, method) -> key -> list
    per_clip: dict = defaultdict(dict)
    sweeps: list[dict] = []
    overlay = None
    t_start = time.time()
    bar = tqdm(jobs, desc="scenes", file=sys.stdout)
    for setting, V, scene, e2e_seed in bar:
        images = None
        if setting == "e2e":
            scene, images = e2e_scene(models.body_model, scene, cfg, e2e_seed)
        elif setting == "e2e-unusual":
            scene = unusual_scene(models.body_model, scene, cfg, e2e_seed)
        bar.set_postfix_str(f"{setting} {V}v {scene.clip_name}")
        reg = regress_scene(models.body_model, models.regressor, scene)
        n = scene.num_frames * scene.num_views
        results = {}
        for method in method_names(V) + calibrated_method_names(V, cfg):
            if method == "dlt":
                m, seconds = dlt_metrics(scene)
                calls = evals = denoiser_calls = math.nan
                missing = 0
            else:
                res, calls, evals = run_method(models, prior, scene, reg, method, cfg)
                results[method] = res
                m = sample_metrics(models.body_model, scene, res.rotations, res.betas, res.transl, res.valid)
                seconds, denoiser_calls = res.seconds, getattr(res, "denoiser_calls", 0)
                missing = 0 if res.valid is None else int((~res.valid).sum()) // V
            a = acc[(setting, V, method)]
            for k in METRIC_KEYS:
                a[k].append(m[k])
            a["seconds"].append(seconds)
            a["samples"].append(n)
            a["frames"].append(scene.num_frames)
            a["frames_without_estimate"].append(missing)
            a["body_calls"].append(calls)
            a["body_evals"].append(evals)
            a["denoiser_calls"].append(denoiser_calls)
            per_clip[(setting, V, method)][scene.clip_name] = {k: _mean(m[k]) for k in METRIC_KEYS}
        if images is not None and overlay is None:
            overlay = (scene, images, results)
        # Accuracy vs time sweeps: largest rig, noisy keypoints (e2e in quick runs without noisy).
        sweep_setting = "noisy" if "noisy" in cfg.settings else cfg.settings[-1]
        if setting == sweep_setting and V == max(cfg.views):
            for variant in cfg.sweep_variants:
                for fam, values in (("scorehmr", cfg.sweep_scorehmr_k), ("smplify", cfg.sweep_smplify_iters)):
                    for it in values:
                        res, _, evals = run_method(
                            models, prior, scene, reg, f"{fam}-{variant}", cfg, iterations=it
                        )
                        m = sample_metrics(models.body_model, scene, res.rotations, res.betas, res.transl)
                        sweeps.append(
                            {
                                "method": f"{fam}-{variant}",
                                "iterations": it,
                                "clip": scene.clip_name,
                                "samples": n,
                                "seconds": res.seconds,
                                "body_evals": evals,
                                **{k: _mean(m[k]) for k in METRIC_KEYS},
                            }
                        )
    rows = []
    samples: dict = {}
    for (setting, V, method), a in acc.items():
        cat = {k: torch.cat(a[k]) for k in METRIC_KEYS}
        samples[(setting, V, method)] = cat
        nsamp, nframes, secs = sum(a["samples"]), sum(a["frames"]), sum(a["seconds"])
        rows.append(
            {
                "setting": setting,
                "views": V,
                "method": method,
                **{k: _mean(cat[k]) for k in METRIC_KEYS},
                "ms_per_view_frame": 1000 * secs / nsamp,
                "ms_per_frame": 1000 * secs / nframes,
                "s_per_call": secs / len(a["seconds"]),
                "calls": len(a["seconds"]),
                "view_frames": nsamp,
                "body_evals_per_view_frame": sum(a["body_evals"]) / nsamp,
                "body_calls_per_call": sum(a["body_calls"]) / len(a["seconds"]),
                "denoiser_calls_per_call": sum(a["denoiser_calls"]) / len(a["seconds"]),
                "frames_without_estimate": sum(a["frames_without_estimate"]),
                "pelvis_max": float(np.nanmax(cat["pelvis"].numpy())) if cat["pelvis"].numel() else math.nan,
                "per_clip": per_clip[(setting, V, method)],
            }
        )
    by_key = {(r["setting"], r["views"], r["method"]): r for r in rows}
    ratios = []
    for (setting, V, method), r in by_key.items():
        if method.startswith("scorehmr-"):
            ref = by_key.get((setting, V, "smplify-" + method.split("-", 1)[1]))
            if ref:
                ratios.append(
                    {
                        "setting": setting,
                        "views": V,
                        "variant": method.split("-", 1)[1],
                        "time_ratio_scorehmr_over_smplify": r["s_per_call"] / ref["s_per_call"],
                    }
                )
    for r in rows:
        ref = by_key.get((r["setting"], r["views"], "smplify-" + r["method"].split("-", 1)[-1]))
        r["time_vs_smplify"] = r["s_per_call"] / ref["s_per_call"] if ref else float("nan")
    report = {
        "config": _jsonable(cfg),
        "git_revision": git_revision(),
        "provenance": provenance(),
        "seeds": {
            "heldout_scene_seed": f"seed*100 + clip index (seed={cfg.seed})",
            "e2e_render_seeds": e2e_render_seeds(cfg),
            "torch_manual_seed": cfg.seed,
        },
        "lsp14_joints": list(LSP14),
        "corruption": {k: dataclasses.asdict(v) for k, v in SETTINGS.items()},
        "rows": rows,
        "speed_ratios": ratios,
        "sweeps": sweeps,
        "wall_seconds": time.time() - t_start,
        "torch_threads": torch.get_num_threads(),
    }
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    (out / "bench_accuracy.md").write_text(table + "\n")
    (out / "bench_accuracy.json").write_text(json.dumps(_jsonable(report), indent=1) + "\n")
    print(table)
    plot_cdf(samples, out / "bench_cdf.png")
    plot_per_clip(rows, out / "bench_per_clip.png")
    plot_sweeps(sweeps, out / "bench_accuracy_vs_time.png")
    if overlay is not None:
        plot_overlay(models.body_model, *overlay, out / "bench_overlay.png")
    print(f"wrote {out}/bench_accuracy.{{md,json}} and PNGs in {time.time() - t_start:.0f} s")
    return report


def _fmt(x, spec: str = ".1f", suffix: str = "") -> str:
    return f"{x:{spec}}{suffix}" if x is not None and math.isfinite(x) else ""


def markdown_table(rows: list[dict]) -> str:
    head = (
        "| obs. | views | method | MPJPE | PA-MPJPE | MPJPE LSP14 | PA-MPJPE LSP14 | fixed MPJPE "
        "| fixed limbs | pelvis | pelvis max | 2D (px) | accel | ms/view-frame | s/call | time / SMPLify "
        "| body evals/view-frame | denoiser calls/call |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        ratio = r["time_vs_smplify"] if r["method"].startswith("scorehmr-") else float("nan")
        cells = [r["setting"], str(r["views"]), r["method"]]
        cells += [_fmt(r[k]) for k in ("mpjpe", "pa_mpjpe", "mpjpe_lsp", "pa_mpjpe_lsp", *FIXED_KEYS)]
        cells += [_fmt(r["pelvis_max"], ".0f"), _fmt(r["err_2d"]), _fmt(r["accel"])]
        cells += [_fmt(r["ms_per_view_frame"]), _fmt(r["s_per_call"], ".2f"), _fmt(ratio, ".2f", "x")]
        cells += [_fmt(r["body_evals_per_view_frame"], ".0f"), _fmt(r["denoiser_calls_per_call"], ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return (
        "Errors in mm (2D in px, accel in mm/frame²); MPJPE pelvis-aligned (LSP14: hip midpoint); "
        "fixed = world frame, no alignment (limbs: the 12 limb joints; pelvis: mean and worst frame). "
        "Blank: not applicable (DLT has no body) or not instrumented.\n\n" + "\n".join(lines)
    )


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _style(method: str):
    colors = {"single": "tab:blue", "multiview": "tab:green", "temporal": "tab:orange", "combined": "tab:red",
              "calibrated": "tab:purple"}  # fmt: skip
    if method == "regressor":
        return {"color": "black", "linestyle": ":"}
    if method == "dlt":
        return {"color": "tab:brown", "linestyle": "-."}
    fam, v = method.split("-", 1)
    return {"color": colors[v], "linestyle": "--" if fam == "smplify" else "-"}


def plot_cdf(samples: dict, path: Path) -> None:
    plt = _plt()
    panels = sorted(
        {(s, v) for s, v, _ in samples}, key=lambda k: [*SETTINGS, *E2E_SETTINGS].index(k[0]) * 10 + k[1]
    )
    panels = [p for p in panels if p[1] == max(v for s, v in panels if s == p[0])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (setting, V) in zip(axes[0], panels, strict=True):
        for (s, v, method), m in samples.items():
            if (s, v) != (setting, V):
                continue
            e = np.sort(m["mpjpe"].numpy())
            e = e[np.isfinite(e)]
            if not len(e):  # DLT: no body, no root-aligned MPJPE
                continue
            ax.plot(e, np.arange(1, len(e) + 1) / len(e), label=method, lw=1.6, **_style(method))
        ax.set_title(f"{setting}, {V} views")
        ax.set_xlabel("MPJPE per view-frame (mm)")
        ax.set_ylabel("fraction ≤ x")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Error CDFs (solid: ScoreHMR, dashed: SMPLify, dotted: regressor)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_clip(rows: list[dict], path: Path) -> None:
    plt = _plt()
    settings = [s for s in [*SETTINGS, *E2E_SETTINGS] if any(r["setting"] == s for r in rows)]
    fig, axes = plt.subplots(len(settings), 1, figsize=(11, 3.6 * len(settings)), squeeze=False)
    for ax, setting in zip(axes[:, 0], settings, strict=True):
        V = max(r["views"] for r in rows if r["setting"] == setting)
        sel = [r for r in rows if r["setting"] == setting and r["views"] == V]
        clips = sorted({c for r in sel for c in r["per_clip"]})
        width = 0.8 / len(sel)
        for i, r in enumerate(sel):
            vals = [r["per_clip"].get(c, {}).get("mpjpe", np.nan) for c in clips]
            st = _style(r["method"])
            ax.bar(
                np.arange(len(clips)) + i * width - 0.4 + width / 2,
                vals,
                width,
                label=r["method"],
                color=st["color"],
                hatch="//" if st["linestyle"] == "--" else None,
                edgecolor="white" if st["linestyle"] != ":" else "black",
                alpha=0.9 if r["method"] != "regressor" else 0.4,
            )
        ax.set_xticks(np.arange(len(clips)), [c.replace("humanoid3d_", "") for c in clips])
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title(f"{setting}, {V} views (hatched: SMPLify, plain: ScoreHMR, grey: regressor)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweeps(sweeps: list[dict], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for method in sorted({s["method"] for s in sweeps}):
        pts = [s for s in sweeps if s["method"] == method]
        its = sorted({s["iterations"] for s in pts})
        xs, ys, ps = [], [], []
        for it in its:
            sel = [s for s in pts if s["iterations"] == it]
            n = sum(s["samples"] for s in sel)
            xs.append(1000 * sum(s["seconds"] for s in sel) / n)
            ys.append(sum(s["mpjpe"] * s["samples"] for s in sel) / n)
            ps.append(sum(s["pa_mpjpe"] * s["samples"] for s in sel) / n)
        for ax, y in zip(axes, (ys, ps), strict=True):
            marker = "s" if method.startswith("smplify") else "o"
            ax.plot(xs, y, marker=marker, label=method, **_style(method))
            prefix, dy = ("K=", 4) if method.startswith("scorehmr") else ("it=", -10)
            for x, yy, it in zip(xs, y, its, strict=True):
                ax.annotate(f"{prefix}{it}", (x, yy), fontsize=7, xytext=(4, dy), textcoords="offset points")
    for ax, name in zip(axes, ("MPJPE (mm)", "PA-MPJPE (mm)"), strict=True):
        ax.set_xlim(left=0)
        ax.set_xlabel("wall time per view-frame (ms)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("Accuracy vs time (ScoreHMR: iterations K; SMPLify: stage-2 iterations)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def plot_overlay(body_model, scene: Scene, images: np.ndarray, results: dict, path: Path) -> None:
    """Rows = views; columns = MediaPipe detections, regressor init, SMPLify, ScoreHMR, ground truth."""
    import cv2

    from scorehmr_ros.viz.render import draw_keypoints

    plt = _plt()
    T, V = scene.num_frames, scene.num_views
    t = T // 2
    pick = "combined" if "scorehmr-combined" in results else "temporal"
    columns = [("MediaPipe", None), ("regressor (init)", "regressor"), (f"SMPLify-{pick}", f"smplify-{pick}"),
               (f"ScoreHMR-{pick}", f"scorehmr-{pick}"), ("ground truth", "gt")]  # fmt: skip
    cams = flat_cameras(scene)
    idx = torch.arange(V) + t * V
    # Crop every view to the ground-truth keypoints' box (+ margin) so the skeletons are readable.
    gt = scene.keypoints2d_clean[t].numpy()
    H, W = images.shape[2:4]
    lo, hi = gt.min(1), gt.max(1)
    half = 0.5 * (hi - lo).max(1) * 1.25 + 20
    mid = 0.5 * (lo + hi)
    x0 = np.clip(mid[:, 0] - half, 0, W).astype(int)
    x1 = np.clip(mid[:, 0] + half, 0, W).astype(int)
    y0 = np.clip(mid[:, 1] - half, 0, H).astype(int)
    y1 = np.clip(mid[:, 1] + half, 0, H).astype(int)
    fig, axes = plt.subplots(V, len(columns), figsize=(2.8 * len(columns), 3.0 * V), squeeze=False)
    for c, (title, key) in enumerate(columns):
        if key is None:
            uv, conf = scene.keypoints2d[t], scene.confidence[t]
        elif key == "gt":
            uv, conf = scene.keypoints2d_clean[t], None
        else:
            r = results[key]
            kp = body_model.pose_keypoints(
                r.rotations[idx, 0], r.rotations[idx, 1:], r.betas[idx], r.transl[idx]
            )
            uv, conf = project(kp, cams.K[idx]), None
        for v in range(V):
            img = draw_keypoints(images[t, v], uv[v], None if conf is None else conf[v], thickness=2)
            if key not in (None, "gt"):
                gt_img = draw_keypoints(
                    img, scene.keypoints2d_clean[t, v], None, color=(255, 255, 255), thickness=1
                )
                img = cv2.addWeighted(img, 0.75, gt_img, 0.25, 0)
            ax = axes[v][c]
            ax.imshow(img[y0[v] : y1[v], x0[v] : x1[v]])
            ax.set_xticks([])
            ax.set_yticks([])
            if v == 0:
                ax.set_title(title, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"view {v + 1}")
    fig.suptitle(
        f"{scene.clip_name}, frame {t}: keypoints projected (faint white: ground truth)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scorehmr-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("accuracy", help="regressor vs SMPLify vs ScoreHMR on the held-out clips")
    p.add_argument("--quick", action="store_true", help="tiny slice, fewer iterations (≤ 2 min)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "eval")
    p.add_argument("--views", type=int, nargs="+", help="rig sizes (default 1 2 4)")
    p.add_argument("--stride", type=int, help="frame stride on the held-out clips (default 2)")
    p.add_argument("--max-frames", type=int, help="frames per clip after striding (default 50; 0 = all)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (default 1)")
    p.add_argument(
        "--settings", nargs="+", choices=[*SETTINGS, *E2E_SETTINGS], help="only these (default: all)"
    )
    p.add_argument("--no-sweeps", action="store_true", help="skip the accuracy-vs-time sweeps")
    p.add_argument("--denoiser", help="prior weights to use instead of the packaged ones (experiments)")
    p.add_argument(
        "--iterations", nargs="+", metavar="VARIANT=K", type=_variant_iterations,
        help="experiments: cap K of these ScoreHMR variants' schedules (e.g. multiview=20)",
    )  # fmt: skip
    p.add_argument(
        "--e2e-clips", nargs="+", metavar="CLIP",
        help="held-out clips of the 3-camera end-to-end setting (default: dance_b and kick; 'all')",
    )  # fmt: skip
    p.add_argument(
        "--model-complexity", type=int, choices=(0, 1, 2), default=1,
        help="BlazePose landmark model of the e2e settings (2 = heavy: scripts/fetch_pose_models.sh)",
    )  # fmt: skip
    p.add_argument(
        "--no-tile-fallback", action="store_true",
        help="e2e detection by MediaPipe's pose solution alone (the node adds tiles where it finds nobody)",
    )  # fmt: skip
    p.add_argument(
        "--limb-model", default="movenet_thunder", choices=("movenet_thunder", "none"),
        help="e2e detection's limb keypoints: MoveNet (the node's default) or BlazePose's alone",
    )  # fmt: skip
    sub.add_parser("speed", help="see scripts/bench_speed.py")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["speed"]:  # implemented in scripts/bench_speed.py; forward its arguments
        script = REPO / "scripts" / "bench_speed.py"
        if not script.is_file():
            parser.error(f"speed benchmark not available ({script} missing)")
        sys.exit(subprocess.call([sys.executable, str(script), *argv[1:]]))
    args = parser.parse_args(argv)
    cfg = quick_config() if args.quick else BenchConfig()
    if args.views:
        cfg.views = tuple(args.views)
    if args.stride:
        cfg.frame_stride = args.stride
    if args.max_frames is not None:
        cfg.max_frames = args.max_frames or None
    if args.seed is not None:
        cfg.seed = args.seed
    if args.settings:
        cfg.settings, cfg.select_settings = tuple(args.settings), True
    if args.denoiser:
        cfg.denoiser_path = args.denoiser
    if args.no_sweeps:
        cfg.sweep_variants = ()
    if args.threads:
        cfg.threads = args.threads
    if args.e2e_clips:
        cfg.e2e_clips = _e2e_clip_names(args.e2e_clips, parser)
    cfg.model_complexity = args.model_complexity
    cfg.tile_fallback = not args.no_tile_fallback
    cfg.limb_model = args.limb_model
    if args.iterations:
        cfg.scorehmr_iterations = {**(cfg.scorehmr_iterations or {}), **dict(args.iterations)}
    run_accuracy(cfg, args.out)


def _variant_iterations(text: str) -> tuple[str, int]:
    """``--iterations`` item ``variant=K`` -> (variant, K)."""
    name, _, k = text.partition("=")
    if name not in VARIANT_NAMES or not k.isdigit() or int(k) < 1:
        raise argparse.ArgumentTypeError(
            f"expected VARIANT=K with VARIANT in {VARIANT_NAMES}, K >= 1: {text!r}"
        )
    return name, int(k)


def all_e2e_clips() -> tuple[str, ...]:
    """Every held-out clip, the default end-to-end ones first (so their render seeds and rigs stay
    those of the default run)."""
    from scorehmr_ros.sim.mocap import heldout_clips, load_mocap

    default = BenchConfig().e2e_clips
    return tuple(default) + tuple(c for c in sorted(heldout_clips(load_mocap())) if c not in default)


def _e2e_clip_names(names: list[str], parser: argparse.ArgumentParser) -> tuple[str, ...]:
    """``--e2e-clips``: held-out clip names (``all``: the default ones first, so their render seeds
    and rigs stay those of the default run, then the other held-out clips)."""
    from scorehmr_ros.sim.mocap import heldout_clips, load_mocap

    if names == ["all"]:
        return all_e2e_clips()
    known = sorted(heldout_clips(load_mocap()))
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"--e2e-clips: not held-out clips: {unknown}; known: {known}")
    return tuple(names)


if __name__ == "__main__":
    main()
