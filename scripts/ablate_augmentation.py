"""How much each training-pose augmentation helps the regressor on the held-out clips.

    .venv/bin/python scripts/ablate_augmentation.py [--steps 2500] [--out PATH]

Trains one regressor per setting (all augmentations; each one switched off; none) with the same
seed and step budget, and reports held-out MPJPE / PA-MPJPE (3 views, detector-like noise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_regressor import train_regressor

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.eval.heldout import heldout_scenes, joint_errors_mm, regress_scene
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.mocap import augmented_training_poses

SETTINGS = {
    "all": {},
    "no_interpolation": {"p_interpolate": 0.0},
    "no_recombination": {"p_recombine": 0.0},
    "no_mirroring": {"p_mirror": 0.0},
    "no_perturbation": {"perturb_sigma_deg": 0.0},
    "no_yaw": {"yaw": False},
    "none": {
        "p_interpolate": 0.0,
        "p_recombine": 0.0,
        "p_mirror": 0.0,
        "perturb_sigma_deg": 0.0,
        "yaw": False,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--pool", type=int, default=60000)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "docs" / "eval" / "augmentation_ablation.json",
    )
    args = parser.parse_args()
    body_model = load_body_model()
    scenes = heldout_scenes(body_model, num_views=3, seed=0, frame_stride=2)
    results = {}
    for name, kwargs in SETTINGS.items():
        pool = augmented_training_poses(args.pool, seed=0, **kwargs)
        model = train_regressor(body_model, pool, args.steps, seed=0, desc=name)
        errs = {"mpjpe": [], "pa_mpjpe": []}
        with torch.no_grad():
            for scene in scenes:
                reg = regress_scene(body_model, model, scene)
                e = joint_errors_mm(body_model, reg.rotations, reg.betas, scene)
                for k in errs:
                    errs[k].append(e[k])
        results[name] = {k: torch.cat(v).mean().item() for k, v in errs.items()}
        print(
            f"{name:18s} MPJPE {results[name]['mpjpe']:6.1f}  PA-MPJPE {results[name]['pa_mpjpe']:6.1f}",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"steps": args.steps, "results": results, "provenance": provenance()}
    args.out.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
