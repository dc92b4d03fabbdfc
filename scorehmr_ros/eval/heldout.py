"""Fixed held-out evaluation scenes and per-view regression on them (no ROS).

Every number reported for the regressor and ScoreHMR comes from these scenes: the four held-out
clips, each seen by a seeded random rig, with detector-like keypoint corruption. Same seeds,
same scenes, for every method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from scorehmr_ros.core.body_model import rotmat_to_pose6d
from scorehmr_ros.core.camera import world_to_camera
from scorehmr_ros.core.regressor import solve_translation
from scorehmr_ros.eval.metrics import mpjpe, pa_mpjpe
from scorehmr_ros.sim.mocap import heldout_clips, load_mocap
from scorehmr_ros.sim.scene import KeypointCorruption, Scene, make_scene


def heldout_scenes(
    body_model,
    num_views: int = 3,
    seed: int = 0,
    frame_stride: int = 1,
    max_frames: int | None = None,
    corruption: KeypointCorruption | None = None,
) -> list[Scene]:
    """One scene per held-out clip (sorted by name); scene i uses seed ``seed * 100 + i``."""
    clips = heldout_clips(load_mocap())
    scenes = []
    for i, name in enumerate(sorted(clips)):
        stop = None if max_frames is None else max_frames * frame_stride
        scenes.append(
            make_scene(
                body_model,
                clips[name],
                num_views,
                seed * 100 + i,
                frames=slice(0, stop, frame_stride),
                corruption=corruption or KeypointCorruption(),
            )
        )
    return scenes


def camera_joints(scene: Scene) -> torch.Tensor:
    """Ground-truth SMPL joints in each camera frame: (T, V, 24, 3)."""
    T, V = scene.num_frames, scene.num_views
    pts = scene.joints_world.reshape(1, T * 24, 3).expand(V, -1, -1)
    cam = world_to_camera(pts, scene.cameras.R, scene.cameras.t)
    return cam.reshape(V, T, 24, 3).transpose(0, 1)


@dataclass
class Regressed:
    """Per-view regression of a scene, flattened frame-major: index = t * V + v.

    x: (T*V, 144) pose 6D; rotations (T*V, 24, 3, 3); cond (T*V, C); betas (T*V, 10);
    transl (T*V, 3) camera-frame; seconds: wall time of the batched regression + translation solve.
    """

    x: torch.Tensor
    rotations: torch.Tensor
    cond: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    seconds: float


@torch.no_grad()
def regress_scene(body_model, regressor, scene: Scene) -> Regressed:
    T, V = scene.num_frames, scene.num_views
    kp = scene.keypoints2d.reshape(T * V, -1, 2)
    conf = scene.confidence.reshape(T * V, -1)
    K = scene.cameras.K.unsqueeze(0).expand(T, V, 3, 3).reshape(T * V, 3, 3)
    t0 = time.perf_counter()
    out = regressor(kp, conf, K)
    transl = solve_translation(body_model, out, kp, conf, K)
    seconds = time.perf_counter() - t0
    x = rotmat_to_pose6d(out.rotations).reshape(T * V, -1)
    return Regressed(x, out.rotations, out.features, out.betas, transl, seconds)


def joint_errors_mm(body_model, rotations, betas, scene: Scene) -> dict[str, torch.Tensor]:
    """MPJPE / PA-MPJPE (mm) per view-frame (T*V,) of camera-frame predictions vs ground truth."""
    pred = body_model.skeleton(rotations[:, 0], rotations[:, 1:], betas)
    gt = camera_joints(scene).reshape(-1, 24, 3)
    return {"mpjpe": 1000 * mpjpe(pred, gt), "pa_mpjpe": 1000 * pa_mpjpe(pred, gt)}
