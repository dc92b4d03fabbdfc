"""Single-person mode with and without the tile fallback (core.fallback_detector), people small in view.

The scenes of ``scripts/eval_multiperson.py`` (held-out clips side by side, 1.2 m apart, 3 calibrated
cameras, 640x480), each person rendered ALONE: the people far along the row, and the one lying on
the floor, fill little of the image. For every person, ``Estimator(max_people=1)`` streams the
person's solo renders (in-node MediaPipe path) with ``tile_fallback`` off (``legacy``: MediaPipe's
pose solution only), on with the fallback's person re-detected on tiles every frame
(``fallback_untracked``, the behaviour before the tracking) and on as shipped (``fallback``: the
person the tiles found is tracked by one landmark call per frame). Reports per person:

- views with a detection (of frames x cameras), how many the fallback supplied (tiles or tracked)
  and how many of those were tracked;
- frames with a published body;
- MPJPE (pelvis-aligned, mm) and fixed-frame pelvis error (cam1's frame; mean and worst, mm) over
  the frames published by BOTH runs, and over every frame each run published;
- detection ms per set (median over the sets after the first two).

    .venv/bin/python scripts/eval_single_person_fallback.py --out docs/eval/single_person_fallback.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[1]


def run(est, seq, images, track: bool = True) -> tuple[dict[int, np.ndarray], int, int, int, list[float]]:
    """Published joints per frame {t: (24, 3)}, views detected, views the fallback supplied, views
    it tracked, and detection ms per set, for one stream over ``images`` (T, V, H, W, 3);
    ``track`` False turns the fallback's tracking off in every camera's detector."""
    from scorehmr_ros import View

    stream = est.stream()
    for camera in seq.camera_names:
        detector = stream.detector(camera)
        if hasattr(detector, "track"):
            detector.track = track
    joints: dict[int, np.ndarray] = {}
    detected = from_fallback = tracked = 0
    timings = []
    index = {}
    for t in range(seq.num_frames):
        stamp = int(t * 1e9 / seq.fps)
        index[stamp] = t
        views = [
            View(seq.K[v], image=images[t, v], camera=seq.camera_names[v], cam_to_ref=seq.cam_to_ref(v))
            for v in range(seq.num_views)
        ]
        rep = stream.push_many([(stamp, views)])
        missing = sum(reason == "no_person" for _, reason, _ in rep.view_drops)
        detected += seq.num_views - missing
        sources = [getattr(stream.detector(v.camera), "last_source", None) for v in views]
        from_fallback += sum(s in ("fallback", "tracked") for s in sources)
        tracked += sum(s == "tracked" for s in sources)
        timings.append(rep.timings_ms["detection"])
        for b in rep.bodies:
            joints[index[b.stamp_ns]] = b.joints
    for b in stream.flush():
        joints[index[b.stamp_ns]] = b.joints
    stream.close()
    return joints, detected, from_fallback, tracked, timings


def errors(gt: np.ndarray, joints: dict[int, np.ndarray], frames: list[int]) -> dict:
    """MPJPE (pelvis-aligned) and pelvis error (mm) over ``frames`` of ``joints``; gt (T, 24, 3)."""
    from scorehmr_ros.eval.metrics import mpjpe

    if not frames:
        return {"frames": 0, "mpjpe_mm": None, "pelvis_mm_mean": None, "pelvis_mm_max": None}
    pred = torch.as_tensor(np.stack([joints[t] for t in frames]), dtype=torch.float64)
    true = torch.as_tensor(gt[frames], dtype=torch.float64)
    pelvis = 1000 * (pred[:, 0] - true[:, 0]).norm(dim=-1)
    return {
        "frames": len(frames),
        "mpjpe_mm": float(1000 * mpjpe(pred, true).mean()),
        "pelvis_mm_mean": float(pelvis.mean()),
        "pelvis_mm_max": float(pelvis.max()),
    }


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=4, help="people in the row (each rendered alone)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=1.2)
    ap.add_argument("--preset", default="realtime")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/eval/single_person_fallback.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    from scorehmr_ros import Estimator
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    base = Estimator.from_pretrained(preset=args.preset)
    estimators = {  # setting -> (estimator, track the fallback's person)
        "legacy": (Estimator(base.models, args.preset, tile_fallback=False), False),
        "fallback_untracked": (Estimator(base.models, args.preset, tile_fallback=True), False),
        "fallback": (Estimator(base.models, args.preset, tile_fallback=True), True),
    }
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        seq = build_multi_sequence(
            args.people,
            3,
            seed=seed,
            num_frames=args.frames,
            frame_stride=args.stride,
            spacing=args.spacing,
            solo=True,
        )
        print(f"seed {seed}: rendered in {time.perf_counter() - t0:.1f} s", flush=True)
        for p in range(args.people):
            gt = seq.joints_in_camera(p, 0)
            runs = {name: run(e, seq, seq.solo_images[p], track) for name, (e, track) in estimators.items()}
            both = sorted(set(runs["legacy"][0]) & set(runs["fallback"][0]))
            row = {"seed": seed, "person": p, "clip": seq.people[p].clip_name, "views": seq.num_frames * 3}
            for name, (joints, detected, from_fallback, tracked, timings) in runs.items():
                row[name] = {
                    "views_detected": detected,
                    "views_from_fallback": from_fallback,
                    "views_tracked": tracked,
                    "frames_published": len(joints),
                    "all_published": errors(gt, joints, sorted(joints)),
                    "published_by_both": errors(gt, joints, both),
                    "ms_per_set_detection_median": float(np.median(timings[2:] or timings)),
                }
            modes = [row[name] for name in estimators]
            print(
                f"  {row['clip']:28s} of {row['views']} views / MPJPE mm / detection ms per set: "
                + " -> ".join(
                    f"{m['views_detected']} / {_mm(m['all_published']['mpjpe_mm'])} / "
                    f"{m['ms_per_set_detection_median']:.0f}"
                    for m in modes
                ),
                flush=True,
            )
            rows.append(row)
    write_artefact(
        ROOT / args.out,
        "single-person mode without the tile fallback, with it re-detecting every frame, and with it "
        "tracking (shipped) on solo renders of the multi-person scenes "
        "(scripts/eval_single_person_fallback.py)",
        vars(args),
        rows=rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
