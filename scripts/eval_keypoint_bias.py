"""How much of MediaPipe's 3D error on the rendered body is systematic (a keypoint-definition offset)?

    .venv/bin/python scripts/eval_keypoint_bias.py [--out docs/eval/keypoint_bias.json]

The bench's end-to-end scenes (``scorehmr-bench accuracy`` settings ``e2e``: 3 cameras, and
``e2e-unusual``: 5 cameras; cached MediaPipe detections) are triangulated by the node's robust DLT.
For each of the 12 limb keypoints, the error against the body model's own landmark is expressed
in the body frame (the true global orientation) and split into its mean vector over all frames (an
offset between where MediaPipe puts the keypoint on the rendered mesh and where the model defines
it: no estimator fed these keypoints can remove it) and the rest. Reported per keypoint and
pooled: mean error (mm), norm of the mean vector (mm), and the mean error left after subtracting
each keypoint's mean vector. Writes a JSON artefact with provenance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.eval.bench import (
    BenchConfig,
    e2e_render_seeds,
    e2e_scene,
    unusual_render_seeds,
    unusual_scene,
)
from scorehmr_ros.eval.streaming import LIMB_BLAZEPOSE, triangulate_frame
from scorehmr_ros.provenance import provenance

REPO = Path(__file__).resolve().parents[1]


def body_frame_errors(scene) -> torch.Tensor:
    """(T, 12, 3) DLT error of the limb keypoints in the body frame (NaN: not triangulated), m."""
    out = []
    for t in range(scene.num_frames):
        pts = triangulate_frame(scene, t).double()[list(LIMB_BLAZEPOSE)]
        gt = scene.keypoints3d_world[t].double()[list(LIMB_BLAZEPOSE)]
        out.append((pts - gt) @ scene.rotations[t, 0].double())  # rows: R^T (x - g)
    return torch.stack(out)


def split(errors: torch.Tensor) -> dict:
    """Per keypoint and pooled: mean error, norm of the mean error vector, error left without it (mm)."""
    rows, total, left = {}, [], []
    for k, name in enumerate(LIMB_KEYPOINT_NAMES):
        e = errors[:, k]
        e = e[torch.isfinite(e).all(-1)]
        bias = e.mean(0)
        rows[name] = {
            "n": len(e),
            "mean_error_mm": 1000 * float(e.norm(dim=-1).mean()),
            "offset_mm": 1000 * float(bias.norm()),
            "error_without_offset_mm": 1000 * float((e - bias).norm(dim=-1).mean()),
        }
        total.append(e.norm(dim=-1))
        left.append((e - bias).norm(dim=-1))
    pooled = {
        "mean_error_mm": 1000 * float(torch.cat(total).mean()),
        "error_without_offset_mm": 1000 * float(torch.cat(left).mean()),
    }
    return {"per_keypoint": rows, "pooled": pooled}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs/eval/keypoint_bias.json")
    args = parser.parse_args()
    prov = provenance()
    models = ScoreHMRModels.load()
    cfg = BenchConfig()
    jobs = [("e2e", c, s) for c, s in e2e_render_seeds(cfg).items()]
    jobs += [("e2e-unusual", c, s) for c, s in unusual_render_seeds(cfg).items()]
    errors: dict[str, list[torch.Tensor]] = {}
    for setting, clip, seed in tqdm(jobs, desc="scenes"):
        if setting == "e2e":
            scene = e2e_scene(models.body_model, clip, cfg, seed)[0]
        else:
            scene = unusual_scene(models.body_model, clip, cfg, seed)
        errors.setdefault(setting, []).append(body_frame_errors(scene))
    record = {"provenance": prov, "settings": {}}
    for setting, errs in errors.items():
        record["settings"][setting] = split(torch.cat(errs))
        pooled = record["settings"][setting]["pooled"]
        print(
            f"{setting}: DLT limb keypoint error {pooled['mean_error_mm']:.1f} mm, "
            f"{pooled['error_without_offset_mm']:.1f} mm without each keypoint's body-frame offset"
        )
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
