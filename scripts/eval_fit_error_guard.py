"""How well single-view bodies explain their keypoints: the quantity ``max_view_error_rel`` bounds.

For every held-out clip (one view, ``noisy`` and ``hard`` corruption of scorehmr-bench, stride 4)
and for keypoints no body explains (33 points scattered uniformly over a 640x480 image, and the
points of a ring visited in a scrambled order), ``Estimator.estimate_keypoints`` (realtime preset,
guard off) gives one body; its fit error relative to the keypoints' box diagonal is the mean
distance between its projected and the given confident keypoints divided by that diagonal (what
``core.streaming.body_agrees`` compares with ``max_view_error_rel``). Reports percentiles per source.
    python scripts/eval_fit_error_guard.py --out docs/eval/experiments/fit_error_guard/guard.json
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--random", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/eval/experiments/fit_error_guard/guard.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from scorehmr_ros import Estimator
    from scorehmr_ros.core.presets import get_preset
    from scorehmr_ros.eval.heldout import heldout_scenes
    from scorehmr_ros.sim.scene import HARD, KeypointCorruption

    preset = dataclasses.replace(get_preset("realtime"), max_view_error_rel=None)
    est = Estimator.from_pretrained(preset=preset)

    def relative_error(xy, conf, K, size) -> float:
        bodies = est.estimate_keypoints(xy, conf, K, size)
        if not bodies:
            return float("nan")
        seen = conf > 0.5
        diagonal = float(np.linalg.norm(xy[seen].max(0) - xy[seen].min(0)))
        return bodies[0].views["camera"].error_px / max(diagonal, 1.0)

    sources: dict[str, list[float]] = {}
    for name, corruption in (("noisy", KeypointCorruption()), ("hard", HARD)):
        scenes = heldout_scenes(
            est.models.body_model, 1, args.seed, args.stride, args.frames, corruption=corruption
        )
        rows = sources.setdefault(f"heldout_{name}", [])
        for scene in tqdm(scenes, desc=name):
            K = scene.cameras.K[0].double().numpy()
            size = tuple(int(x) for x in scene.cameras.image_size[0])
            for t in range(scene.num_frames):
                rows.append(
                    relative_error(scene.keypoints2d[t, 0].numpy(), scene.confidence[t, 0].numpy(), K, size)
                )
    rng = np.random.default_rng(args.seed)
    K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    rows = sources.setdefault("random_points", [])
    for _ in tqdm(range(args.random), desc="random"):
        xy = rng.uniform([100, 50], [540, 430], (33, 2))
        rows.append(relative_error(xy, rng.uniform(0.6, 1.0, 33), K, (640, 480)))
    a = np.linspace(0.0, 2.0 * np.pi, 33, endpoint=False) * 7  # a ring visited out of order
    ring = np.stack([320 + 150 * np.cos(a), 240 + 150 * np.sin(a)], 1)
    sources["scrambled_ring"] = [relative_error(ring, np.ones(33), K, (640, 480))]
    summary = {}
    for name, values in sources.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        summary[name] = {
            "n": len(v),
            "min": float(v.min()),
            "p50": float(np.percentile(v, 50)),
            "p99": float(np.percentile(v, 99)),
            "max": float(v.max()),
            "above_0.5": int((v > 0.5).sum()),
        }
        print(f"{name:16s} " + " ".join(f"{k} {x:.3g}" for k, x in summary[name].items()), flush=True)
    write_artefact(
        ROOT / args.out,
        "single-view fit error relative to the keypoints' box diagonal: held-out noisy / hard, "
        "random points (scripts/eval_fit_error_guard.py)",
        vars(args),
        summary=summary,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
