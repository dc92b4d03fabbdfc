"""What the end-to-end limb error is made of: per-frame noise, or offsets that last a whole clip?

    .venv/bin/python scripts/eval_e2e_error_structure.py [--out docs/eval/e2e_error_structure.json]

On the bench's e2e scenes (three calibrated cameras, MediaPipe on renders; all four held-out clips
with the render seeds of ``scorehmr-bench accuracy --e2e-clips all``), for plain robust DLT of the
MediaPipe keypoints and for the node's calibrated estimator (``realtime``), the fixed-frame error
of the 12 limb joints (mm) and what is left of it after:

- ``clip_offset_removed``: each joint's mean error vector over its clip subtracted (an oracle: it
  uses the ground truth of the same clip; it shows how much of the error is constant over a clip);
- ``bone_offset_other_clips``: a per-joint offset fixed in the joint's own (ground-truth) bone
  frame, learned on the OTHER three clips, subtracted (what a learned, pose-following correction
  of the detector's landmark definition could remove on an unseen clip);
- ``ema_0.7`` / ``ema_0.5`` (estimator only): causal exponential smoothing of the published joints
  (what a stronger causal temporal prior could remove at most, lag included);
- ``centred_1`` / ``centred_2``: the mean over +-1 / +-2 frames (non-causal: a smoother's bound).

Writes JSON (git describe, argv, CPU, threads). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.api import ScoreHMRModels
from scorehmr_ros.core.presets import get_preset
from scorehmr_ros.eval.bench import LIMB_INDEX, BenchConfig, all_e2e_clips, e2e_render_seeds, e2e_scene
from scorehmr_ros.eval.streaming import LIMB_BLAZEPOSE, stream_calibrated, triangulate_frame
from scorehmr_ros.provenance import provenance

REPO = Path(__file__).resolve().parents[1]


def mean_mm(err: torch.Tensor) -> float:
    """Mean norm (mm) of error vectors (..., 3), NaN rows ignored."""
    e = 1000 * err.norm(dim=-1)
    return float(e[torch.isfinite(e)].mean())


def clip_data(models, clip: str, cfg: BenchConfig, seed: int) -> dict[str, torch.Tensor]:
    """Limb-joint positions (T, 12, 3) of DLT, the estimator and the truth, and the truth's global
    joint rotations (T, 12, 3, 3), all in the world frame."""
    bm = models.body_model
    scene = e2e_scene(bm, clip, cfg, seed)[0]
    T = scene.num_frames
    dlt = torch.stack([triangulate_frame(scene, t) for t in range(T)]).float()[:, list(LIMB_BLAZEPOSE)]
    bodies, _ = stream_calibrated(models, get_preset("realtime"), scene)
    ours = torch.full((T, 24, 3), float("nan"))
    for t, b in bodies.items():
        rot = b.rotations.float()
        ours[t] = bm.skeleton(rot[None, 0], rot[None, 1:], b.betas[None].float(), b.transl[None].float())[0]
    _, transforms = bm.kinematics(scene.rotations.float(), bm.rest_joints(scene.betas.float().expand(T, -1)))
    return {
        "dlt": dlt,
        "scorehmr": ours[:, LIMB_INDEX],
        "truth": scene.joints_world.float()[:, LIMB_INDEX],
        "bone_rot": transforms[:, LIMB_INDEX, :3, :3],
    }


def smoothed(x: torch.Tensor, how: str) -> torch.Tensor:
    """x (T, J, 3): causal EMA (``ema_<alpha>``) or centred mean (``centred_<k>``) over frames."""
    kind, value = how.split("_")
    out = x.clone()
    if kind == "ema":
        alpha = float(value)
        for t in range(1, len(x)):
            out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    else:
        k = int(value)
        for t in range(len(x)):
            out[t] = x[max(0, t - k) : t + k + 1].mean(0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs/eval/e2e_error_structure.json")
    args = parser.parse_args()
    prov = provenance()
    torch.manual_seed(0)
    models = ScoreHMRModels.load()
    cfg = BenchConfig(e2e_clips=all_e2e_clips())  # the bench's --e2e-clips all (render seeds kept)
    data = {c: clip_data(models, c, cfg, s) for c, s in tqdm(e2e_render_seeds(cfg).items(), desc="clips")}
    results: dict[str, dict] = {}
    for clip, d in data.items():
        row: dict[str, dict] = {}
        for method in ("dlt", "scorehmr"):
            err = d[method] - d["truth"]  # (T, 12, 3)
            # Bone-frame offsets from the other clips: mean of R^T e over their frames.
            local = torch.cat(
                [(o["bone_rot"].transpose(-1, -2) @ (o[method] - o["truth"]).unsqueeze(-1)).squeeze(-1)
                 for c, o in data.items() if c != clip]
            )  # fmt: skip
            offset = (d["bone_rot"] @ torch.nanmean(local, 0).unsqueeze(-1)).squeeze(-1)
            row[method] = {
                "limb_error_mm": mean_mm(err),
                "clip_offset_removed_mm": mean_mm(err - torch.nanmean(err, 0)),
                "bone_offset_other_clips_mm": mean_mm(err - offset),
            }
            if method == "scorehmr":
                for how in ("ema_0.7", "ema_0.5", "centred_1", "centred_2"):
                    row[method][f"{how}_mm"] = mean_mm(smoothed(d[method], how) - d["truth"])
        results[clip] = row
        print(clip, json.dumps(row))
    record = {
        "what": "e2e limb error (3 cameras, MediaPipe on renders): constant-over-clip offsets vs "
        "frame-to-frame error (scripts/eval_e2e_error_structure.py)",
        "provenance": prov,
        "clips": {c: s for c, s in e2e_render_seeds(cfg).items()},
        "frames_per_clip": cfg.e2e_frames,
        "results": results,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
