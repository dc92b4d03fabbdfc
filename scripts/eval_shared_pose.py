"""Uncalibrated multi-view: one body pose shared inside the sampling loop vs a pull toward the mean.

    .venv/bin/python scripts/eval_shared_pose.py [--views 2 4] [--max-frames 20] [--out PATH]

The paper's uncalibrated multi-view setting: each view is refined in its own camera frame. The
default ``multiview`` / ``combined`` variants pull the views' body poses toward their mean (the
multi-view consistency term) and fuse the output; ``RefineConfig(share_body_pose=True)`` makes it
one pose per instant inside the loop (``core.refiner.share_body_pose``), each view keeping its
global orientation, as SMPLify's multi-view variant shares it. Same held-out scenes as
``scorehmr-bench accuracy`` (stride 2, 20 frames per clip, noisy and hard keypoints), MPJPE and
PA-MPJPE (mm) per view-frame; writes a JSON artefact with provenance.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import VARIANT_SCHEDULES
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.smplify import GMMPosePrior, run_smplify
from scorehmr_ros.eval.variants import run_variant, score
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.scene import HARD, KeypointCorruption

SETTINGS = {"noisy": KeypointCorruption(), "hard": HARD}


def methods(models, prior):
    """name -> run(scene, reg) of every compared method."""

    def scorehmr(variant: str, shared: bool):
        config = dataclasses.replace(VARIANT_SCHEDULES[variant], share_body_pose=shared)
        return lambda scene, reg: run_variant(models, scene, reg, variant, config)

    def smplify(variant: str):
        return lambda scene, reg: run_smplify(models.body_model, scene, reg, variant, prior=prior)

    return {
        "regressor": lambda scene, reg: run_variant(models, scene, reg, "regressor"),
        "SMPLify multi-view": smplify("multiview"),
        "ScoreHMR multi-view (pull to the mean)": scorehmr("multiview", False),
        "ScoreHMR multi-view (shared pose)": scorehmr("multiview", True),
        "SMPLify combined": smplify("combined"),
        "ScoreHMR combined (pull to the mean)": scorehmr("combined", False),
        "ScoreHMR combined (shared pose)": scorehmr("combined", True),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--max-frames", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "eval" / "shared_pose.json"
    )
    args = parser.parse_args()
    prov = provenance()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    models = ScoreHMRModels.load()
    run = methods(models, GMMPosePrior.load())
    rows = []
    t0 = time.time()
    for setting, corruption in SETTINGS.items():
        for views in args.views:
            scenes = heldout_scenes(
                models.body_model, views, args.seed, frame_stride=2, max_frames=args.max_frames,
                corruption=corruption,
            )  # fmt: skip
            sums = {name: {"mpjpe": 0.0, "pa_mpjpe": 0.0} for name in run}
            count = 0
            for scene in scenes:
                reg = regress_scene(models.body_model, models.regressor, scene)
                n = scene.num_frames * scene.num_views
                count += n
                for name, method in run.items():
                    m = score(models, scene, method(scene, reg))
                    for k in ("mpjpe", "pa_mpjpe"):
                        sums[name][k] += m[k] * n
            for name, s in sums.items():
                row = {
                    "setting": setting,
                    "views": views,
                    "method": name,
                    **{k: v / count for k, v in s.items()},
                }
                rows.append(row)
                print(
                    f"{setting} {views} views {name:40s} {row['mpjpe']:.1f} / {row['pa_mpjpe']:.1f}",
                    flush=True,
                )
    record = {"provenance": prov, "max_frames": args.max_frames, "seed": args.seed, "rows": rows}
    record["seconds"] = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
