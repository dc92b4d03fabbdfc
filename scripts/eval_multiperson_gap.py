"""Where the multi-person "together vs alone" gap comes from (scripts/eval_multiperson.py's scene).

One held-out scene of ``--people`` people seen by 3 calibrated cameras is detected twice per view:
on the image with everybody (together) and on each person's solo render (alone). The same
multi-person estimator (association, tracking, calibrated refinement) then runs on keypoint lists
built from those detections:

- ``together``: the detections of the images with everybody (what the node sees);
- ``alone_union``: in every view, each person's detection from their solo render (the people's
  2D evidence without occlusion by one another, still estimated together);
- ``alone_in_view_<v>``: together, except that in view ``v`` each person's detection is replaced by
  their solo one (the person's together detection there: the one nearest the solo one);
- ``together_detection_diff_px``: per person, the mean over views and frames of the mean limb-
  keypoint distance between their together and solo detections, and how many (frame, view) pairs
  are over 20 px.

Per-person MPJPE (pelvis-aligned, mm) as in eval_multiperson.py. Writes a JSON artefact.
    python scripts/eval_multiperson_gap.py --people 2 --out docs/eval/experiments/multiperson_gap/gap.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=1.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="realtime")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/eval/experiments/multiperson_gap/gap.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from eval_multiperson import score

    from scorehmr_ros import Estimator, View
    from scorehmr_ros.core.association import keypoint_indices
    from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    P = args.people
    base = Estimator.from_pretrained(preset=args.preset)
    seq = build_multi_sequence(
        P,
        3,
        seed=args.seed,
        num_frames=args.frames,
        frame_stride=args.stride,
        spacing=args.spacing,
        solo=True,
    )
    T, V = seq.num_frames, seq.num_views
    limb = keypoint_indices(LIMB_KEYPOINT_NAMES)
    detector = MultiPersonPoseDetector(max_people=P + 3, num_threads=args.threads)
    jobs = [(None, t, v) for t in range(T) for v in range(V)] + [
        (p, t, v) for p in range(P) for t in range(T) for v in range(V)
    ]
    found = {}
    for p, t, v in tqdm(jobs, desc="detection"):
        image = seq.images[t, v] if p is None else seq.solo_images[p, t, v]
        found[p, t, v] = [(d.xy, d.confidence) for d in detector.detect(image)]
    detector.close()

    def solo(p, t, v):
        return found[p, t, v][0] if found[p, t, v] else None

    def nearest(t, v, p):
        """Index of the together detection nearest person p's solo one (None: either missing)."""
        s, dets = solo(p, t, v), found[None, t, v]
        if s is None or not dets:
            return None
        return int(np.argmin([np.linalg.norm(d[0][limb] - s[0][limb], axis=-1).mean() for d in dets]))

    def run(lists) -> dict[str, float]:
        est = Estimator(base.models, base.config, max_people=P + 1, person_birth_frames=2)
        stream = est.stream()
        per_frame = {}
        index = {int(t * 1e9 / seq.fps): t for t in range(T)}
        for t in range(T):
            views = [
                View(
                    seq.K[v],
                    people=lists[t][v],
                    camera=seq.camera_names[v],
                    cam_to_ref=seq.cam_to_ref(v),
                    image_size=seq.image_size,
                )
                for v in range(V)
            ]
            for b in stream.push_many([(int(t * 1e9 / seq.fps), views)]).bodies:
                per_frame.setdefault(index[b.stamp_ns], {})[b.id] = b.joints
        for b in stream.flush():
            per_frame.setdefault(index[b.stamp_ns], {})[b.id] = b.joints
        stream.close()
        return {str(p): e for p, (e, _) in score(seq, per_frame, list(range(P)))[0].items()}

    together = [[list(found[None, t, v]) for v in range(V)] for t in range(T)]
    rows = {"together": run(together)}
    rows["alone_union"] = run(
        [[[solo(p, t, v) for p in range(P) if solo(p, t, v)] for v in range(V)] for t in range(T)]
    )
    for view in range(V):
        lists = [[list(found[None, t, v]) for v in range(V)] for t in range(T)]
        for t in range(T):
            for p in range(P):
                j = nearest(t, view, p)
                if j is not None:
                    lists[t][view][j] = solo(p, t, view)
        rows[f"alone_in_view_{view}"] = run(lists)
    diffs = {}
    for p in range(P):
        d = []
        for t in range(T):
            for v in range(V):
                j = nearest(t, v, p)
                if j is not None:
                    d.append(
                        float(
                            np.linalg.norm(
                                together[t][v][j][0][limb] - solo(p, t, v)[0][limb], axis=-1
                            ).mean()
                        )
                    )
        diffs[str(p)] = {
            "mean_px": float(np.mean(d)),
            "pairs_over_20px": int(np.sum(np.array(d) > 20)),
            "pairs": len(d),
        }
    for name, row in rows.items():
        print(f"{name:18s} " + " ".join(f"{p}: {e:.1f}" for p, e in row.items()), flush=True)
    write_artefact(
        ROOT / args.out,
        "multi-person gap decomposition: per-person MPJPE (mm) with together / solo detections "
        "(scripts/eval_multiperson_gap.py)",
        vars(args),
        clips=[pp.clip_name for pp in seq.people],
        mpjpe_mm=rows,
        together_detection_diff_px=diffs,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
