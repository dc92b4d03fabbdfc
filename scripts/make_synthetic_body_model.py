#!/usr/bin/env python3
"""Regenerate the packaged licence-free synthetic SMPL-format body model.

Usage: ``python scripts/make_synthetic_body_model.py [--out PATH]`` (default: the package data file
``scorehmr_ros/data/synthetic_smpl.npz``). Deterministic: reruns write byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scorehmr_ros.sim.synthetic_body import build_model, save_model  # noqa: E402

DEFAULT_OUT = ROOT / "scorehmr_ros" / "data" / "synthetic_smpl.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)
    arrays = build_model()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(arrays, args.out)
    v, f = arrays["v_template"], arrays["f"]
    print(f"wrote {args.out}: {len(v)} vertices, {len(f)} faces, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
