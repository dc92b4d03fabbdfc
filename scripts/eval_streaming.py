"""Accuracy/cost of the node's streaming presets on the held-out scenes (3 views, every frame).

    .venv/bin/python scripts/eval_streaming.py [--max-frames 120] [--out docs/eval/streaming.md]

Runs each configuration through core.streaming exactly as the node does (ONNX Runtime denoiser,
one torch thread) and prints a Markdown table; see scorehmr_ros/eval/streaming.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import PRESETS
from scorehmr_ros.core.refiner import RefineConfig
from scorehmr_ros.eval.heldout import heldout_scenes
from scorehmr_ros.eval.streaming import HEADER, evaluate_streaming


def configurations() -> dict[str, tuple]:
    """name -> (StreamingConfig, sets per call)."""
    rt, q = PRESETS["realtime"], PRESETS["quality"]
    return {
        "regressor + fusion (no refinement)": (
            dataclasses.replace(rt, refine=RefineConfig(iterations=0), warm_start=False),
            1,
        ),
        "realtime": (rt, 1),
        "realtime, 3 sets per call (backlog)": (rt, 3),
        "quality": (q, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-frames", type=int, default=120, help="frames per held-out clip")
    parser.add_argument("--only", nargs="*", default=None, help="configuration names to run")
    parser.add_argument("--out", type=Path, default=None, help="Markdown output (JSON beside it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    engine = make_denoiser(models.denoiser, backend="onnxruntime")
    scenes = heldout_scenes(models.body_model, num_views=3, seed=11, max_frames=args.max_frames)
    rows = []
    print(HEADER, flush=True)
    for name, (config, per_call) in configurations().items():
        if args.only and name not in args.only:
            continue
        res = evaluate_streaming(name, models, config, scenes, engine, per_call)
        rows.append(res)
        print(res.row(), flush=True)
    if args.out:
        text = (
            "# Streaming presets on the held-out scenes\n\n"
            f"`scripts/eval_streaming.py --max-frames {args.max_frames}`: 4 held-out clips x 3 views, "
            "causal, fused body in the reference camera; 1 torch thread, ONNX Runtime denoiser.\n\n"
            + HEADER
            + "\n"
            + "\n".join(r.row() for r in rows)
            + "\n"
        )
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()
