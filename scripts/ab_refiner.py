"""A/B timing of ``refine()`` at another git revision against the working tree (a benchmark).

    .venv/bin/python scripts/ab_refiner.py --base f43187d [--rounds 60] [--quality-rounds 3]

Loads ``scorehmr_ros/core/refiner.py`` as it was at ``--base`` (``git show``) next to the current
one and runs both on the same inputs, alternating, with the ONNX Runtime denoiser and one thread:

1. the ``realtime`` schedule (tau 50 / step 10 / K 2, all terms) on one 3-camera set of 2 frames,
   median over ``--rounds`` alternating runs (the first 5 dropped as warm-up);
2. the ``quality`` schedule (tau 50 / step 2 / K 10, all terms) on the 4 held-out clips × 3
   cameras × 20 frames for early-stop thresholds 0, 1e-2 and 3e-2: median total seconds over
   ``--quality-rounds`` and the MPJPE of each side.

Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.guidance import make_terms
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import GUIDANCE_WEIGHTS, VARIANT_TERMS
from scorehmr_ros.core.refiner import RefineConfig, refine
from scorehmr_ros.eval.heldout import heldout_scenes, joint_errors_mm
from scorehmr_ros.eval.variants import SceneBatch, scene_batch

REPO = Path(__file__).resolve().parents[1]
REFINER = "scorehmr_ros/core/refiner.py"


def refine_at(rev: str):
    """``refine`` of ``REFINER`` as it was at git revision ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{REFINER}"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="ab_refiner_")) / "refiner_base.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("refiner_base", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["refiner_base"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module.refine


def inputs(models, frames: int, views: int = 3) -> list[SceneBatch]:
    scenes = heldout_scenes(models.body_model, num_views=views, seed=7, frame_stride=2, max_frames=frames)
    return [scene_batch(models, scene, "combined") for scene in scenes]


def run_all(fn, data, config, terms, denoiser, models) -> tuple[float, float]:
    """(seconds, mean MPJPE mm) of ``fn`` over every input."""
    bm, errors = models.body_model, []
    t0 = time.perf_counter()
    for b in data:
        res = fn(*b.refine_args(), terms, config, denoiser, bm, models.schedule)
        errors.append(joint_errors_mm(bm, res.rotations, b.betas, b.scene)["mpjpe"])
    seconds = time.perf_counter() - t0
    return seconds, torch.cat(errors).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="git revision whose refiner is compared")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--quality-rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    denoiser = make_denoiser(models.denoiser, backend="onnxruntime", num_threads=1)
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in VARIANT_TERMS["combined"]})
    sides = {"base": refine_at(args.base), "current": refine}

    print(f"| case | {args.base} | working tree | MPJPE mm (base / current) |\n|---|---:|---:|---:|")
    realtime = RefineConfig(tau=50, step=10, iterations=2)
    data = inputs(models, frames=2)[:1]
    times = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            times[name].append(run_all(fn, data, realtime, terms, denoiser, models)[0])
    ms = {name: 1000 * statistics.median(t[5:]) for name, t in times.items()}
    print(f"| realtime, 3 cameras x 2 frames (ms) | {ms['base']:.2f} | {ms['current']:.2f} | |")

    data = inputs(models, frames=20)
    for rel in (0.0, 1e-2, 3e-2):
        config = RefineConfig(tau=50, step=2, iterations=10, early_stop_rel=rel)
        times, mpjpe = {name: [] for name in sides}, {}
        for _ in range(args.quality_rounds):
            for name, fn in sides.items():
                seconds, mpjpe[name] = run_all(fn, data, config, terms, denoiser, models)
                times[name].append(seconds)
        s = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"| quality, early_stop_rel {rel:g}, 4 clips x 3 cameras x 20 frames (s) "
            f"| {s['base']:.2f} | {s['current']:.2f} | {mpjpe['base']:.2f} / {mpjpe['current']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
