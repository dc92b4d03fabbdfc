"""Rendered multi-camera sequences of a mocap clip, with ground truth, cached as ``.npz``.

:func:`build_sequence` drives the body model with a (by default held-out) mocap clip, places a random
rig of ``num_views`` cameras around it (:func:`scorehmr_ros.sim.scene.make_scene`) and renders every
frame in every camera (:func:`scorehmr_ros.viz.render.render_mesh`, dressed with
:func:`~scorehmr_ros.viz.render.body_face_colors`). :func:`load_or_build` caches the result under a
cache directory (default ``$SCOREHMR_CACHE_DIR`` or ``~/.cache/scorehmr_ros/sequences``, never the
working directory), keyed by a hash of the arguments.

Conventions are those of ``core.camera``: world = SMPL's (y up, metres); ``X_cam = R @ X_world + t``
with ROS optical camera frames (x right, y down, z forward).

This module never imports ROS.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

CACHE_VERSION = 1  # bump when the rendering or the stored fields change
DEFAULT_CLIP = "humanoid3d_dance_b"


@dataclass
class RenderedSequence:
    """``T`` frames of one person seen by ``V`` cameras.

    Attributes:
        images: ``(T, V, H, W, 3)`` uint8 RGB renders.
        K: ``(V, 3, 3)`` intrinsics; R: ``(V, 3, 3)``, t: ``(V, 3)`` world -> camera extrinsics.
        image_size: ``(width, height)``.
        fps: frame rate of the sequence (the clip's rate divided by the frame stride).
        camera_names: ``V`` names (``cam1``, ``cam2``, ...).
        joints_world: ``(T, 24, 3)`` SMPL joints in the world frame (metres).
        rotations: ``(T, 24, 3, 3)`` SMPL local joint rotations (index 0 = global orientation, world).
        betas: ``(10,)`` shape; transl: ``(T, 3)`` smplx ``transl`` in the world frame.
        clip_name: source clip.
    """

    images: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]
    fps: float
    camera_names: list[str]
    joints_world: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    clip_name: str

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.images.shape[1])

    def camera_centers(self) -> np.ndarray:
        """``(V, 3)`` camera centres in the world frame (``-R^T t``)."""
        return -np.einsum("vji,vj->vi", self.R, self.t)

    def joints_in_camera(self, view: int) -> np.ndarray:
        """``(T, 24, 3)`` ground-truth joints in camera ``view``'s optical frame."""
        return self.joints_world @ self.R[view].T + self.t[view]

    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (atomically: temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays["image_size"] = np.asarray(self.image_size, np.int64)
        arrays["fps"] = np.asarray(self.fps, np.float64)
        arrays["camera_names"] = np.asarray(self.camera_names, dtype=str)
        arrays["clip_name"] = np.asarray(self.clip_name, dtype=str)
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RenderedSequence:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                images=z["images"],
                K=z["K"],
                R=z["R"],
                t=z["t"],
                image_size=tuple(int(v) for v in z["image_size"]),
                fps=float(z["fps"]),
                camera_names=[str(s) for s in z["camera_names"]],
                joints_world=z["joints_world"],
                rotations=z["rotations"],
                betas=z["betas"],
                transl=z["transl"],
                clip_name=str(z["clip_name"]),
            )


def _frame_slice(num_available: int, num_frames: int | None, frame_stride: int) -> slice:
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be >= 1 or None, got {num_frames}")
    stop = num_available if num_frames is None else min(num_available, num_frames * frame_stride)
    return slice(0, stop, frame_stride)


def build_sequence(
    clip_name: str = DEFAULT_CLIP,
    num_views: int = 3,
    seed: int = 0,
    num_frames: int | None = None,
    frame_stride: int = 1,
    image_size: tuple[int, int] = (640, 480),
    *,
    body_model=None,
    clips=None,
    progress=None,
) -> RenderedSequence:
    """Render ``clip_name`` seen by ``num_views`` random cameras (reproducible from ``seed``).

    Args:
        clip_name: a clip of :func:`scorehmr_ros.sim.mocap.load_mocap` (default: a held-out clip).
        num_views: number of cameras (named ``cam1`` ... ``camV``).
        seed: seeds the body shape and the rig (:func:`~scorehmr_ros.sim.scene.make_scene`).
        num_frames: keep at most this many frames (``None`` = the whole clip).
        frame_stride: keep every ``frame_stride``-th frame (the fps is divided accordingly).
        image_size: ``(width, height)`` of every camera.
        body_model, clips: preloaded body model / clips dict (loaded when ``None``).
        progress: optional ``callable(done, total)`` called after each rendered frame.
    """
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.core.camera import world_to_camera
    from scorehmr_ros.sim.mocap import load_mocap
    from scorehmr_ros.sim.scene import CLEAN, make_scene, scene_vertices
    from scorehmr_ros.viz.render import HAIR, body_face_colors, render_mesh

    body_model = load_body_model() if body_model is None else body_model
    clips = load_mocap() if clips is None else clips
    if clip_name not in clips:
        raise KeyError(f"unknown clip {clip_name!r} (available: {', '.join(sorted(clips))})")
    clip = clips[clip_name]
    w, h = (int(v) for v in image_size)
    frames = _frame_slice(clip.num_frames, num_frames, frame_stride)
    scene = make_scene(
        body_model,
        clip,
        num_views,
        seed,
        frames=frames,
        corruption=CLEAN,
        occlusion=False,
        camera_kwargs={"image_size": (w, h)},
    )
    T, V = scene.num_frames, scene.num_views
    cams = scene.cameras
    colors = body_face_colors(body_model, hair=HAIR)
    faces = np.asarray(body_model.faces, np.int64)
    images = np.empty((T, V, h, w, 3), np.uint8)
    with torch.no_grad():
        for i in range(T):
            verts = scene_vertices(body_model, scene, i)  # (1, N, 3)
            verts_cam = world_to_camera(verts.expand(V, -1, -1), cams.R, cams.t)
            for v in range(V):
                images[i, v] = render_mesh(verts_cam[v], faces, cams.K[v], (w, h), color=colors)
            if progress is not None:
                progress(i + 1, T)

    def np64(x: torch.Tensor) -> np.ndarray:
        return x.detach().cpu().numpy().astype(np.float64)

    return RenderedSequence(
        images=images,
        K=np64(cams.K),
        R=np64(cams.R),
        t=np64(cams.t),
        image_size=(w, h),
        fps=float(scene.fps) / frame_stride,
        camera_names=[f"cam{v + 1}" for v in range(V)],
        joints_world=np64(scene.joints_world),
        rotations=np64(scene.rotations),
        betas=np64(scene.betas),
        transl=np64(scene.transl),
        clip_name=clip_name,
    )


def default_cache_dir() -> Path:
    """``$SCOREHMR_CACHE_DIR`` or ``~/.cache/scorehmr_ros``, plus ``/sequences``."""
    root = os.environ.get("SCOREHMR_CACHE_DIR") or Path.home() / ".cache" / "scorehmr_ros"
    return Path(root).expanduser() / "sequences"


def cache_key(
    clip_name: str, num_views: int, seed: int, num_frames: int | None, frame_stride: int, image_size
) -> str:
    """Stable hash of the arguments of :func:`build_sequence` (and :data:`CACHE_VERSION`)."""
    args = {
        "version": CACHE_VERSION,
        "clip_name": str(clip_name),
        "num_views": int(num_views),
        "seed": int(seed),
        "num_frames": None if num_frames is None else int(num_frames),
        "frame_stride": int(frame_stride),
        "image_size": [int(v) for v in image_size],
    }
    return hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(
    clip_name: str = DEFAULT_CLIP,
    num_views: int = 3,
    seed: int = 0,
    num_frames: int | None = None,
    frame_stride: int = 1,
    image_size: tuple[int, int] = (640, 480),
    cache_dir: str | Path | None = None,
) -> Path:
    """Where :func:`load_or_build` stores the sequence built with these arguments."""
    root = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    key = cache_key(clip_name, num_views, seed, num_frames, frame_stride, image_size)
    return root / f"{clip_name}_v{num_views}_s{seed}_{key}.npz"


def load_or_build(
    clip_name: str = DEFAULT_CLIP,
    num_views: int = 3,
    seed: int = 0,
    num_frames: int | None = None,
    frame_stride: int = 1,
    image_size: tuple[int, int] = (640, 480),
    cache_dir: str | Path | None = None,
    *,
    rebuild: bool = False,
    log=None,
    **build_kwargs,
) -> RenderedSequence:
    """The cached sequence for these arguments, built (and cached) on first use.

    ``log``: optional ``callable(str)`` for progress messages. ``rebuild`` ignores the cache.
    A corrupt cache file is rebuilt.
    """
    path = cache_path(clip_name, num_views, seed, num_frames, frame_stride, image_size, cache_dir)
    if path.is_file() and not rebuild:
        try:
            seq = RenderedSequence.load(path)
            if log is not None:
                log(f"loaded cached sequence {path}")
            return seq
        except (OSError, ValueError, KeyError) as exc:  # truncated / corrupt file: rebuild it
            if log is not None:
                log(f"cache file {path} unreadable ({exc}); rebuilding")
    start = time.monotonic()
    progress = None
    if log is not None:

        def progress(done: int, total: int) -> None:
            if done == total or done % 25 == 0:
                log(f"rendered frame {done}/{total}")

    seq = build_sequence(
        clip_name, num_views, seed, num_frames, frame_stride, image_size, progress=progress, **build_kwargs
    )
    seq.save(path)
    if log is not None:
        elapsed = time.monotonic() - start
        log(f"built {seq.num_frames} frames x {seq.num_views} views in {elapsed:.1f} s -> {path}")
    return seq
