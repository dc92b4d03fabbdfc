"""Multi-person detection recall with and without tiles: rendered people and a real street scene.

    .venv/bin/python scripts/eval_person_detection.py [--frames 10] [--out docs/eval/person_detection.json]

For each tile setting (whole image only, ``tile_fraction`` 0.75 and 0.5) runs
:class:`scorehmr_ros.core.multiperson.MultiPersonPoseDetector` (one thread) on

- ``renders``: 3 held-out people side by side, 3 cameras, 640x480 (``sim.multi_sequence``, seed 0);
  a person is found when a detection's mid-hip lies within 30 px of the true projected pelvis;
- ``street``: three frames of OpenCV's ``vtest.avi`` pedestrian video (768x576, from Debian's
  opencv-doc; ``test/data/street_people.json`` has the hand-labelled pelvis of every person, 12 in
  all); found within 40 px.

Reports people found, detections that match nobody ("extra") and the median ms per image, and
writes a JSON artefact with provenance.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from scorehmr_ros.provenance import provenance

REPO = Path(__file__).resolve().parents[1]
STREET = REPO / "test" / "data" / "street_people.json"
SETTINGS = {"whole image": None, "tiles 0.75": 0.75, "tiles 0.5": 0.5}


def count(detector, image: np.ndarray, pelvis: np.ndarray, radius_px: float) -> tuple[int, int, float]:
    """(people found, extra detections, seconds) of one image; ``pelvis`` (P, 2) true positions."""
    start = time.perf_counter()
    people = detector.detect(image)
    seconds = time.perf_counter() - start
    hips = [(p.xy[23] + p.xy[24]) / 2 for p in people]
    used: set[int] = set()
    for target in pelvis:
        d = [np.linalg.norm(h - target) if i not in used else np.inf for i, h in enumerate(hips)]
        if d and min(d) < radius_px:
            used.add(int(np.argmin(d)))
    return len(used), len(hips) - len(used), seconds


def street_images() -> list[tuple[np.ndarray, np.ndarray]]:
    labels = json.loads(STREET.read_text())
    out = []
    for name, pelvis in labels["frames"].items():
        image = cv2.cvtColor(cv2.imread(str(STREET.parent / name)), cv2.COLOR_BGR2RGB)
        out.append((image, np.asarray(pelvis, np.float64)))
    return out


def render_images(frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    seq = build_multi_sequence(3, 3, seed=0, num_frames=frames, frame_stride=2, spacing=1.2)
    out = []
    for t in range(seq.num_frames):
        for v in range(seq.num_views):
            pelvis = []
            for p in range(len(seq.people)):
                uvw = seq.joints_in_camera(p, v)[t, 0] @ seq.K[v].T
                pelvis.append(uvw[:2] / uvw[2])
            out.append((seq.images[t, v], np.asarray(pelvis)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=10, help="rendered frames (x 3 cameras)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "person_detection.json")
    args = parser.parse_args()
    prov = provenance()
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector

    sets = {"renders": (render_images(args.frames), 30.0), "street": (street_images(), 40.0)}
    results = {}
    for setting, fraction in SETTINGS.items():
        with MultiPersonPoseDetector(num_threads=1, tile_fraction=fraction) as detector:
            detector.detect(sets["renders"][0][0][0])  # warm-up
            for name, (images, radius) in sets.items():
                rows = [count(detector, im, pelvis, radius) for im, pelvis in images]
                results.setdefault(name, {})[setting] = {
                    "people": int(sum(len(p) for _, p in images)),
                    "images": len(images),
                    "found": int(sum(r[0] for r in rows)),
                    "extra": int(sum(r[1] for r in rows)),
                    "ms_per_image_median": 1000 * float(np.median([r[2] for r in rows])),
                }
                r = results[name][setting]
                print(f"{name:8s} {setting:12s} found {r['found']}/{r['people']}, extra {r['extra']}, "
                      f"{r['ms_per_image_median']:.0f} ms/image", flush=True)  # fmt: skip
    record = {"provenance": prov, "frames": args.frames, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
