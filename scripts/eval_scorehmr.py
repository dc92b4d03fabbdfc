"""ScoreHMR on the held-out clips: regressor vs single-view, multi-view, temporal, combined guidance.

    .venv/bin/python scripts/eval_scorehmr.py [--views 3] [--stride 1] [--out docs/eval]

Same scenes for every row (scorehmr_ros.eval.heldout, seeded). Prints a Markdown table with the
paper's relative improvements beside ours, and writes ``<out>/scorehmr_heldout.json`` and
``<out>/scorehmr_heldout.png``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import VARIANT_SCHEDULES
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.variants import VARIANTS, run_variant, score
from scorehmr_ros.provenance import provenance

METRICS = ("mpjpe", "pa_mpjpe", "err_2d", "accel", "ms_per_view_frame")
# The paper's reported relative changes (ScoreHMR vs its regression init) on its benchmarks.
PAPER = {
    "single": ("pa_mpjpe", -6.0, "3DPW single-frame PA-MPJPE"),
    "multiview": ("mpjpe", -15.0, "H36M multi-view MPJPE"),
    "temporal": ("accel", -36.0, "3DPW video acceleration error"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame of the held-out clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "eval")
    args = parser.parse_args()
    prov = provenance()  # the code as it was when the run started
    torch.manual_seed(args.seed)
    models = ScoreHMRModels.load()
    scenes = heldout_scenes(models.body_model, num_views=args.views, seed=args.seed, frame_stride=args.stride)
    frames = sum(s.num_frames for s in scenes)
    print(f"{len(scenes)} held-out scenes, {frames} frames x {args.views} views")
    sums = {v: dict.fromkeys(METRICS, 0.0) for v in VARIANTS}
    weights = {v: 0 for v in VARIANTS}
    t0 = time.time()
    for scene in tqdm(scenes, desc="scenes"):
        reg = regress_scene(models.body_model, models.regressor, scene)
        for variant in VARIANTS:
            res = run_variant(models, scene, reg, variant)
            m = score(models, scene, res)
            n = scene.num_frames * scene.num_views
            for k in METRICS:
                sums[variant][k] += m[k] * n
            weights[variant] += n
    table = {v: {k: sums[v][k] / weights[v] for k in METRICS} for v in VARIANTS}
    base = table["regressor"]
    lines = [
        "| method | MPJPE (mm) | PA-MPJPE (mm) | 2D error (px) | accel. error (mm/frame²) "
        "| ms / view-frame | vs. init | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        r = table[v]
        rel = ", ".join(
            f"{k} {100 * (r[k] - base[k]) / base[k]:+.0f}%" for k in ("mpjpe", "pa_mpjpe", "accel")
        )
        paper = f"{PAPER[v][2]} {PAPER[v][1]:+.0f}%" if v in PAPER else ""
        lines.append(
            f"| {v} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['err_2d']:.1f} | {r['accel']:.1f} | "
            f"{r['ms_per_view_frame']:.1f} | {rel if v != 'regressor' else ''} | {paper} |"
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    record = {
        "table": table,
        "views": args.views,
        "stride": args.stride,
        "seed": args.seed,
        "frames": frames,
        "configs": {k: vars(c) for k, c in VARIANT_SCHEDULES.items()},
        "git_revision": rev.stdout.strip(),
        "provenance": prov,
        "seconds": time.time() - t0,
        "markdown": text,
    }
    (args.out / "scorehmr_heldout.json").write_text(json.dumps(record, indent=2))
    _plot(table, args.out / "scorehmr_heldout.png")
    print(f"wrote {args.out / 'scorehmr_heldout.json'} and .png in {time.time() - t0:.0f} s")


def _plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (key, label) in zip(
        axes,
        [
            ("mpjpe", "MPJPE (mm)"),
            ("pa_mpjpe", "PA-MPJPE (mm)"),
            ("err_2d", "2D error (px)"),
            ("accel", "accel (mm/f²)"),
        ],
        strict=True,
    ):
        vals = [table[v][key] for v in VARIANTS]
        ax.bar(VARIANTS, vals, color=["#999999", "#4c72b0", "#55a868", "#c44e52", "#8172b2"])
        ax.set_title(label)
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Held-out clips (run, dance_b, kick, getup_faceup), 3 views, detector-like keypoint noise")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
