"""The demo's two-person scene (dance_b and the lying getup_faceup, 3 calibrated cameras, every
frame at 30 fps) through the API: per-person MPJPE together and each person alone, with the
multi-person path (``max_people`` 3) and alone also with the single-person path (limb model none
and MoveNet). The views give ``cam_to_ref`` into camera 1's frame and no ``reference`` name, as a
notebook user would; before 26d174c a person first seen in sets where camera 1 found nobody came out
in another camera's frame (scored here against camera 1's truth).

    python docs/eval/experiments/rig_reference/demo_scene.py --out <file.json>
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "scripts"))

from eval_multiperson import run, score  # noqa: E402

from scorehmr_ros import Estimator  # noqa: E402
from scorehmr_ros.core.presets import get_preset  # noqa: E402
from scorehmr_ros.provenance import write_artefact  # noqa: E402
from scorehmr_ros.sim.multi_sequence import build_multi_sequence, clips_with  # noqa: E402


class _Resampled:
    """The sequence as a slower camera sees it looped: set k is frame (k * step) mod T, stamped
    k * step / fps (what eval_multiperson.run and score read: images, solo_images, joints, fps)."""

    def __init__(self, seq, step: int, sets: int, bounce: bool = False):
        self._seq = seq
        if bounce:  # forward then backward (0 .. T-1 .. 1): no jump at the wrap
            period = 2 * (seq.num_frames - 1)
            phase = np.arange(sets) * step % period
            self._index = np.where(phase < seq.num_frames, phase, period - phase)
        else:
            self._index = np.arange(sets) * step % seq.num_frames
        self.num_frames = sets
        self.fps = seq.fps / step
        self.images = seq.images[self._index]
        solo = () if seq.solo_images is None else seq.solo_images
        self.solo_images = [images[self._index] for images in solo]

    def joints_in_camera(self, person: int, view: int) -> np.ndarray:
        return self._seq.joints_in_camera(person, view)[self._index]

    def __getattr__(self, name):
        return getattr(self._seq, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--step", type=int, default=1,
        help="take every n-th frame of the looped 30 fps clip (16: about the demo node's 2 Hz)",
    )  # fmt: skip
    ap.add_argument("--sets", type=int, default=60, help="sets to run (the clip is looped)")
    ap.add_argument("--bounce", action="store_true", help="play the clip forward then backward")
    ap.add_argument("--fit-memory-s", type=float, default=None, help="StreamingConfig.fit_memory_s")
    ap.add_argument("--multi-only", action="store_true", help="only the multi-person path's rows")
    args = ap.parse_args()
    torch.set_num_threads(2)
    seq = build_multi_sequence(
        2, 3, seed=0, num_frames=60, frame_stride=2, clip_names=clips_with("humanoid3d_dance_b"),
        spacing=1.2, solo=True,
    )  # fmt: skip
    if args.step != 1 or args.sets != seq.num_frames or args.bounce:
        seq = _Resampled(seq, args.step, args.sets, args.bounce)
    base = Estimator.from_pretrained("realtime")
    preset = get_preset("realtime")
    if args.fit_memory_s is not None:
        preset = dataclasses.replace(preset, fit_memory_s=args.fit_memory_s)
    multi = Estimator(base.models, preset, max_people=3, person_birth_frames=2)
    rows = {}
    together, _ = run(multi, seq, seq.images)
    rows["together_multi_person"] = score(seq, together, [0, 1])[0]
    for p in (0, 1):
        alone, _ = run(multi, seq, seq.solo_images[p])
        rows[f"alone_{p}_multi_person"] = score(seq, alone, [p])[0]
        for limb in () if args.multi_only else ("none", "movenet_thunder"):
            single = Estimator(base.models, preset, max_people=1, limb_model=limb)
            alone, _ = run(single, seq, seq.solo_images[p])
            rows[f"alone_{p}_single_person_{limb}"] = score(seq, alone, [p])[0]
        print(rows, flush=True)
    results = {
        name: {str(p): {"mpjpe_mm": e, "frames": n} for p, (e, n) in per.items()}
        for name, per in rows.items()
    }
    write_artefact(
        args.out,
        "demo scene (dance_b + getup_faceup), per-person MPJPE together / alone through the API",
        {
            "clips": [pp.clip_name for pp in seq.people],
            "sets": seq.num_frames,
            "step": args.step,
            "bounce": args.bounce,
            "fit_memory_s": preset.fit_memory_s,
            "preset": "realtime",
        },
        results=results,
    )


if __name__ == "__main__":
    main()
