"""Experiment: MoveNet's limb keypoints instead of (or averaged with) BlazePose's, together vs alone.

The scene of ``scripts/eval_multiperson_gap.py`` (held-out people side by side, 3 calibrated
cameras, each person also rendered alone). Every person the multi-person BlazePose detector finds
is also run through MoveNet (thunder or lightning, ``convert.sh``'s ONNX files) on the same rotated
ROI; its 12 limb keypoints (shoulders, elbows, wrists, hips, knees, ankles; score <= 0.2 -> weight 0)
replace BlazePose's (``mn``) or are averaged with them by confidence (``avg``). The same
multi-person estimator then runs on the images with everybody (together) and on each person's solo
render (alone). Per-person MPJPE (pelvis-aligned, mm) as in eval_multiperson.py.

    bash docs/eval/experiments/movenet/convert.sh /tmp/movenet
    .venv/bin/python docs/eval/experiments/movenet/eval_movenet_limbs.py --models /tmp/movenet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "scripts"))
MODES = ("blazepose", "thunder", "lightning", "avg_thunder", "avg_lightning")
MIN_SCORE = 0.2


def movenet_limbs(session, image, roi):
    """(12, 2) image px and (12,) scores of MoveNet's limb keypoints in ``roi``'s crop."""
    import cv2

    size = session.get_inputs()[0].shape[1]
    to_image = roi.crop_to_image(size)
    crop = cv2.warpAffine(image, cv2.invertAffineTransform(to_image), (size, size), flags=cv2.INTER_LINEAR)
    out = session.run(None, {"input": crop[None].astype(np.int32)})[0].reshape(17, 3)
    xy = out[:, 1::-1] * size @ to_image[:, :2].T + to_image[:, 2]
    return xy[5:].astype(np.float32), out[5:, 2].astype(np.float32)  # COCO 5..16 = limb names' order


def keypoints(found, mode, limb):
    xy, conf = found["blazepose"]
    if mode == "blazepose":
        return xy, conf
    mxy, mconf = found[mode.removeprefix("avg_")]
    w = np.where(mconf > MIN_SCORE, mconf, 0.0).astype(np.float32)
    xy, conf = xy.copy(), conf.copy()
    if mode.startswith("avg_"):
        wb = conf[limb]
        xy[limb] = (xy[limb] * wb[:, None] + mxy * w[:, None]) / np.maximum(wb + w, 1e-6)[:, None]
        conf[limb] = np.maximum(wb, w)
    else:
        xy[limb], conf[limb] = mxy, w
    return xy, conf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="/tmp/movenet", help="folder with movenet_{thunder,lightning}.onnx")
    ap.add_argument("--people", type=int, default=2)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/eval/experiments/movenet/movenet_limbs.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import onnxruntime as ort
    from eval_multiperson import score

    from scorehmr_ros import Estimator, View
    from scorehmr_ros.core.association import keypoint_indices
    from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    P = args.people
    seq = build_multi_sequence(
        P, 3, seed=args.seed, num_frames=args.frames, frame_stride=2, spacing=1.2, solo=True
    )
    T, V = seq.num_frames, seq.num_views
    limb = keypoint_indices(LIMB_KEYPOINT_NAMES)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = {
        name: ort.InferenceSession(str(Path(args.models) / f"movenet_{name}.onnx"), opts)
        for name in ("thunder", "lightning")
    }
    detector = MultiPersonPoseDetector(max_people=P + 3, num_threads=args.threads)
    jobs = [(None, t, v) for t in range(T) for v in range(V)]
    jobs += [(p, t, v) for p in range(P) for t in range(T) for v in range(V)]
    found = {}
    for p, t, v in tqdm(jobs, desc="detection"):
        image = seq.images[t, v] if p is None else seq.solo_images[p, t, v]
        found[p, t, v] = [
            {"blazepose": (d.xy, d.confidence)}
            | {n: movenet_limbs(s, image, d.roi) for n, s in sessions.items()}
            for d in detector.detect(image)
        ]
    detector.close()
    base = Estimator.from_pretrained(preset="realtime")

    def run(lists) -> dict[str, float]:
        est = Estimator(base.models, base.config, max_people=P + 1, person_birth_frames=2)
        stream = est.stream()
        per_frame, index = {}, {int(t * 1e9 / seq.fps): t for t in range(T)}
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
            for b in [
                *stream.push_many([(int(t * 1e9 / seq.fps), views)]).bodies,
                *([] if t < T - 1 else stream.flush()),
            ]:
                per_frame.setdefault(index[b.stamp_ns], {})[b.id] = b.joints
        stream.close()
        return {str(p): e for p, (e, _) in score(seq, per_frame, list(range(P)))[0].items()}

    rows = {}
    for mode in MODES:
        together = run(
            [[[keypoints(f, mode, limb) for f in found[None, t, v]] for v in range(V)] for t in range(T)]
        )
        alone = run(
            [
                [
                    [keypoints(found[p, t, v][0], mode, limb) for p in range(P) if found[p, t, v]]
                    for v in range(V)
                ]
                for t in range(T)
            ]
        )
        ratio = {p: together[p] / alone[p] for p in together}
        rows[mode] = {"together_mm": together, "alone_mm": alone, "ratio": ratio}
        print(
            f"{mode:14s} together "
            + " / ".join(f"{e:.1f}" for e in together.values())
            + "   alone "
            + " / ".join(f"{e:.1f}" for e in alone.values())
            + "   ratio "
            + " / ".join(f"{r:.2f}" for r in ratio.values()),
            flush=True,
        )
    write_artefact(
        ROOT / args.out,
        "MoveNet limb keypoints vs BlazePose's, per-person MPJPE together / alone "
        "(docs/eval/experiments/movenet/eval_movenet_limbs.py)",
        vars(args),
        clips=[pp.clip_name for pp in seq.people],
        rows=rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
