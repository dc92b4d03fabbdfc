"""Where a realtime refinement spends its time (a probe, not a test or a tuned benchmark).

    .venv/bin/python scripts/probe_refine_overhead.py [--compile]

One 3-camera set, ``realtime`` schedule (tau 50 / step 10 / K 2), keypoint + multi-view terms,
ONNX Runtime denoiser, one thread:

1. median ms per ``refine()`` over 30 runs, and torch.profiler's op-event count per call with the
   most frequent ops;
2. with ``--compile``: the same with ``BodyModel.pose_keypoints`` wrapped in
   ``torch.compile(dynamic=True)``, the compile time at batch 3 and again at batch 6 (with an
   empty inductor cache, as on a fresh machine), and the largest pose difference to eager.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter

import torch
from torch.profiler import ProfilerActivity, profile

from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.guidance import make_terms
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import GUIDANCE_WEIGHTS
from scorehmr_ros.core.refiner import RefineConfig, refine
from scorehmr_ros.eval.heldout import heldout_scenes
from scorehmr_ros.eval.variants import scene_batch

REALTIME = RefineConfig(tau=50, step=10, iterations=2)


class CompiledKeypoints:
    """A body model whose ``pose_keypoints`` is ``torch.compile``d (dynamic batch)."""

    def __init__(self, body_model):
        self.pose_keypoints = torch.compile(body_model.pose_keypoints, dynamic=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (≈ 1-2 min)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    bm = models.body_model
    denoiser = make_denoiser(models.denoiser, backend="onnxruntime", num_threads=1)
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in ("keypoints", "multiview")})

    def setup(frames: int):
        scene = heldout_scenes(bm, num_views=3, seed=7, frame_stride=2, max_frames=frames)[0]
        batch = scene_batch(models, scene, "combined")
        return lambda body: refine(*batch.refine_args(), terms, REALTIME, denoiser, body, models.schedule)

    def median_ms(run, body, runs: int = 30) -> float:
        run(body)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run(body)
            times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)

    set3, set6 = setup(1), setup(2)
    print(f"eager refine(), 3 samples: {median_ms(set3, bm):.1f} ms; 6 samples: {median_ms(set6, bm):.1f} ms")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            set3(bm)
    counts = Counter({e.key: e.count for e in prof.key_averages()})
    total = sum(counts.values()) / 10
    top = ", ".join(f"{k} {v / 10:.0f}" for k, v in counts.most_common(5))
    print(f"op events per refine() call: {total:,.0f} (most frequent: {top})")

    if args.compile:
        # a fresh, empty compile cache: what the first start on a new machine pays
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="probe_inductor_")
        compiled = CompiledKeypoints(bm)
        for name, run in (("3", set3), ("6", set6)):
            t0 = time.perf_counter()
            run(compiled)
            print(
                f"torch.compile of pose_keypoints, first call at batch {name}: "
                f"{time.perf_counter() - t0:.1f} s"
            )
        diff = (set3(compiled).x0 - set3(bm).x0).abs().max().item()
        print(
            f"compiled refine(), 3 samples: {median_ms(set3, compiled):.1f} ms; "
            f"6 samples: {median_ms(set6, compiled):.1f} ms; max |Δx0| vs eager {diff:.1e}"
        )


if __name__ == "__main__":
    main()
