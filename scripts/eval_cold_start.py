"""The first frame of a stream: is any preset's first published body worse than the regressor's?

    .venv/bin/python scripts/eval_cold_start.py [--out docs/eval/cold_start.json]

For every held-out clip and each of its 3 views (seeded rigs, detector-like noise), a fresh
single-view stream gets that view's first frame. Compared: the start (the regressor's estimate,
the presets' refinement switched off), ``realtime`` and ``quality``. Reported per setting: mean
2D error against the keypoints the stream was given (px), MPJPE against the ground truth
(pelvis-aligned, mm), and in how many first views the preset is worse than the start (2D error,
MPJPE). Also a real photo (scikit-image's astronaut, MediaPipe keypoints, focal = image size):
2D error only. Writes a JSON artefact with provenance.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import PRESETS
from scorehmr_ros.core.refiner import RefineConfig
from scorehmr_ros.core.streaming import StreamingEstimator, ViewInput
from scorehmr_ros.eval.heldout import camera_joints, heldout_scenes
from scorehmr_ros.eval.metrics import mpjpe
from scorehmr_ros.provenance import provenance

SETTINGS = {
    "start (regressor)": dataclasses.replace(PRESETS["realtime"], refine=RefineConfig(iterations=0)),
    "realtime": PRESETS["realtime"],
    "quality": PRESETS["quality"],
}


def first_body(models, config, view: ViewInput):
    """The published body of a fresh stream's first set (flushed when the preset delays it)."""
    est = StreamingEstimator(models, config)
    bodies = est.process(0, [view]) or est.flush()
    return bodies[0] if bodies else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/eval/cold_start.json"
    )
    args = parser.parse_args()
    prov = provenance()
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    rows: dict[str, dict[str, list]] = {name: {"err_2d": [], "mpjpe": []} for name in SETTINGS}
    for scene in heldout_scenes(models.body_model, num_views=3, seed=0, max_frames=1):
        gt = camera_joints(scene)[0]  # (V, 24, 3)
        for v in range(scene.num_views):
            view = ViewInput(
                "cam", scene.keypoints2d[0, v], scene.confidence[0, v], scene.cameras.K[v],
                scene.cameras.image_size[v],
            )  # fmt: skip
            for name, config in SETTINGS.items():
                body = first_body(models, config, view)
                rows[name]["err_2d"].append(body.view_errors_px["cam"])
                rows[name]["mpjpe"].append(
                    1000 * float(mpjpe(body.joints[None].float(), gt[v][None].float()))
                )
    start = rows["start (regressor)"]
    summary = {}
    for name, r in rows.items():
        summary[name] = {
            "first_views": len(r["err_2d"]),
            "err_2d_px_mean": float(np.mean(r["err_2d"])),
            "mpjpe_mm_mean": float(np.mean(r["mpjpe"])),
            "worse_2d_than_start": int(
                sum(a > b + 1e-3 for a, b in zip(r["err_2d"], start["err_2d"], strict=True))
            ),
            "worse_mpjpe_than_start": int(
                sum(a > b + 1e-3 for a, b in zip(r["mpjpe"], start["mpjpe"], strict=True))
            ),
        }
        print(name, summary[name], flush=True)
    photo = {}
    from skimage import data

    from scorehmr_ros.core.detector import BlazePoseDetector

    image = data.astronaut()
    with BlazePoseDetector(static_image_mode=True) as detector:
        det = detector.detect(image)
    h, w = image.shape[:2]
    K = torch.tensor([[float(max(w, h)), 0, w / 2], [0, float(max(w, h)), h / 2], [0, 0, 1]])
    view = ViewInput("photo", torch.as_tensor(det.xy).float(), torch.as_tensor(det.confidence).float(), K,
                     torch.tensor([w, h]))  # fmt: skip
    for name, config in SETTINGS.items():
        photo[name] = first_body(models, config, view).view_errors_px["photo"]
    print("astronaut photo 2D error px:", photo, flush=True)
    record = {"provenance": prov, "heldout_first_views": summary, "photo_err_2d_px": photo}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
