"""Pick the keypoint terms' robust scale (``core.guidance.KEYPOINT_SIGMA_MEDIAN``) on TRAINING clips.

    .venv/bin/python scripts/tune_keypoint_sigma.py [--frames 12] [--out docs/eval/tuning_sigma.json]

GMoF σ = clamp(c × the median keypoint residual, 2, 100) px (:func:`core.guidance.residual_sigma`;
c = inf is the official fixed 100 px). Every candidate c runs the single-view and multi-view
ScoreHMR variants (their ``VARIANT_SCHEDULES``) on seeded 3-view scenes of the tuning clips of
``scripts/tune_guidance.py``, with the default (noisy) and the ``HARD`` keypoint corruption; the
candidate with the lowest MPJPE averaged over the four (variant, corruption) cells is printed and
written to the JSON, to be copied into ``KEYPOINT_SIGMA_MEDIAN``. Held-out clips are never used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core import guidance
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.eval.heldout import regress_scene
from scorehmr_ros.eval.variants import run_variant, score
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.mocap import load_mocap, train_clips
from scorehmr_ros.sim.scene import HARD, KeypointCorruption, make_scene

TUNING_CLIPS = ("humanoid3d_walk", "humanoid3d_punch", "humanoid3d_dance_a", "humanoid3d_jump")
CANDIDATES = (2.0, 3.0, 4.5, 6.0, float("inf"))
CORRUPTIONS = {"noisy": KeypointCorruption(), "hard": HARD}
VARIANTS = ("single", "multiview")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--candidates", type=float, nargs="+", default=list(CANDIDATES))
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "docs" / "eval" / "tuning_sigma.json",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    clips = train_clips(load_mocap())
    frames = slice(0, args.frames * args.stride, args.stride)
    cells = {}
    for cname, corruption in CORRUPTIONS.items():
        scenes = [
            make_scene(models.body_model, clips[name], 3, 1000 + i, frames=frames, corruption=corruption)
            for i, name in enumerate(TUNING_CLIPS)
        ]
        cells[cname] = (scenes, [regress_scene(models.body_model, models.regressor, s) for s in scenes])
    results: dict[str, dict[str, dict[str, float]]] = {}
    jobs = [(c_cand, v, name) for c_cand in args.candidates for v in VARIANTS for name in CORRUPTIONS]
    default_c = guidance.KEYPOINT_SIGMA_MEDIAN
    try:
        for c_cand, variant, cname in tqdm(jobs, desc="candidates"):
            guidance.KEYPOINT_SIGMA_MEDIAN = c_cand
            scenes, regs = cells[cname]
            rows = [
                score(models, s, run_variant(models, s, r, variant))
                for s, r in zip(scenes, regs, strict=True)
            ]
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("mpjpe", "pa_mpjpe", "err_2d")}
            results.setdefault(str(c_cand), {})[f"{variant}|{cname}"] = mean
    finally:
        guidance.KEYPOINT_SIGMA_MEDIAN = default_c
    for c_cand, row in results.items():
        row["mean_mpjpe"] = sum(v["mpjpe"] for v in row.values()) / len(row)
        cols = " ".join(f"{k}={v['mpjpe']:.1f}" for k, v in row.items() if k != "mean_mpjpe")
        print(f"c {c_cand:>5s} {cols} mean={row['mean_mpjpe']:.1f}")
    best = min(results, key=lambda r: results[r]["mean_mpjpe"])
    print(f"best c {best} (KEYPOINT_SIGMA_MEDIAN now {default_c})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "clips": TUNING_CLIPS,
        "variants": VARIANTS,
        "corruptions": list(CORRUPTIONS),
        "results": results,
        "best": float(best),
        "provenance": provenance(),
    }
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
