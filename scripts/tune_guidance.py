"""Pick the refinement step schedule and guidance scale per variant on TRAINING-clip scenes.

    .venv/bin/python scripts/tune_guidance.py [--frames 12] [--out docs/eval/tuning.json]
    .venv/bin/python scripts/tune_guidance.py --variants single multiview \
        --schedules tau50_step2_K10 tau50_step2_K20 tau50_step2_K30 --out docs/eval/tuning_iterations.json

Held-out clips are never used here (they are only for reporting). For each variant, every
candidate (τ, step, K, scale) runs on seeded 3-view scenes of the training clips, with the
variant's own flags (e.g. the shared body pose of the multi-view variants) from
``VARIANT_SCHEDULES``; the one with the lowest MPJPE is written to the JSON and printed, to be
copied into ``VARIANT_SCHEDULES`` (scorehmr_ros/core/presets.py). K is a cap: a sample stops
early once its guidance loss changes by less than ``early_stop_rel``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import VARIANT_SCHEDULES
from scorehmr_ros.core.refiner import RefineConfig
from scorehmr_ros.eval.heldout import regress_scene
from scorehmr_ros.eval.variants import run_variant, score
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.mocap import load_mocap, train_clips
from scorehmr_ros.sim.scene import make_scene

SCHEDULES = {
    "tau50_step2_K10": RefineConfig(tau=50, step=2, iterations=10),
    "tau50_step2_K20": RefineConfig(tau=50, step=2, iterations=20),
    "tau50_step2_K30": RefineConfig(tau=50, step=2, iterations=30),
    "tau50_step5_K3": RefineConfig(tau=50, step=5, iterations=3),
    "tau100_step10_K2": RefineConfig(tau=100, step=10, iterations=2),
    "tau50_step10_K2": RefineConfig(tau=50, step=10, iterations=2),
    # deeper / shallower inversions for the single-view variant (K a cap, as above)
    "tau100_step4_K30": RefineConfig(tau=100, step=4, iterations=30),
    "tau100_step2_K30": RefineConfig(tau=100, step=2, iterations=30),
    "tau25_step1_K30": RefineConfig(tau=25, step=1, iterations=30),
}
SCALES = (0.1, 0.3, 1.0, 3.0)
TUNING_CLIPS = ("humanoid3d_walk", "humanoid3d_punch", "humanoid3d_dance_a", "humanoid3d_jump")
VARIANTS = ("single", "multiview", "temporal", "combined")
DEFAULT_SCHEDULES = ("tau50_step2_K10", "tau50_step5_K3", "tau100_step10_K2", "tau50_step10_K2")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--schedules", nargs="+", choices=list(SCHEDULES), help="candidates (default: all but K20/K30)"
    )
    parser.add_argument(
        "--scales",
        nargs="+",
        type=float,
        default=list(SCALES),
        help="guidance scales to try (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "eval" / "tuning.json"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    models = ScoreHMRModels.load()
    clips = train_clips(load_mocap())
    scenes = [
        make_scene(
            models.body_model,
            clips[name],
            3,
            1000 + i,
            frames=slice(0, args.frames * args.stride, args.stride),
        )
        for i, name in enumerate(TUNING_CLIPS)
    ]
    regs = [regress_scene(models.body_model, models.regressor, s) for s in scenes]
    results = {}
    names = args.schedules or DEFAULT_SCHEDULES
    jobs = [(v, n, s) for v in args.variants for n in names for s in args.scales]
    for variant, name, scale in tqdm(jobs, desc="candidates"):
        if variant == "single" and not args.schedules and name != "tau50_step2_K10":
            continue  # the default run tunes only the scale of the single-view schedule
        sched = SCHEDULES[name]
        cfg = dataclasses.replace(
            VARIANT_SCHEDULES[variant],
            tau=sched.tau,
            step=sched.step,
            iterations=sched.iterations,
            guidance_scale=scale,
        )
        rows = [
            score(models, sc, run_variant(models, sc, reg, variant, cfg))
            for sc, reg in zip(scenes, regs, strict=True)
        ]
        results[f"{variant}|{name}|{scale}"] = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    base = [
        score(models, sc, run_variant(models, sc, reg, "regressor"))
        for sc, reg in zip(scenes, regs, strict=True)
    ]
    best = {}
    for variant in args.variants:
        cands = {k: v for k, v in results.items() if k.startswith(variant + "|")}
        key = min(cands, key=lambda k: cands[k]["mpjpe"])
        best[variant] = {"candidate": key, **cands[key]}
        print(f"{variant:10s} best {key:32s} " + " ".join(f"{m}={x:.1f}" for m, x in cands[key].items()))
    print("regressor  " + " ".join(f"{m}={sum(r[m] for r in base) / len(base):.1f}" for m in base[0]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "clips": TUNING_CLIPS,
        "variants": list(args.variants),
        "schedules": list(names),
        "scales": list(args.scales),
        "results": results,
        "best": best,
        "provenance": provenance(),
    }
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
