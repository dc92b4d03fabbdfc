"""Denoiser size vs accuracy and speed, and guidance with/without gradients through the denoiser.

    .venv/bin/python scripts/compare_priors.py PRIOR.pt [PRIOR.pt ...] [--stride 4] [--out PATH]

For each checkpoint: parameters, held-out ε-MSE (stored by scripts/train_prior.py), eager and
ONNX Runtime call latency at batch 24 (one thread), and held-out ScoreHMR accuracy (single and
combined variants, same scenes). For the first checkpoint also the single variant with
``grad_through_denoiser=True`` (gradient of the guidance loss through ε_φ as well).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from scorehmr_ros.core.checkpoint import load_checkpoint
from scorehmr_ros.core.denoiser import load_denoiser
from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import VARIANT_SCHEDULES
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.variants import run_variant, score
from scorehmr_ros.provenance import provenance


def call_ms(fn, batch: int = 24, runs: int = 200) -> float:
    x, t, c = torch.randn(batch, 144), torch.randint(0, 1000, (batch,)), torch.randn(batch, 128)
    with torch.no_grad():
        for _ in range(20):
            fn(x, t, c)
        t0 = time.perf_counter()
        for _ in range(runs):
            fn(x, t, c)
    return 1000 * (time.perf_counter() - t0) / runs


def evaluate(models, scenes, regs, variant, config=None) -> dict:
    rows = [
        score(models, s, run_variant(models, s, r, variant, config))
        for s, r in zip(scenes, regs, strict=True)
    ]
    n = [s.num_frames * s.num_views for s in scenes]
    return {k: sum(r[k] * w for r, w in zip(rows, n, strict=True)) / sum(n) for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("priors", nargs="+", type=Path)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/eval/prior_size.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    base = ScoreHMRModels.load()
    scenes = heldout_scenes(base.body_model, num_views=3, seed=0, frame_stride=args.stride)
    regs = [regress_scene(base.body_model, base.regressor, s) for s in scenes]
    for i, path in enumerate(args.priors):
        models = dataclasses.replace(base, denoiser=load_denoiser(path))
        info = load_checkpoint(path)
        row = {
            "width": info["config"]["width"],
            "params_M": models.denoiser.num_parameters() / 1e6,
            "train_steps": info.get("steps"),
            "heldout_eps_mse": info.get("heldout_eps_mse"),
            "eager_ms_b24": call_ms(models.denoiser),
            "ort_ms_b24": call_ms(make_denoiser(models.denoiser, backend="onnxruntime", num_threads=1)),
            "single": evaluate(models, scenes, regs, "single"),
            "combined": evaluate(models, scenes, regs, "combined"),
        }
        if i == 0:
            cfg = dataclasses.replace(VARIANT_SCHEDULES["single"], grad_through_denoiser=True)
            row["single_grad_through_denoiser"] = evaluate(models, scenes, regs, "single", cfg)
        results[str(path)] = row
        print(json.dumps({str(path): row}, indent=1, default=float), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["provenance"] = provenance()
    args.out.write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
