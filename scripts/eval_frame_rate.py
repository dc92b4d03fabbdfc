"""Temporal and combined guidance at several frame rates: does the result depend on frame spacing?

    .venv/bin/python scripts/eval_frame_rate.py [--strides 1 2 4] [--span-frames 48] [--out PATH]

The temporal term is weighted per second of frame interval (core.guidance), so sampling the same
motion at 60, 30 or 15 fps should give similar accuracy. Every stride covers the same stretch of
each held-out clip (``--span-frames`` clip frames from the start: 48 frames at stride 1, 12 at
stride 4), seen by the same seeded 3-camera rigs with detector-like noise. Rows: the regressor,
ScoreHMR temporal and combined (``VARIANT_SCHEDULES``) with the temporal term per second (the
default) and per frame (``time_weighted=False``, the behaviour before), MPJPE / PA-MPJPE (mm);
writes a JSON artefact with provenance (``docs/eval/frame_rate.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.variants import run_variant, score
from scorehmr_ros.provenance import provenance

# (row name, variant, temporal term per second)
VARIANTS = (
    ("regressor", "regressor", True),
    ("temporal", "temporal", True),
    ("combined", "combined", True),
    ("temporal, per frame", "temporal", False),
    ("combined, per frame", "combined", False),
)
METRICS = ("mpjpe", "pa_mpjpe")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--span-frames", type=int, default=48, help="clip frames covered at every stride")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "eval" / "frame_rate.json"
    )
    args = parser.parse_args()
    prov = provenance()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    models = ScoreHMRModels.load()
    rows = []
    t0 = time.time()
    for stride in args.strides:
        scenes = heldout_scenes(
            models.body_model,
            num_views=3,
            seed=args.seed,
            frame_stride=stride,
            max_frames=max(2, args.span_frames // stride),
        )
        sums = {name: dict.fromkeys(METRICS, 0.0) for name, _, _ in VARIANTS}
        count = 0
        for scene in scenes:
            reg = regress_scene(models.body_model, models.regressor, scene)
            n = scene.num_frames * scene.num_views
            count += n
            for name, variant, per_second in VARIANTS:
                m = score(models, scene, run_variant(models, scene, reg, variant, time_weighted=per_second))
                for k in METRICS:
                    sums[name][k] += m[k] * n
        row = {
            "stride": stride,
            "fps": {s.clip_name: 1.0 / s.frame_interval_s for s in scenes},
            "view_frames": count,
            "rows": {name: {k: sums[name][k] / count for k in METRICS} for name, _, _ in VARIANTS},
        }
        rows.append(row)
        print(
            f"stride {stride} ({count} view-frames): "
            + ", ".join(f"{n} {r['mpjpe']:.1f}/{r['pa_mpjpe']:.1f}" for n, r in row["rows"].items()),
            flush=True,
        )
    record = {"provenance": prov, "span_frames": args.span_frames, "seed": args.seed, "rows": rows}
    record["seconds"] = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
