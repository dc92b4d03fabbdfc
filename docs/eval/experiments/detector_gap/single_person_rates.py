"""One person, 3 calibrated cameras, the single-person path (MediaPipe's pose solution in video
mode) at the rates a node refines sets: every held-out clip at 30 fps and sub-sampled to about
5 Hz and 2 Hz (played forward then backward, so a short clip gives enough sets without a jump in
pose). Per clip and rate: MPJPE (pelvis-aligned, mm) and the sets that gave a body, with
``limb_model`` none and MoveNet (the calibrated default). Through the API with stamps, as the node
calls it.

    python docs/eval/experiments/detector_gap/single_person_rates.py --out <file.json>
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "docs" / "eval" / "experiments" / "rig_reference"))

from demo_scene import _Resampled  # noqa: E402
from eval_multiperson import run, score  # noqa: E402

from scorehmr_ros import Estimator  # noqa: E402
from scorehmr_ros.provenance import write_artefact  # noqa: E402
from scorehmr_ros.sim.mocap import HELDOUT_CLIPS, load_mocap  # noqa: E402
from scorehmr_ros.sim.multi_sequence import build_multi_sequence  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 6, 15], help="every n-th 30 fps frame")
    ap.add_argument("--sets", type=int, default=30, help="sets per sub-sampled run")
    args = ap.parse_args()
    torch.set_num_threads(2)
    clips = load_mocap()
    base = Estimator.from_pretrained("realtime")
    results = {}
    for clip in HELDOUT_CLIPS:
        stride = max(1, round(clips[clip].fps / 30))
        seq = build_multi_sequence(
            1, 3, seed=0, num_frames=None, frame_stride=stride, clip_names=(clip,), clips=clips
        )
        for step in args.steps:
            view = seq if step == 1 else _Resampled(seq, step, args.sets, bounce=True)
            for limb in ("none", "movenet_thunder"):
                est = Estimator(base.models, "realtime", max_people=1, limb_model=limb)
                bodies, _ = run(est, view, view.images)
                (err, frames) = score(view, bodies, [0])[0][0]
                key = f"{clip} step {step} ({view.fps:.1f} Hz) {limb}"
                results[key] = {"mpjpe_mm": err, "frames": frames, "sets": view.num_frames}
                print(key, results[key], flush=True)
    for step in args.steps:
        for limb in ("none", "movenet_thunder"):
            rows = [
                v for k, v in results.items() if f" step {step} " in k and k.endswith(limb) and v["frames"]
            ]
            total = sum(r["frames"] for r in rows)
            results[f"all clips step {step} {limb}"] = {
                "mpjpe_mm": float(np.sum([r["mpjpe_mm"] * r["frames"] for r in rows]) / max(total, 1)),
                "frames": total,
                "sets": sum(r["sets"] for r in rows),
            }
    write_artefact(
        args.out,
        "single-person path at node rates: MPJPE per held-out clip, 3 calibrated cameras, API with stamps",
        {"steps": args.steps, "sets": args.sets, "preset": "realtime", "max_people": 1},
        results=results,
    )


if __name__ == "__main__":
    main()
