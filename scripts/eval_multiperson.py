"""Multi-person measurement on rendered held-out scenes (scorehmr_ros.sim.multi_sequence).

For P = 1..max people side by side, seen by 3 calibrated cameras (bodies in cam1's frame), runs
``Estimator(max_people=P+1).stream()`` on the images (multi-person BlazePose -> association ->
tracking -> one StreamingEstimator per id) and, for comparison, the same pipeline on each person
rendered alone by the same cameras. Reports, per P:

- per-person MPJPE (pelvis-aligned, mm) together and alone, and their ratio;
- id switches: per ground-truth person, changes of the id matched to it (Hungarian on pelvis
  distance, gate 0.5 m) between consecutive matched frames; per 100 frames;
- ghosts: published bodies farther than 0.5 m from every person, and the longest run (frames) of
  one ghost id;
- ms per set: detection (all views) and estimation (association + tracking + refinement),
  medians over the sets after the first two (and the detection mean: with ``--redetect-every`` n
  most sets only track).

Writes a JSON artefact (git describe, argv, CPU, threads, date).
    python scripts/eval_multiperson.py --max-people 3 --frames 12 --out docs/eval/multiperson.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[1]
GATE_M = 0.5


def run(est, seq, images, views_idx=range(3)):
    """Bodies per frame {id: joints (24, 3)} and per-set timings of one stream over ``images``."""
    from scorehmr_ros import View

    stream = est.stream()
    per_frame: dict[int, dict[str, np.ndarray]] = {}
    timings = []
    stamp = lambda t: int(t * 1e9 / seq.fps)  # noqa: E731
    index = {}
    for t in range(seq.num_frames):
        views = [
            View(seq.K[v], image=images[t, v], camera=seq.camera_names[v], cam_to_ref=seq.cam_to_ref(v))
            for v in views_idx
        ]
        index[stamp(t)] = t
        rep = stream.push_many([(stamp(t), views)])
        timings.append(
            (
                rep.timings_ms["detection"],
                rep.timings_ms.get("association", 0.0) + rep.timings_ms["estimation"],
            )
        )
        for b in rep.bodies:
            per_frame.setdefault(index[b.stamp_ns], {})[b.id] = b.joints
    for b in stream.flush():
        per_frame.setdefault(index[b.stamp_ns], {})[b.id] = b.joints
    stream.close()
    return per_frame, timings


def score(seq, per_frame, people):
    """Per-person MPJPE (mm), id switches, ghost bodies and the longest ghost run."""
    from scorehmr_ros.eval.metrics import mpjpe

    gt = {p: seq.joints_in_camera(p, 0) for p in people}
    errors = {p: [] for p in people}
    last_id = {p: None for p in people}
    switches = 0
    ghosts = 0
    ghost_run: dict[str, int] = {}
    longest = 0
    for t in range(seq.num_frames):
        bodies = per_frame.get(t, {})
        ids = list(bodies)
        if ids:
            d = np.array([[np.linalg.norm(bodies[i][0] - gt[p][t, 0]) for p in people] for i in ids])
            rows, cols = linear_sum_assignment(d)
            matched = set()
            for r, c in zip(rows, cols, strict=True):
                if d[r, c] > GATE_M:
                    continue
                p = people[c]
                matched.add(ids[r])
                e = mpjpe(torch.as_tensor(bodies[ids[r]])[None], torch.as_tensor(gt[p][t])[None])
                errors[p].append(1000 * float(e))
                if last_id[p] is not None and last_id[p] != ids[r]:
                    switches += 1
                last_id[p] = ids[r]
            for i in ids:
                if i not in matched:
                    ghosts += 1
                    ghost_run[i] = ghost_run.get(i, 0) + 1
                    longest = max(longest, ghost_run[i])
                else:
                    ghost_run[i] = 0
    return (
        {p: (float(np.mean(v)) if v else None, len(v)) for p, v in errors.items()},
        switches,
        ghosts,
        longest,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-people", type=int, default=3)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=1.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="realtime")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--birth-frames", type=int, default=2)
    ap.add_argument(
        "--limb-length-tolerance",
        type=float,
        help="StreamingConfig.limb_length_tolerance for the preset (default: the preset's)",
    )
    ap.add_argument(
        "--model-complexity", type=int, default=1, choices=(0, 1, 2), help="BlazePose landmark model"
    )
    ap.add_argument(
        "--redetect-every",
        type=int,
        help="Estimator person_redetect_every: person detector on every n-th image, landmarks tracked "
        "in between (1: detect every image; default: the Estimator's)",
    )
    ap.add_argument(
        "--track-gap", type=float, help="Estimator person_track_gap_s (s; default: the Estimator's)"
    )
    ap.add_argument("--out", default="docs/eval/multiperson.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from scorehmr_ros import Estimator
    from scorehmr_ros.core.presets import get_preset
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    preset = get_preset(args.preset)
    if args.limb_length_tolerance is not None:
        preset = dataclasses.replace(preset, limb_length_tolerance=args.limb_length_tolerance)
    base = Estimator.from_pretrained(preset=preset)
    tracking = {  # only what the command line sets; the rest stays the Estimator's default
        name: value
        for name, value in (
            ("person_redetect_every", args.redetect_every),
            ("person_track_gap_s", args.track_gap),
        )
        if value is not None
    }
    results = []
    for P in range(1, args.max_people + 1):
        t0 = time.perf_counter()
        seq = build_multi_sequence(
            P,
            3,
            seed=args.seed,
            num_frames=args.frames,
            frame_stride=args.stride,
            spacing=args.spacing,
            solo=P > 1,
        )
        render_s = time.perf_counter() - t0
        est = Estimator(
            base.models,
            preset,
            max_people=P + 1,
            person_birth_frames=args.birth_frames,
            model_complexity=args.model_complexity,
            **tracking,
        )
        together, timings = run(est, seq, seq.images)
        err, switches, ghosts, longest = score(seq, together, list(range(P)))
        alone = {}
        if P > 1:
            for p in range(P):
                solo_frames, _ = run(est, seq, seq.solo_images[p])
                alone[p] = score(seq, solo_frames, [p])[0][p]
        else:
            alone = {0: err[0]}
        steady = timings[2:] or timings
        row = {
            "people": P,
            "clips": [pp.clip_name for pp in seq.people],
            "frames": seq.num_frames,
            "render_s": round(render_s, 1),
            "mpjpe_mm_together": {str(p): err[p][0] for p in range(P)},
            "frames_matched_together": {str(p): err[p][1] for p in range(P)},
            "mpjpe_mm_alone": {str(p): alone[p][0] for p in range(P)},
            "frames_matched_alone": {str(p): alone[p][1] for p in range(P)},
            "mpjpe_ratio": {
                str(p): (err[p][0] / alone[p][0] if err[p][0] and alone[p][0] else None) for p in range(P)
            },
            "id_switches": switches,
            "id_switches_per_100_frames": 100.0 * switches / seq.num_frames,
            "ghost_bodies": ghosts,
            "longest_ghost_run_frames": longest,
            "ms_per_set_detection_median": float(np.median([d for d, _ in steady])),
            "ms_per_set_detection_mean": float(np.mean([d for d, _ in steady])),
            "ms_per_set_estimation_median": float(np.median([e for _, e in steady])),
        }
        print(json.dumps(row), flush=True)
        results.append(row)
    write_artefact(
        ROOT / args.out,
        "multi-person rendered held-out scenes: per-person MPJPE together vs alone, id switches, "
        "ghosts, ms per set (scripts/eval_multiperson.py)",
        vars(args),
        results=results,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
