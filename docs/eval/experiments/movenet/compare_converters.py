"""Experiment: the package's TFJS -> ONNX converter against the TensorFlow + tf2onnx route.

Converts ``--tfjs-dir``'s movenet-{thunder,lightning}.json with
``scorehmr_ros.tools.tfjs_to_onnx`` and runs both ONNX files (the other one from ``convert.sh``
in ``--reference-dir``) in onnxruntime (one thread) on 5 seeded random images and a rendered
person; records the largest output difference and each model's median time per call.

    bash docs/eval/experiments/movenet/convert.sh /tmp/mvwork
    .venv/bin/python docs/eval/experiments/movenet/compare_converters.py --tfjs-dir /tmp/mvwork/tfjs \\
        --reference-dir /tmp/mvwork
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[4]


def session(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def main(argv=None) -> int:
    import cv2

    from scorehmr_ros.sim.multi_sequence import build_multi_sequence
    from scorehmr_ros.tools.tfjs_to_onnx import convert

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tfjs-dir", default="/tmp/mvwork/tfjs")
    ap.add_argument("--reference-dir", default="/tmp/mvwork")
    ap.add_argument("--out", default="docs/eval/experiments/movenet/compare_converters.json")
    args = ap.parse_args(argv)
    person = build_multi_sequence(1, 1, seed=0, num_frames=1).images[0, 0]
    rows = {}
    for name in ("thunder", "lightning"):
        ours = session(convert(Path(args.tfjs_dir) / f"movenet-{name}.json").SerializeToString())
        ref = session(str(Path(args.reference_dir) / f"movenet_{name}.onnx"))
        size = ours.get_inputs()[0].shape[1]
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (1, size, size, 3), dtype=np.int32) for _ in range(5)]
        images.append(cv2.resize(person, (size, size))[None].astype(np.int32))
        diffs = [np.abs(ours.run(None, {"input": x})[0] - ref.run(None, {"input": x})[0]) for x in images]
        diff = float(max(d.max() for d in diffs))
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            ours.run(None, {"input": images[-1]})
            times.append(1000 * (time.perf_counter() - t0))
        rows[name] = {
            "max_abs_difference": diff,
            "images": len(images),
            "ms_per_call_median": float(np.median(times)),
        }
        print(name, rows[name], flush=True)
    write_artefact(
        ROOT / args.out,
        "tfjs_to_onnx vs TensorFlow + tf2onnx: largest output difference, ms per call (1 thread)",
        vars(args),
        models=rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
