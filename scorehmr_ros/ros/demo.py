"""The main job: the multi-camera pipeline end to end over real DDS on bundled sample data.

Three processes talk over DDS on this machine: a replay node publishes a rendered 3-camera
sequence of a held-out mocap clip (images + CameraInfo + ground truth); the ScoreHMR node detects
BlazePose keypoints with MediaPipe in each image, regresses, refines and publishes bodies,
markers, TF, overlays and diagnostics; a recorder writes all of it to an MCAP file (Foxglove opens
it). Afterwards this prints a summary (frames in/out, latency p50/p95, MPJPE vs ground truth) and
writes an overlay MP4 and PNG.

    scorehmr-demo [--out DIR] [--frames N] [--rate-scale S] [--preset realtime|quality]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scorehmr_ros.ros.paths import use_large_message_transports
from scorehmr_ros.ros.replay import GROUND_TRUTH_TOPIC

NODE = "/scorehmr_multiview"
CAMERAS = ("cam1", "cam2", "cam3")
RECORDED = [
    f"{NODE}/bodies:scorehmr_ros/msg/BodyArray",
    f"{NODE}/markers:visualization_msgs/msg/MarkerArray",
    f"{NODE}/overlay/cam1:sensor_msgs/msg/Image",
    f"{GROUND_TRUTH_TOPIC}:scorehmr_ros/msg/BodyArray",
    "/tf:tf2_msgs/msg/TFMessage",
    "/tf_static:tf2_msgs/msg/TFMessage",
    "/diagnostics:diagnostic_msgs/msg/DiagnosticArray",
    "/humans/bodies/tracked:hri_msgs/msg/IdsList",
    "/humans/bodies/b0/joint_states:sensor_msgs/msg/JointState",
    *[f"/{c}/camera_info:sensor_msgs/msg/CameraInfo" for c in CAMERAS],
]


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdout=fh, stderr=subprocess.STDOUT, env=os.environ.copy()
    )


def _stop(proc: subprocess.Popen, timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def summarise(mcap_path: Path, out_dir: Path) -> dict:
    """Read the recording back: counts, latency, MPJPE vs ground truth; write overlay MP4/PNG."""
    import cv2
    from mcap_ros2.reader import read_ros2_messages

    from scorehmr_ros.ros.image_conversion import imgmsg_to_cv2

    bodies, truth, overlays, latencies = {}, {}, [], []
    for m in read_ros2_messages(str(mcap_path)):
        topic, msg = m.channel.topic, m.ros_msg
        if topic == f"{NODE}/bodies" and msg.bodies:
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            bodies[stamp] = np.array([[p.x, p.y, p.z] for p in msg.bodies[0].joints])
            latencies.append((m.log_time_ns - stamp) / 1e6)
        elif topic == GROUND_TRUTH_TOPIC and msg.bodies:
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            truth[stamp] = np.array([[p.x, p.y, p.z] for p in msg.bodies[0].joints])
        elif topic == f"{NODE}/overlay/cam1":
            overlays.append(imgmsg_to_cv2(msg, "bgr8"))
    matched = sorted(set(bodies) & set(truth))
    errors = []
    for s in matched:
        pred, gt = bodies[s] - bodies[s][0], truth[s] - truth[s][0]
        errors.append(1000 * np.linalg.norm(pred - gt, axis=-1).mean())
    if overlays:
        h, w = overlays[0].shape[:2]
        writer = cv2.VideoWriter(
            str(out_dir / "overlay_cam1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h)
        )
        for img in overlays:
            writer.write(img)
        writer.release()
        picks = np.linspace(0, len(overlays) - 1, min(4, len(overlays))).astype(int)
        strip = np.concatenate([overlays[i] for i in picks], axis=1)
        cv2.imwrite(str(out_dir / "overlay_cam1.png"), strip)
    return {
        "ground_truth_frames": len(truth),
        "bodies_published": len(bodies),
        "matched": len(matched),
        "mpjpe_mm": float(np.mean(errors)) if errors else float("nan"),
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else float("nan"),
        "overlay_images": len(overlays),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "scorehmr_ros" / "demo")
    parser.add_argument("--clip", default="humanoid3d_dance_b", help="held-out mocap clip to replay")
    parser.add_argument("--frames", type=int, default=60, help="frames to replay (0 = whole clip)")
    parser.add_argument("--stride", type=int, default=2, help="keep every n-th clip frame (60 fps clips)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="replay speed (1 = native rate)")
    parser.add_argument("--preset", default="realtime", choices=("realtime", "quality"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    mcap_path = out / "scorehmr_demo.mcap"
    mcap_path.unlink(missing_ok=True)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    use_large_message_transports(os.environ)  # images at camera rate: see config/fastdds_large_messages.xml

    from scorehmr_ros.sim.sequence import load_or_build

    print(f"[demo] preparing the rendered 3-camera sequence of {args.clip} ...", flush=True)
    seq = load_or_build(
        args.clip, num_views=3, seed=0, num_frames=args.frames or None, frame_stride=args.stride
    )
    print(f"[demo] {seq.num_frames} frames x {seq.num_views} cameras at {seq.fps:.0f} fps; outputs in {out}")

    t0 = time.monotonic()
    recorder = _spawn(
        ["scorehmr_ros.ros.recorder", "--out", str(mcap_path), "--topics", ",".join(RECORDED)],
        out / "recorder.log",
    )
    node = _spawn(
        [
            "scorehmr_ros.ros.multiview_node",
            "--ros-args",
            "-p",
            f"preset:={args.preset}",
            "-p",
            "overlay_rate_hz:=10.0",
        ],
        out / "node.log",
    )
    replay_args = [
        "scorehmr_ros.ros.replay",
        f"--clip={args.clip}",
        "--views=3",
        f"--frames={args.frames}",
        f"--stride={args.stride}",
        f"--rate-scale={args.rate_scale}",
        "--wait-for-subscribers=1",  # every replay topic has the node (camera_info: the recorder too)
        "--start-delay=1.0",
    ]
    counter = _BodyCounter()
    replay = subprocess.Popen([sys.executable, "-m", *replay_args], env=os.environ.copy())
    try:
        replay_rc = replay.wait(timeout=600)
        print("[demo] replay finished; letting the node drain its queue ...", flush=True)
        _wait_for_drain(counter, timeout=120)
    finally:
        for proc in (replay, node, recorder):
            _stop(proc)
        counter.close()
    print(f"[demo] pipeline ran for {time.monotonic() - t0:.1f} s (logs: {out}/node.log, recorder.log)")
    if replay_rc != 0 or not mcap_path.exists():
        print("[demo] FAILED: replay or recording did not complete")
        return 1
    summary = summarise(mcap_path, out)
    print("[demo] summary")
    print(f"  frames replayed (ground truth): {summary['ground_truth_frames']}")
    print(
        f"  bodies published:               {summary['bodies_published']} "
        "(the node refines the newest set; sets arriving while it is busy are dropped and counted)"
    )
    print(f"  MPJPE vs ground truth (root-aligned, cam1 frame): {summary['mpjpe_mm']:.1f} mm")
    print(
        f"  latency image stamp -> bodies received: p50 {summary['latency_p50_ms']:.0f} ms, "
        f"p95 {summary['latency_p95_ms']:.0f} ms"
    )
    print(f"  recording (open in Foxglove): {mcap_path}")
    if summary["overlay_images"]:
        print(f"  overlay: {out / 'overlay_cam1.mp4'}, {out / 'overlay_cam1.png'}")
    ok = summary["bodies_published"] > 0
    print("[demo] OK" if ok else "[demo] FAILED: no bodies published")
    return 0 if ok else 1


class _BodyCounter:
    """Counts the node's BodyArray messages from a background thread (to know when it has drained)."""

    def __init__(self) -> None:
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        from scorehmr_ros.msg import BodyArray

        self.count, self.last = 0, time.monotonic()
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self._node = Node("scorehmr_demo_counter", context=self._context)
        self._node.create_subscription(BodyArray, f"{NODE}/bodies", self._on_body, 10)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_body(self, _msg) -> None:
        self.count += 1
        self.last = time.monotonic()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self._context.ok():
                self._executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass

    def close(self) -> None:
        import rclpy

        rclpy.shutdown(context=self._context)
        self._thread.join(timeout=5)


def _wait_for_drain(counter: _BodyCounter, timeout: float, quiet_s: float = 4.0) -> None:
    """Wait until the node has published nothing new for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and time.monotonic() - counter.last < quiet_s:
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
