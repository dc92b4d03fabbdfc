"""The knee-flexion sign of every frame of the bundled mocap clips, with the true labels
(``core.triangulation.knee_flexion`` on the SMPL joints of the synthetic body model): the evidence
for ``core.triangulation.MIRROR_MARGIN``. Under the mirror labelling every value changes sign.

    python scripts/probe_knee_flexion.py --out docs/eval/knee_flexion.json
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.core.triangulation import MIRROR_MARGIN, knee_flexion, leg_flexions
from scorehmr_ros.provenance import write_artefact
from scorehmr_ros.sim.mocap import load_mocap

NAMES = list(JOINT_INDEX)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    bm, clips = load_body_model(), load_mocap()
    rows, every, lowest = {}, [], []
    for name, clip in clips.items():
        with torch.no_grad():
            joints = bm.skeleton(clip.rotations[:, 0], clip.rotations[:, 1:])
        values = np.array([knee_flexion(j, NAMES) for j in joints])
        legs = np.array([leg_flexions(j, NAMES) for j in joints], dtype=float)  # (T, 2)
        every.append(values)
        lowest.append(legs.min(1))
        rows[name] = {
            "split": clip.split,
            "frames": len(values),
            "min": float(values.min()),
            "p5": float(np.percentile(values, 5)),
            "median": float(np.median(values)),
            "lowest_leg_min": float(legs.min()),
        }
        print(name, rows[name], flush=True)
    values, lowest = np.concatenate(every), np.concatenate(lowest)
    summary = {
        "lowest_leg_min": float(lowest.min()),
        "frames_with_a_leg_below_0": int((lowest < 0).sum()),
        "frames": len(values),
        "min": float(values.min()),
        "undecided_within_margin": int((np.abs(values) < MIRROR_MARGIN).sum()),
        "negative_with_true_labels": int((values < 0).sum()),
    }
    print(summary)
    write_artefact(
        args.out,
        "knee-flexion sign of every mocap frame with the true labels (the mirror labelling negates it)",
        {"margin": MIRROR_MARGIN},
        results={"clips": rows, "all": summary},
    )


if __name__ == "__main__":
    main()
