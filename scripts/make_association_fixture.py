"""Write test/data/association_occlusion.npz: one set of real multi-person detections where a
person is hidden behind another in one of three views (the case test_association checks).

Scene: ``build_multi_sequence(2, 3, seed=0, num_frames=10, frame_stride=2, spacing=1.2)`` (held-out
clips, rendered), frame 8; detections of :class:`MultiPersonPoseDetector` (max 5 people per view).
Stored per view: keypoints (N, 33, 2) px, confidence (N, 33), and which person each detection
shows (the person whose projected ground-truth limb keypoints are nearest, median px, or -1 when
it is nearer than 15 px to nobody: a mixture); P (3, 3, 4) projections in cam1's frame.

    python scripts/make_association_fixture.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FRAME = 8
OUT = Path(__file__).resolve().parents[1] / "test" / "data" / "association_occlusion.npz"


def main() -> int:
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.core.keypoints import LIMB_KEYPOINT_NAMES, get_layout
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
    from scorehmr_ros.sim.multi_sequence import build_multi_sequence

    bm = load_body_model()
    seq = build_multi_sequence(2, 3, seed=0, num_frames=10, frame_stride=2, spacing=1.2)
    names = get_layout("blazepose33").keypoint_names
    limb = [names.index(n) for n in LIMB_KEYPOINT_NAMES]
    P = np.stack([seq.K[v] @ np.linalg.inv(seq.cam_to_ref(v))[:3] for v in range(seq.num_views)])
    arrays = {"P": P}
    with MultiPersonPoseDetector(max_people=5, num_threads=1) as det:
        for v in range(seq.num_views):
            found = det.detect(seq.images[FRAME, v])
            truth = []
            for d in found:
                errors = []
                for person in seq.people:
                    rot = torch.as_tensor(person.rotations[FRAME]).float()
                    kp = bm.pose_keypoints(
                        rot[None, 0],
                        rot[None, 1:],
                        torch.as_tensor(person.betas).float()[None],
                        torch.as_tensor(person.transl[FRAME]).float()[None],
                    )[0].numpy()
                    uv = (kp @ seq.R[v].T + seq.t[v]) @ seq.K[v].T
                    uv = uv[:, :2] / uv[:, 2:]
                    errors.append(float(np.median(np.linalg.norm(d.xy[limb] - uv[limb], axis=1))))
                best = int(np.argmin(errors))
                truth.append(best if errors[best] < 15.0 else -1)
            arrays[f"xy{v}"] = np.stack([d.xy for d in found]).astype(np.float32)
            arrays[f"conf{v}"] = np.stack([d.confidence for d in found]).astype(np.float32)
            arrays[f"person{v}"] = np.array(truth, np.int64)
            print(f"view {v}: {len(found)} detections, people {truth}")
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
