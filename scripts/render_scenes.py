#!/usr/bin/env python3
"""Render synthetic multi-camera scenes and check them with MediaPipe BlazePose.

1. Builds a 3-view scene of a held-out clip (default ``humanoid3d_run``) with the packaged body
   model, renders every view (``viz.render``) and writes ``docs/synthetic_scene.png``: a grid of
   views (rows) x frames (columns) with the projected ground-truth BlazePose keypoints overlaid.
2. Runs MediaPipe BlazePose (legacy ``mediapipe.solutions.pose.Pose(static_image_mode=True,
   model_complexity=1)``) on the renders of the scene plus a few more held-out scenes, and reports
   the detection rate and the pixel error of the detected landmarks against the ground-truth
   projections (keypoints inside the image and not self-occluded), per view type (front / side /
   back, from the angle between the body's facing direction and the direction to the camera).
   Writes ``docs/mediapipe_on_renders.png`` (detections overlaid on renders).

Usage: ``python scripts/render_scenes.py [--clip humanoid3d_run] [--views 3] [--seed 0]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scorehmr_ros.core.body_model import load_body_model  # noqa: E402
from scorehmr_ros.core.camera import world_to_camera  # noqa: E402
from scorehmr_ros.sim.mocap import load_mocap  # noqa: E402
from scorehmr_ros.sim.scene import CLEAN, make_scene, scene_vertices  # noqa: E402
from scorehmr_ros.viz.render import HAIR, body_face_colors, draw_keypoints, render_mesh  # noqa: E402

torch.set_num_threads(1)
cv2.setNumThreads(1)


def render_views(body_model, scene, t: int, colors) -> list[np.ndarray]:
    """One RGB render per camera of frame ``t``."""
    verts = scene_vertices(body_model, scene, t)  # (1, V, 3)
    cams = scene.cameras
    out = []
    for v in range(len(cams)):
        vc = world_to_camera(verts, cams.R[v : v + 1], cams.t[v : v + 1])[0]
        out.append(render_mesh(vc, body_model.faces, cams.K[v], cams.image_size[v], color=colors))
    return out


def view_type(scene, t: int, v: int) -> tuple[str, float]:
    """front / side / back: angle between the body's facing (pelvis +z, horizontal) and the camera."""
    fwd = scene.rotations[t, 0, :, 2].clone()
    fwd[1] = 0
    to_cam = scene.cameras.centers[v] - scene.joints_world[t, 0]
    to_cam[1] = 0
    cos = float(torch.nn.functional.cosine_similarity(fwd, to_cam, dim=0))
    ang = float(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return ("front" if ang < 45 else "side" if ang < 135 else "back"), ang


def grid(images: list[list[np.ndarray]], scale: float = 0.5) -> np.ndarray:
    rows = [np.concatenate([cv2.resize(im, None, fx=scale, fy=scale) for im in row], 1) for row in images]
    return np.concatenate(rows, 0)


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def save_rgb(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def run_mediapipe(pose, img: np.ndarray) -> np.ndarray | None:
    """(33, 3) pixel landmarks + visibility, or None."""
    res = pose.process(img)
    if res.pose_landmarks is None:
        return None
    h, w = img.shape[:2]
    return np.array([[lm.x * w, lm.y * h, lm.visibility] for lm in res.pose_landmarks.landmark])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="humanoid3d_run")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid-frames", type=int, default=4, help="frames shown in synthetic_scene.png")
    ap.add_argument(
        "--eval-clips",
        default="humanoid3d_run,humanoid3d_dance_b,humanoid3d_kick,humanoid3d_getup_faceup",
        help="held-out clips whose renders MediaPipe is run on",
    )
    ap.add_argument("--eval-views", type=int, default=4)
    ap.add_argument("--eval-frames", type=int, default=12, help="frames per eval clip (evenly spaced)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    ap.add_argument("--no-mediapipe", action="store_true")
    args = ap.parse_args()

    bm = load_body_model()
    clips = load_mocap()
    colors = body_face_colors(bm, hair=HAIR)

    # ---- 1. the scene grid ---------------------------------------------------------------
    scene = make_scene(bm, clips[args.clip], args.views, args.seed, corruption=CLEAN)
    T = scene.num_frames
    frames = np.linspace(0, T - 1, args.grid_frames).round().astype(int).tolist()
    times = []
    rows: list[list[np.ndarray]] = [[] for _ in range(args.views)]
    for t in frames:
        t0 = time.perf_counter()
        renders = render_views(bm, scene, t, colors)
        times.append((time.perf_counter() - t0) / args.views)
        for v, img in enumerate(renders):
            kind, ang = view_type(scene, t, v)
            over = draw_keypoints(img, scene.keypoints2d_clean[t, v], scene.confidence[t, v])
            rows[v].append(label(over, f"view {v} frame {t} {kind} ({ang:.0f} deg)"))
    save_rgb(args.out_dir / "synthetic_scene.png", grid(rows))
    print(f"wrote {args.out_dir / 'synthetic_scene.png'} ({args.clip}, {args.views} views, frames {frames})")
    print(f"render + body model per view: {1000 * np.mean(times):.1f} ms")

    if args.no_mediapipe:
        return

    # ---- 2. MediaPipe on renders -----------------------------------------------------------
    import mediapipe as mp

    stats: dict[str, dict[str, list]] = {}
    examples: dict[str, list[np.ndarray]] = {}
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    mp_time = []
    for ci, name in enumerate(args.eval_clips.split(",")):
        sc = make_scene(bm, clips[name], args.eval_views, args.seed + 100 + ci, corruption=CLEAN)
        ts = np.unique(np.linspace(0, sc.num_frames - 1, args.eval_frames).round().astype(int))
        for t in ts.tolist():
            renders = render_views(bm, sc, t, colors)
            for v, img in enumerate(renders):
                kind, _ = view_type(sc, t, v)
                s = stats.setdefault(kind, {"det": [], "err": [], "err_norm": [], "swap": [], "err_flip": []})
                t0 = time.perf_counter()
                lm = run_mediapipe(pose, img)
                mp_time.append(time.perf_counter() - t0)
                s["det"].append(lm is not None)
                gt = sc.keypoints2d_clean[t, v].numpy()
                vis = (sc.confidence[t, v] > 0).numpy() & ~sc.occluded[t, v].numpy()
                if lm is not None:
                    err = np.linalg.norm(lm[:, :2] - gt, axis=1)[vis]
                    height = np.ptp(gt[:, 1]) + 1e-6
                    s["err"].extend(err.tolist())
                    s["err_norm"].extend((err / height).tolist())
                    # left/right swap: error with the mirrored GT (body keypoints 11..32) much lower?
                    perm = np.arange(33)
                    perm[11:33] = np.arange(11, 33).reshape(-1, 2)[:, ::-1].reshape(-1)
                    e_sw = np.linalg.norm(lm[11:, :2] - gt[perm][11:], axis=1).mean()
                    e_ok = np.linalg.norm(lm[11:, :2] - gt[11:], axis=1).mean()
                    s["swap"].append(e_sw < 0.5 * e_ok)
                    gt_best = gt[perm] if e_sw < e_ok else gt
                    s["err_flip"].extend(np.linalg.norm(lm[:, :2] - gt_best, axis=1)[vis].tolist())
                ex = examples.setdefault(kind, [])
                if len(ex) < 4 and t % 2 == 0:
                    over = draw_keypoints(img, gt, vis.astype(np.float32), color=(255, 255, 255), radius=2)
                    if lm is not None:
                        over = draw_keypoints(over, lm[:, :2], lm[:, 2], threshold=0.0)
                    ex.append(
                        label(over, f"{name[11:]} t{t} {kind}: {'det' if lm is not None else 'MISSED'}")
                    )
    pose.close()

    print(f"MediaPipe BlazePose (complexity 1): {1000 * np.mean(mp_time):.0f} ms/image")
    print(
        f"{'view':6s} {'images':>6s} {'detected':>9s} {'mean px':>8s} {'median px':>9s} "
        f"{'mean/height':>11s} {'LR swaps':>8s} {'mean px, swaps undone':>21s}"
    )
    total_det, total = 0, 0
    for kind in ("front", "side", "back"):
        if kind not in stats:
            continue
        s = stats[kind]
        n, d = len(s["det"]), int(np.sum(s["det"]))
        total, total_det = total + n, total_det + d
        err = np.array(s["err"]) if s["err"] else np.array([np.nan])
        print(
            f"{kind:6s} {n:6d} {d / n:9.1%} {np.nanmean(err):8.1f} {np.nanmedian(err):9.1f} "
            f"{np.nanmean(s['err_norm']) if s['err_norm'] else np.nan:11.3f} {int(np.sum(s['swap'])):8d} "
            f"{np.mean(s['err_flip']) if s['err_flip'] else np.nan:21.1f}"
        )
    print(f"all    {total:6d} {total_det / max(total, 1):9.1%}")

    blank = np.full((480, 640, 3), 255, np.uint8)
    ex_rows = []
    for kind in ("front", "side", "back"):
        row = examples.get(kind, [])[:4]
        row = row + [blank] * (4 - len(row))
        ex_rows.append(row)
    save_rgb(args.out_dir / "mediapipe_on_renders.png", grid(ex_rows))
    print(f"wrote {args.out_dir / 'mediapipe_on_renders.png'} (white = ground truth, colour = MediaPipe)")


if __name__ == "__main__":
    main()
