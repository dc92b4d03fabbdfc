"""Per-set MPJPE of a demo run, read back from its MCAP (the median and the sets over 150 mm in
this folder's README came from it; the MCAPs, 8 MB each, were not kept).

    python docs/eval/experiments/mirror/demo_frames.py <demo --out folder>
"""

import sys
from pathlib import Path

import numpy as np
from mcap_ros2.reader import read_ros2_messages

from scorehmr_ros.ros import demo as D
from scorehmr_ros.ros.tf import static_transforms

mcap = Path(sys.argv[1]) / "scorehmr_demo.mcap"
bodies, truth, static, frames = {}, [], {}, {}
for m in read_ros2_messages(str(mcap)):
    topic, msg = m.channel.topic, m.ros_msg
    if topic == f"{D.NODE}/bodies" and msg.bodies:
        bodies[D._stamp(msg.header)] = list(msg.bodies)
        frames[D._stamp(msg.header)] = msg.header.frame_id
    elif topic == D.GROUND_TRUTH_TOPIC and msg.bodies:
        truth.append(
            (D._stamp(msg.header), np.array([[[p.x, p.y, p.z] for p in b.joints] for b in msg.bodies]))
        )
        tf = msg.header.frame_id
    elif topic == "/tf_static":
        static.update(static_transforms(msg))
truth.sort(key=lambda x: x[0])
idx = {s: i for i, (s, _) in enumerate(truth)}
ta = dict(truth)
out = []
for s in sorted(bodies):
    if s not in ta:
        continue
    M = D.frame_change(frames[s], tf, static)
    preds = [D._apply(M, np.array([[p.x, p.y, p.z] for p in b.joints])) for b in bodies[s]]
    pairs, _ = D.match_people(preds, ta[s], gate_m=None if len(ta[s]) == 1 else 0.5)
    for b, p in pairs:
        pred, gt = preds[b], ta[s][p]
        err = 1000 * np.linalg.norm((pred - pred[0]) - (gt - gt[0]), axis=-1).mean()
        pel = 1000 * np.linalg.norm(pred[0] - gt[0])
        out.append((idx[s], idx[s] % 60, p, err, pel))
for o in out:
    n, frame, person, err, pel = o
    print(f"replayed {n:4d} clip frame {frame:2d} person {person} mpjpe {err:6.1f}  pelvis {pel:6.1f}")
e = np.array([o[3] for o in out])
print("mean", e.mean(), "median", np.median(e), ">150:", (e > 150).sum(), "of", len(e))
