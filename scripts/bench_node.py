"""Node-level benchmark / soak: 3 cameras at 30 Hz into scorehmr_multiview over real DDS.

    .venv/bin/python scripts/bench_node.py [--mode topic|mediapipe] [--seconds 60] [--preset realtime]
    .venv/bin/python scripts/bench_node.py --seconds 300 --out docs/eval/soak.json     # soak (make soak)

``topic`` mode: keypoints arrive as Keypoints2D (detection elsewhere), replayed from a held-out
scene with detector-like noise. ``mediapipe`` mode: the replay node publishes rendered images and
the node detects in-process; ``--people N`` renders N people side by side (calibrated rig on
/tf_static, node ``max_people`` = N: multi-person BlazePose, association, tracking), and the
measurement starts with the replay's first frame (rendering them takes a while).
Reports the achieved output rate, drops, latency p50/p95 (image stamp
→ BodyArray received here), the node's own time split (from /diagnostics) and its RSS over time.
A benchmark, not a test: it prints numbers and writes JSON; it fails only if nothing came out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from scorehmr_ros.msg import BodyArray, Keypoints2D
from scorehmr_ros.provenance import provenance
from scorehmr_ros.ros.messages import keypoints_to_msg
from scorehmr_ros.ros.paths import use_large_message_transports
from scorehmr_ros.ros.replay import GROUND_TRUTH_TOPIC
from scorehmr_ros.ros.sync import stamp_to_ns

CAMS = ("cam1", "cam2", "cam3")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the node's compute process), MB."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024.0
        except FileNotFoundError:
            pass
    return total if total else float("nan")


class Bench(Node):
    def __init__(self, scene, rate_hz: float, publish: bool):
        super().__init__("scorehmr_bench_node")
        self.scene, self.rate_hz = scene, rate_hz
        self.latency_ms: list[float] = []
        self.bodies_per_message: list[int] = []
        self.received_at: list[float] = []
        self.sent = 0
        self.diag: dict[str, str] = {}
        self.create_subscription(BodyArray, "/scorehmr_multiview/bodies", self._on_body, 100)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        # The replay (mediapipe mode) starts once its ground-truth topic has a subscriber too.
        self.first_frame_at: float | None = None  # monotonic time of the replay's first frame
        self.create_subscription(BodyArray, GROUND_TRUTH_TOPIC, self._on_truth, 10)
        if publish:
            self.kp = {c: self.create_publisher(Keypoints2D, f"{c}/keypoints", 10) for c in CAMS}
            self.info = {
                c: self.create_publisher(CameraInfo, f"{c}/camera_info", qos_profile_sensor_data)
                for c in CAMS
            }
            self.create_timer(1.0 / rate_hz, self._publish)

    def _publish(self) -> None:
        s, t = self.scene, self.sent % self.scene.num_frames
        stamp = self.get_clock().now().to_msg()
        for v, cam in enumerate(CAMS):
            info = CameraInfo(header=Header(stamp=stamp, frame_id=f"{cam}_optical_frame"))
            info.width, info.height = (int(x) for x in s.cameras.image_size[v])
            info.k = s.cameras.K[v].double().reshape(-1).tolist()
            self.info[cam].publish(info)
            header = Header(stamp=stamp, frame_id=f"{cam}_optical_frame")
            self.kp[cam].publish(
                keypoints_to_msg(header, "blazepose33", s.keypoints2d[t, v], s.confidence[t, v], (640, 480))
            )
        self.sent += 1

    def _on_truth(self, _msg: BodyArray) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()

    def _on_body(self, msg: BodyArray) -> None:
        now = self.get_clock().now().nanoseconds
        self.latency_ms.append((now - stamp_to_ns(msg.header.stamp)) / 1e6)
        self.bodies_per_message.append(len(msg.bodies))
        self.received_at.append(time.monotonic())

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name == "scorehmr_multiview: pipeline":
                self.diag = {kv.key: kv.value for kv in st.values}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("topic", "mediapipe"), default="topic")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    parser.add_argument("--preset", default="realtime", choices=("realtime", "quality"))
    parser.add_argument("--out", type=Path, default=None, help="JSON output")
    parser.add_argument("--people", type=int, default=1, help="mediapipe mode: people in the replay")
    parser.add_argument(
        "-p", "--param", action="append", default=[], help="extra node parameter name:=value (repeatable)"
    )
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    use_large_message_transports(os.environ)

    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.eval.heldout import heldout_scenes

    scene = heldout_scenes(load_body_model(), num_views=3, seed=11, frame_stride=1)[1]  # getup_faceup
    params = ["-p", f"preset:={args.preset}", "-p", "overlay_rate_hz:=0.0", "-p", "mesh_rate_hz:=1.0"]
    if args.mode == "topic":
        params += ["-p", "detector:=topic"]
        if args.people != 1:
            parser.error("--people needs --mode mediapipe")
    if args.people > 1:
        params += ["-p", f"max_people:={args.people}"]
    for extra in args.param:
        params += ["-p", extra]
    log = open("/tmp/scorehmr_bench_node.log", "w")
    node_proc = subprocess.Popen(
        [sys.executable, "-m", "scorehmr_ros.ros.multiview_node", "--ros-args", *params],
        stdout=log,
        stderr=log,
    )
    time.sleep(8.0)  # model load, engine export/load, warm-up
    replay = None
    if args.mode == "mediapipe":
        frames = int(args.seconds * args.rate)
        replay = subprocess.Popen(
            [sys.executable, "-m", "scorehmr_ros.ros.replay", "--clip=humanoid3d_dance_b", "--views=3",
             "--stride=2", f"--loops={max(1, frames // 77 + 1)}", "--wait-for-subscribers=1",
             f"--people={args.people}"],
            stdout=log, stderr=log,
        )  # fmt: skip
    rclpy.init()
    bench = Bench(scene, args.rate, publish=args.mode == "topic")
    ex = SingleThreadedExecutor()
    ex.add_node(bench)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    if replay is not None:  # measure from the replay's first frame (a multi-person render takes a while)
        while bench.first_frame_at is None and replay.poll() is None:
            time.sleep(0.1)
        bench.latency_ms.clear()
        bench.received_at.clear()
        bench.bodies_per_message.clear()
    t0 = time.monotonic()
    rss = []
    while time.monotonic() - t0 < args.seconds:
        time.sleep(5.0)
        rss.append((round(time.monotonic() - t0, 1), rss_mb(node_proc.pid)))
        print(
            f"[bench] t={rss[-1][0]:5.0f} s  bodies {len(bench.latency_ms)}  node RSS {rss[-1][1]:.0f} MB",
            flush=True,
        )
    elapsed = time.monotonic() - t0
    for proc in (replay, node_proc):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    ex.shutdown()
    rclpy.shutdown()
    lat = np.array(bench.latency_ms[5:] or [float("nan")])
    steady = [r for t, r in rss if t >= min(30.0, args.seconds / 2)]
    result = {
        "mode": args.mode,
        "people": args.people,
        "preset": args.preset,
        "node_parameters": args.param,
        "seconds": elapsed,
        "camera_rate_hz": args.rate,
        "sets_sent": bench.sent if args.mode == "topic" else None,
        "bodies_received": len(bench.latency_ms),
        "bodies_per_message_mean": float(np.mean(bench.bodies_per_message))
        if bench.bodies_per_message
        else 0.0,
        "output_rate_hz": len(bench.latency_ms) / elapsed,
        "latency_p50_ms": float(np.percentile(lat, 50)),
        "latency_p95_ms": float(np.percentile(lat, 95)),
        "rss_mb": rss,
        "rss_growth_mb_after_warmup": (steady[-1] - steady[0]) if len(steady) > 1 else None,
        "node_diagnostics": bench.diag,
        "cpu_cores": os.cpu_count(),
        "provenance": provenance(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["bodies_received"] > 0 else 1)


if __name__ == "__main__":
    main()
