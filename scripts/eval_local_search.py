"""Local search between detections at the node's rate: cost and 2D accuracy against detecting every image.

    .venv/bin/python scripts/eval_local_search.py [--people 1 2 3 4] [--seeds 0 1 2] [--stride 12]

A CPU node with in-node MediaPipe refines about two sets a second and drops the rest, so the
images a camera's detector sees are ~0.4 s apart: too far for BlazePose's landmark tracking
(``person_track_gap_s``), close enough for a search near the previous people
(:class:`~scorehmr_ros.core.tracked_detector.TrackingMultiPersonDetector`, module docstring). On
the held-out multi-person scenes of ``scripts/eval_multiperson.py`` (1.2 m apart, 3 cameras;
``humanoid3d_dance_b`` first, as ``make demo``), each camera's images at ``--stride`` (12: 0.4 s)
go through two detectors built as ``Estimator(max_people=P)`` streams build theirs:

- ``every_image``: the person detector (whole image, tiles unless enough people) on every image;
- ``search``: the streams' detector (``person_redetect_every`` 5, stamps from the frame times).

Per people count: detection ms per image (both timed in this process, one after the other, one
thread), the share of images searched, people found (true mid-hip within 30 px of a detection's),
and the mean / 90th percentile of the 12 limb keypoints' pixel error of the detection nearest each
found person. Writes ``--out`` (JSON with provenance).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.skeleton import JOINT_INDEX

LIMBS = [
    f"{side}_{joint}"
    for side in ("left", "right")
    for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
]
FOUND_PX = 30.0


def _detector(people: int):
    """As ``api.MultiPersonStream._make_detector`` builds it for ``Estimator(max_people=people)``."""
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector

    return MultiPersonPoseDetector(
        min_detection_score=0.5,
        max_people=people + 2,
        tile_fraction=0.5,
        num_threads=1,
        enough_people=people,
        enough_score=0.5,
    )


def _errors(found, truth: np.ndarray) -> list[float | None]:
    """Per true person (P, 12, 2 pixels): mean limb error (px) of the nearest detection whose
    mid-hip lies within FOUND_PX of the true one, None if there is none."""
    names = get_layout("blazepose33").keypoint_names
    idx = [names.index(n) for n in LIMBS]
    hips = [LIMBS.index("left_hip"), LIMBS.index("right_hip")]
    out = []
    for person in truth:
        best = None
        for det in found:
            xy = det.xy[idx]
            if np.linalg.norm(xy[hips].mean(0) - person[hips].mean(0)) > FOUND_PX:
                continue
            err = float(np.linalg.norm(xy - person, axis=1).mean())
            best = err if best is None else min(best, err)
        out.append(best)
    return out


def evaluate(people: int, seeds: list[int], stride: int) -> dict:
    from scorehmr_ros.core.tracked_detector import TrackingMultiPersonDetector
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence, clips_with

    joints = [JOINT_INDEX[n] for n in LIMBS]
    res = {m: {"ms": [], "errors": [], "found": 0, "people": 0} for m in ("every_image", "search")}
    sources: list[str] = []
    for seed in seeds:
        seq = build_multi_sequence(
            people, 3, seed=seed, num_frames=None, frame_stride=stride,
            clip_names=clips_with("humanoid3d_dance_b"), spacing=1.2,
        )  # fmt: skip
        for v in range(seq.num_views):
            truth = []
            for t in range(seq.num_frames):
                uvw = np.stack([seq.joints_in_camera(p, v)[t][joints] for p in range(people)]) @ seq.K[v].T
                truth.append(uvw[..., :2] / uvw[..., 2:])
            with _detector(people) as every, TrackingMultiPersonDetector(_detector(people), 5) as search:
                for mode, det in (("every_image", every), ("search", search)):
                    for t in range(seq.num_frames):
                        start = time.perf_counter()
                        found = det.detect(seq.images[t, v], stamp_s=t / seq.fps)
                        res[mode]["ms"].append(1000 * (time.perf_counter() - start))
                        errs = _errors(found, truth[t])
                        res[mode]["errors"] += [e for e in errs if e is not None]
                        res[mode]["found"] += sum(e is not None for e in errs)
                        res[mode]["people"] += people
                        if mode == "search":
                            sources.append(det.last_source)
    out = {"people": people, "images": len(sources), "interval_s": float(stride / 30.0)}
    out["searched_share"] = sources.count("searched") / len(sources)
    out["sources"] = {s: sources.count(s) for s in sorted(set(sources))}
    for mode, r in res.items():
        e = np.array(r["errors"])
        out[mode] = {
            "ms_per_image_mean": float(np.mean(r["ms"])),
            "ms_per_image_median": float(np.median(r["ms"])),
            "found": r["found"],
            "of": r["people"],
            "limb_px_mean": float(e.mean()) if len(e) else None,
            "limb_px_p90": float(np.percentile(e, 90)) if len(e) else None,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--stride", type=int, default=12, help="source frames (30 fps) between images")
    ap.add_argument("--out", default="docs/eval/local_search.json")
    args = ap.parse_args(argv)
    import torch
    from tqdm import tqdm

    from scorehmr_ros.provenance import provenance

    torch.set_num_threads(1)
    prov = provenance()
    results = []
    for people in tqdm(args.people, desc="people counts"):
        results.append(evaluate(people, args.seeds, args.stride))
        r = results[-1]
        tqdm.write(
            f"{people} people: searched {r['searched_share']:.0%} of {r['images']} images; ms/image "
            f"{r['every_image']['ms_per_image_mean']:.0f} -> {r['search']['ms_per_image_mean']:.0f}; found "
            f"{r['every_image']['found']} / {r['search']['found']} of {r['search']['of']}; limb px "
            f"{r['every_image']['limb_px_mean']:.2f} / {r['search']['limb_px_mean']:.2f}"
        )
    record = {"what": __doc__.splitlines()[0], "provenance": prov, "settings": vars(args), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
