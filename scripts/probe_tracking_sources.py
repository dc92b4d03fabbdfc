"""Which images of a multi-person stream were detected and which tracked, per camera.

    .venv/bin/python scripts/probe_tracking_sources.py [--people 2 4] [--redetect-every 5]

The scenes of ``scripts/eval_multiperson.py`` (held-out people 1.2 m apart, 3 cameras, 15 fps),
each camera's images through :class:`~scorehmr_ros.core.tracked_detector.TrackingMultiPersonDetector`
as the Estimator builds it (``max_people`` one above the people present). Prints one line per
camera: ``d`` (person detector) / ``t`` (tracked) per image, and the people returned per image.
A diagnostic for the README table ``person_redetect``; it writes nothing.
"""

from __future__ import annotations

import argparse

from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
from scorehmr_ros.core.tracked_detector import TrackingMultiPersonDetector
from scorehmr_ros.sim.multi_sequence import build_multi_sequence


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--redetect-every", type=int, default=5)
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    for people in args.people:
        seq = build_multi_sequence(people, 3, seed=0, num_frames=args.frames, frame_stride=2, spacing=1.2)
        for v in range(seq.num_views):
            base = MultiPersonPoseDetector(  # as api.MultiPersonStream builds it for max_people = people + 1
                max_people=people + 3,
                tile_fraction=0.5,
                num_threads=1,
                enough_people=people + 1,
                enough_score=0.5,
            )
            with TrackingMultiPersonDetector(base, args.redetect_every) as det:
                sources, counts = [], []
                for t in range(seq.num_frames):
                    counts.append(len(det.detect(seq.images[t, v], stamp_s=t / seq.fps)))
                    sources.append(det.last_source[0])
            print(f"{people} people, camera {v}: {''.join(sources)}  people per image {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
