"""Accuracy/cost of the node's streaming presets on the held-out scenes (3 views, every frame).

    .venv/bin/python scripts/eval_streaming.py [--max-frames 120] [--out docs/eval/streaming.md]
    .venv/bin/python scripts/eval_streaming.py --calibrated [--stride 2 --max-frames 40] [--out F.md]

``--calibrated``: the same held-out scenes as calibrated rigs (cam_to_ref into the world frame):
robust DLT triangulation vs the old per-view fusion vs one ScoreHMR body per frame, scored in the
fixed frame (12 limb joints, pelvis) and root-aligned / Procrustes-aligned (eval.streaming).

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
from scorehmr_ros.core.presets import PRESETS, StreamingConfig
from scorehmr_ros.core.refiner import RefineConfig
from scorehmr_ros.eval.heldout import heldout_scenes
from scorehmr_ros.eval.streaming import (
    CALIBRATED_HEADER,
    HEADER,
    evaluate_calibrated,
    evaluate_streaming,
)
from scorehmr_ros.provenance import provenance


def configurations() -> dict[str, tuple]:
    """name -> (StreamingConfig, sets per call)."""
    rt, q = PRESETS["realtime"], PRESETS["quality"]
    return {
        "regressor + fusion (no refinement)": (
            dataclasses.replace(rt, refine=RefineConfig(iterations=0), warm_start=False),
            1,
        ),
        "realtime": (rt, 1),
        "realtime, views refined apart (no shared body pose)": (_unshared(rt), 1),
        "realtime, 3 sets per call (backlog)": (rt, 3),
        "quality": (q, 1),
        "quality, views refined apart (no shared body pose)": (_unshared(q), 1),
    }


def _unshared(config: StreamingConfig) -> StreamingConfig:
    """``config`` with each view's body pose refined on its own (pulled toward the mean only)."""
    return dataclasses.replace(config, refine=dataclasses.replace(config.refine, share_body_pose=False))


def calibrated_configurations() -> dict[str, StreamingConfig | None]:
    """name -> StreamingConfig (None: plain robust DLT triangulation)."""
    rt = PRESETS["realtime"]
    no_refine = RefineConfig(iterations=0)
    unrefined = dataclasses.replace(rt, refine=no_refine, calibrated_refine=no_refine, warm_start=False)
    mean_start = dict(body_pose_start="mean", reject_outlier_views=False)
    return {
        "DLT triangulation (robust, weighted)": None,
        "old fusion: per-view realtime, averaged": dataclasses.replace(rt, calibrated_fusion=False),
        "calibrated start, body pose = mean of views (no refinement)": dataclasses.replace(
            unrefined, **mean_start
        ),
        "multi-view fit to every view's keypoints (no diffusion prior; calibrated SMPLify-like)": unrefined,
        "previous default: ScoreHMR realtime from the mean of views (tau 30 / step 3)": dataclasses.replace(
            rt, calibrated_refine=RefineConfig(tau=30, step=3, iterations=1), **mean_start
        ),
        "ScoreHMR calibrated realtime (multi-view fit start; the default)": rt,
        "ScoreHMR calibrated quality (multi-view fit start)": PRESETS["quality"],
    }


def main_calibrated(args) -> None:
    models = ScoreHMRModels.load()
    engine = make_denoiser(models.denoiser, backend=args.backend) if args.backend != "torch" else None
    scenes = heldout_scenes(
        models.body_model, num_views=3, seed=11, frame_stride=args.stride, max_frames=args.max_frames
    )
    rows = []
    print(CALIBRATED_HEADER, flush=True)
    for name, config in calibrated_configurations().items():
        if args.only and not any(o in name for o in args.only):
            continue
        res = evaluate_calibrated(name, models, config, scenes, args.stride, engine)
        rows.append(res)
        print(res.row(), flush=True)
    if args.out:
        prov = provenance()
        text = (
            "# Calibrated 3-camera rigs on the held-out scenes (fixed frame)\n\n"
            f"`{' '.join(prov['argv'])}` at `{prov['git_describe']}`, {prov['date']}, {prov['cpu_model']}, "
            f"{prov['threads'].get('torch')} torch thread(s). 4 held-out clips x 3 views (seed 11), every "
            f"{args.stride}th frame, at most {args.max_frames} per clip, default keypoint corruption; "
            "stamps from the clip's fps. Limb joints: hips, knees, ankles, shoulders, elbows, wrists.\n\n"
            + CALIBRATED_HEADER
            + "\n"
            + "\n".join(r.row() for r in rows)
            + "\n"
        )
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(
            json.dumps({"provenance": prov, "rows": [dataclasses.asdict(r) for r in rows]}, indent=1)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-frames", type=int, default=120, help="frames per held-out clip")
    parser.add_argument("--only", nargs="*", default=None, help="configuration names to run")
    parser.add_argument("--out", type=Path, default=None, help="Markdown output (JSON beside it)")
    parser.add_argument("--calibrated", action="store_true", help="calibrated rigs vs DLT (see above)")
    parser.add_argument("--stride", type=int, default=1, help="--calibrated: frame stride")
    parser.add_argument("--backend", default="onnxruntime", help="denoiser backend (core.engines)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.calibrated:
        main_calibrated(args)
        return
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
        record = {"provenance": provenance(), "rows": [dataclasses.asdict(r) for r in rows]}
        args.out.with_suffix(".json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
