"""Per-view regressor on the held-out clips: MPJPE / PA-MPJPE (mm) and runtime per view.

    .venv/bin/python scripts/eval_regressor.py [--views 3] [--seed 0] [--out docs/eval/regressor.json]

Baseline: the mean training pose with the ground-truth global orientation and mean shape.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.regressor import load_regressor
from scorehmr_ros.eval.baselines import mean_pose_estimate
from scorehmr_ros.eval.heldout import camera_joints, heldout_scenes, joint_errors_mm, regress_scene
from scorehmr_ros.provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    body_model, regressor = load_body_model(), load_regressor()
    print(f"{'clip':28s} {'frames':>6s} {'MPJPE':>7s} {'PA-MPJPE':>9s} | {'mean-pose MPJPE':>15s} {'PA':>6s}")
    totals = {"reg": [], "reg_pa": [], "base": [], "base_pa": [], "seconds": 0.0, "views": 0}
    for scene in heldout_scenes(body_model, num_views=args.views, seed=args.seed):
        reg = regress_scene(body_model, regressor, scene)
        err = joint_errors_mm(body_model, reg.rotations, reg.betas, scene)
        T, V = scene.num_frames, scene.num_views
        gt_orient = (scene.cameras.R.unsqueeze(0) @ scene.rotations[:, None, 0]).reshape(T * V, 3, 3)
        base = joint_errors_mm(body_model, mean_pose_estimate(gt_orient), torch.zeros(T * V, 10), scene)
        assert camera_joints(scene).shape[:2] == (T, V)
        print(
            f"{scene.clip_name:28s} {T:6d} {err['mpjpe'].mean():7.1f} {err['pa_mpjpe'].mean():9.1f} | "
            f"{base['mpjpe'].mean():15.1f} {base['pa_mpjpe'].mean():6.1f}"
        )
        totals["reg"].append(err["mpjpe"])
        totals["reg_pa"].append(err["pa_mpjpe"])
        totals["base"].append(base["mpjpe"])
        totals["base_pa"].append(base["pa_mpjpe"])
        totals["seconds"] += reg.seconds
        totals["views"] += T * V
    cat = {k: torch.cat(v).mean().item() for k, v in totals.items() if isinstance(v, list)}
    print(
        f"{'all held-out (view-frames)':28s} {totals['views']:6d} {cat['reg']:7.1f} {cat['reg_pa']:9.1f} | "
        f"{cat['base']:15.1f} {cat['base_pa']:6.1f}"
    )
    per_view_ms = 1000 * totals["seconds"] / totals["views"]
    print(f"regressor + translation solve: {per_view_ms:.3f} ms per view (batched)")
    if args.out is not None:
        record = {
            "views": args.views,
            "seed": args.seed,
            "view_frames": totals["views"],
            "mpjpe_mm": cat["reg"],
            "pa_mpjpe_mm": cat["reg_pa"],
            "mean_pose_mpjpe_mm": cat["base"],
            "mean_pose_pa_mpjpe_mm": cat["base_pa"],
            "ms_per_view": per_view_ms,
            "provenance": provenance(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
