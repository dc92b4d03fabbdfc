"""Regressor training ablation: checkpoints side by side on the held-out clips, per corruption setting.

    .venv/bin/python scripts/compare_regressors.py NAME=PATH [NAME=PATH ...]
        [--settings clean noisy hard] [--views 3] [--out docs/eval/regressor_corruption.json]

Every checkpoint sees the same held-out scenes (same seeds, cameras and corruption draws) in each
setting of ``scorehmr-bench accuracy`` (clean, noisy = the default detector model, hard = ``HARD``,
e2e = MediaPipe on the bench's rendered held-out clips; view-frames where MediaPipe found nobody
are left out).
Reports MPJPE / PA-MPJPE (mm) over all view-frames, on the frames where the body lies more than
60 degrees from upright, and per clip. The checkpoints' training metadata is copied into the record.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.checkpoint import load_checkpoint
from scorehmr_ros.core.regressor import load_regressor
from scorehmr_ros.eval.bench import SETTINGS, BenchConfig, e2e_render_seeds, e2e_scene
from scorehmr_ros.eval.heldout import heldout_scenes, joint_errors_mm, regress_scene
from scorehmr_ros.provenance import provenance
from scorehmr_ros.sim.mocap import is_lying


def evaluate(body_model, regressor, scenes) -> dict:
    """{'all': {...}, 'lying': {...}, 'clips': {name: {...}}}, each {'mpjpe', 'pa_mpjpe', 'n'} (mm)."""
    errs, pa, lying, clips = [], [], [], {}
    for scene in scenes:
        reg = regress_scene(body_model, regressor, scene)
        err = joint_errors_mm(body_model, reg.rotations, reg.betas, scene)
        seen = (scene.confidence.reshape(-1, scene.confidence.shape[-1]) > 0).any(-1)  # a person found
        lying_frames = is_lying(scene.rotations).repeat_interleave(scene.num_views)[seen]
        e, p = err["mpjpe"][seen], err["pa_mpjpe"][seen]
        errs.append(e)
        pa.append(p)
        lying.append(lying_frames)
        clips[scene.clip_name] = _summary(e, p)
    e, p, ly = torch.cat(errs), torch.cat(pa), torch.cat(lying)
    return {"all": _summary(e, p), "lying": _summary(e[ly], p[ly]), "clips": clips}


def _scenes(body_model, setting: str, views: int, seed: int) -> list:
    if setting != "e2e":
        return heldout_scenes(body_model, views, seed, corruption=SETTINGS[setting])
    cfg = BenchConfig()  # the bench's rendered clips, rigs and render seeds
    return [e2e_scene(body_model, clip, cfg, seed)[0] for clip, seed in e2e_render_seeds(cfg).items()]


def _summary(mpjpe: torch.Tensor, pa: torch.Tensor) -> dict:
    n = int(mpjpe.numel())
    if n == 0:
        return {"mpjpe": None, "pa_mpjpe": None, "n": 0}
    return {"mpjpe": mpjpe.mean().item(), "pa_mpjpe": pa.mean().item(), "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH")
    parser.add_argument(
        "--settings", nargs="+", default=["clean", "noisy", "hard", "e2e"], choices=[*SETTINGS, "e2e"]
    )
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/eval/regressor_corruption.json"))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.manual_seed(args.seed)
    body_model = load_body_model()
    named = [c.split("=", 1) for c in args.checkpoints]
    if any(len(c) != 2 for c in named):
        parser.error("checkpoints are NAME=PATH")
    record = {"settings": args.settings, "views": args.views, "seed": args.seed, "regressors": {}}
    for setting in args.settings:
        scenes = _scenes(body_model, setting, args.views, args.seed)
        for name, path in named:
            res = evaluate(body_model, load_regressor(path), scenes)
            entry = record["regressors"].setdefault(name, {"path": path, "results": {}})
            payload = load_checkpoint(path)
            entry["training"] = {k: v for k, v in payload.items() if k not in ("config", "state_dict")}
            entry["results"][setting] = res
            a, ly = res["all"], res["lying"]
            print(
                f"{setting:6s} {name:24s} MPJPE {a['mpjpe']:6.1f} PA {a['pa_mpjpe']:6.1f} | "
                f"lying ({ly['n']} view-frames) {ly['mpjpe'] or float('nan'):6.1f} "
                f"PA {ly['pa_mpjpe'] or float('nan'):6.1f}",
                flush=True,
            )
    record["provenance"] = provenance()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
