"""The main job: the multi-camera pipeline end to end over real DDS, measured at steady state.

Three processes talk over DDS on this machine: a replay node publishes a rendered 3-camera
sequence of a held-out mocap clip (images + CameraInfo + ground truth), looping the clip; the
ScoreHMR node detects BlazePose keypoints with MediaPipe in each image, regresses, refines and
publishes bodies, markers, TF, overlays and diagnostics; a recorder writes all of it to an MCAP
file (Foxglove opens it), camera images included (at ``--image-record-hz`` per camera).

Steady state: the node's compute process warms up on random keypoints and a black image, so
its first real sets are slow (MediaPipe, ONNX Runtime and torch allocate on first use). The
replay therefore runs ``--warmup-s`` seconds of the clip first, which warms every model on the
rendered person, and then ``--seconds`` more; only sets stamped after the warm-up are measured.
The summary (also written to ``<out>/demo_summary.json``, with provenance) gives the steady-state
output rate, latency, MPJPE, the node's per-stage p50/p95 (from the last ``/diagnostics``) and
the drop accounting over the measured window, read back from the recording.

Pictures: ``overlay_cam1.{mp4,png}`` (the estimated mesh, MediaPipe's detected keypoints and the
estimate's keypoints over camera 1's images, with a legend) and ``skeleton_3d.png`` (estimate and
ground truth in 3D, from the front and from the side).

``--people N`` (N > 1) replays N people side by side (``sim.multi_sequence``) into the node with
``max_people`` = N; each published body is matched to a person by pelvis distance (Hungarian,
within 0.5 m) and the summary gives the MPJPE and matched frames per person, and the bodies that
matched nobody.

    scorehmr-demo [--out DIR] [--frames N] [--warmup-s S] [--seconds S] [--rate-scale S]
                  [--preset realtime|quality] [--queue N] [--loops N]
"""

from __future__ import annotations

import argparse
import json
import math
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
PIPELINE_STATUS = "scorehmr_multiview: pipeline"
IMAGE_TOPICS = [f"/{c}/image_raw" for c in CAMERAS]
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
    *[f"{t}:sensor_msgs/msg/Image" for t in IMAGE_TOPICS],
]
STAGES = ("detection", "estimation", "compute_roundtrip", "conversion", "publishing", "latency")
COUNTERS = (
    "sets",
    "published",
    "no_person",
    "sets_rejected",
    "dropped_queue",
    "dropped_stamp",
    "compute_errors",
    "compute_restarts",
    "sync_full_sets",
    "sync_partial_sets",
    "sync_dropped_late",
    "sync_dropped_queue_overflow",
    "sync_dropped_unmatched",
    "sync_dropped_timeout",
)


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


def _stamp(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_pipeline_diagnostics(mcap_path: Path) -> list[tuple[int, dict[str, str]]]:
    """Every recorded ``/diagnostics`` status of the node's pipeline: ``[(log_time_ns, values)]``."""
    from mcap_ros2.reader import read_ros2_messages

    out = []
    for m in read_ros2_messages(str(mcap_path), topics=["/diagnostics"]):
        for status in m.ros_msg.status:
            if status.name == PIPELINE_STATUS:
                out.append((m.log_time_ns, {kv.key: kv.value for kv in status.values}))
    out.sort(key=lambda x: x[0])
    return out


def accounting(before: dict[str, str] | None, after: dict[str, str]) -> dict[str, int]:
    """Counter differences between two pipeline diagnostics (``before=None``: since the start)."""
    out = {}
    for key in COUNTERS:
        if key in after:
            b = _number(before.get(key, "0")) if before else 0.0
            out[key] = int(_number(after[key]) - b)
    return out


def summarise(mcap_path: Path, out_dir: Path, warmup_s: float = 0.0, seq=None, overlay_frames: int = 24):
    """Read the recording back (see the module docstring); write the pictures when ``seq`` is given."""
    from mcap_ros2.reader import read_ros2_messages

    from scorehmr_ros.ros.tf import static_transforms

    bodies, truth, images, static, frames = {}, [], {}, {}, {}
    truth_frame = None
    for m in read_ros2_messages(str(mcap_path)):
        topic, msg = m.channel.topic, m.ros_msg
        if topic == f"{NODE}/bodies" and msg.bodies:
            bodies[_stamp(msg.header)] = (list(msg.bodies), m.log_time_ns)
            frames[_stamp(msg.header)] = msg.header.frame_id
        elif topic == GROUND_TRUTH_TOPIC and msg.bodies:
            people = np.array([[[p.x, p.y, p.z] for p in b.joints] for b in msg.bodies])
            truth.append((_stamp(msg.header), people))  # (P, 24, 3)
            truth_frame = msg.header.frame_id
        elif topic == "/tf_static":
            static.update(static_transforms(msg))
        elif topic in IMAGE_TOPICS:
            images[topic] = images.get(topic, 0) + 1
    # Bodies of a calibrated rig come in the fixed frame, the truth in camera 1's: compare (and
    # draw) in camera 1's frame through the recorded /tf_static.
    into_truth = {s: frame_change(f, truth_frame, static) for s, f in frames.items()}
    truth.sort(key=lambda x: x[0])
    frame_of = {stamp: i for i, (stamp, _) in enumerate(truth)}  # k-th frame replayed
    truth_at = dict(truth)
    diags = read_pipeline_diagnostics(mcap_path)
    if not truth:
        return {"ground_truth_frames": 0, "bodies_published": len(bodies), "ok": False}

    t_first, t_last = truth[0][0], truth[-1][0]
    start = t_first + int(warmup_s * 1e9) if warmup_s > 0 else t_first
    start = min(start, t_last)
    window_s = (t_last - start) / 1e9
    measured = sorted(s for s in bodies if start <= s <= t_last)
    sets_in_window = sum(1 for s, _ in truth if start <= s <= t_last)
    latencies = [(bodies[s][1] - s) / 1e6 for s in measured]
    num_people = len(truth[0][1])
    errors, per_person, ghosts = {}, {p: [] for p in range(num_people)}, 0
    for s in measured:
        if s in truth_at:
            preds = [
                _apply(into_truth[s], np.array([[p.x, p.y, p.z] for p in b.joints])) for b in bodies[s][0]
            ]
            pairs, unmatched = match_people(preds, truth_at[s], gate_m=None if num_people == 1 else 0.5)
            ghosts += unmatched
            for b, p in pairs:
                pred, gt = preds[b], truth_at[s][p]
                err = 1000 * np.linalg.norm((pred - pred[0]) - (gt - gt[0]), axis=-1).mean()
                per_person[p].append(err)
                errors.setdefault(s, {})[p] = (b, err)
    before = None
    if warmup_s > 0:
        earlier = [d for t, d in diags if t <= start]
        before = earlier[-1] if earlier else None
    final = diags[-1][1] if diags else {}
    stages = {
        k: (_number(final.get(f"{k}_p50_ms")), _number(final.get(f"{k}_p95_ms")))
        for k in STAGES
        if f"{k}_p50_ms" in final
    }
    # Output per 2-second bin from the first frame (shows the warm-up and the steady state).
    bins = max(1, math.ceil((t_last - t_first) / 2e9))
    timeline = [0] * bins
    for s in bodies:
        if t_first <= s <= t_last:
            timeline[min(bins - 1, int((s - t_first) // 2e9))] += 1
    summary = {
        "ground_truth_frames": len(truth),
        "bodies_published": len(bodies),
        "warmup_s": warmup_s,
        "measured_s": window_s,
        "measured_frames": sets_in_window,
        "measured_bodies": len(measured),
        "output_rate_hz": len(measured) / window_s if window_s > 0 else float("nan"),
        "mpjpe_mm": float(np.mean([e for v in per_person.values() for e in v])) if errors else float("nan"),
        "people": num_people,
        "mpjpe_mm_per_person": {str(p): float(np.mean(v)) if v else None for p, v in per_person.items()},
        "frames_matched_per_person": {str(p): len(v) for p, v in per_person.items()},
        "unmatched_bodies": ghosts,
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else float("nan"),
        "stages_p50_p95_ms": stages,
        "accounting_measured": accounting(before, final) if final else {},
        "accounting_total": accounting(None, final) if final else {},
        "diagnostics_messages": len(diags),
        "output_per_2s": timeline,
        "images_recorded": images,
        "mcap_mb": mcap_path.stat().st_size / 1e6,
        "denoiser_backend": final.get("denoiser_backend", ""),
        "calibrated": final.get("calibrated", ""),
    }
    if seq is not None and measured:
        pictures(seq, bodies, into_truth, truth_at, frame_of, measured, errors, out_dir, overlay_frames)
        summary["pictures"] = ["overlay_cam1.mp4", "overlay_cam1.png", "skeleton_3d.png"]
    return summary


def match_people(preds: list, truth: np.ndarray, gate_m: float | None) -> tuple[list[tuple[int, int]], int]:
    """Bodies (each (24, 3)) to true people (P, 24, 3) by pelvis distance (Hungarian); pairs
    farther than ``gate_m`` (None: no gate) stay unmatched. Returns ((body, person) pairs, number
    of bodies matched to nobody)."""
    from scipy.optimize import linear_sum_assignment

    if not preds:
        return [], 0
    cost = np.array([[np.linalg.norm(b[0] - t[0]) for t in truth] for b in preds])
    rows, cols = linear_sum_assignment(cost)
    pairs = [
        (int(r), int(c)) for r, c in zip(rows, cols, strict=True) if gate_m is None or cost[r, c] <= gate_m
    ]
    return pairs, len(preds) - len(pairs)


def frame_change(src: str, dst: str | None, static: dict) -> np.ndarray:
    """4x4 transform from frame ``src`` to ``dst`` through /tf_static (child -> (parent, 4x4)):
    identity when they are the same (or unknown), else via their shared parent."""
    eye = np.eye(4)
    if dst is None or src == dst:
        return eye
    if src in static and static[src][0] == dst:
        return static[src][1]
    if dst in static and static[dst][0] == src:
        return np.linalg.inv(static[dst][1])
    if src in static and dst in static and static[src][0] == static[dst][0]:
        return np.linalg.inv(static[dst][1]) @ static[src][1]
    raise ValueError(f"no /tf_static path from {src!r} to {dst!r}")


def _apply(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ T[:3, :3].T + T[:3, 3]


def pictures(
    seq, bodies, into_truth, truth_at, frame_of, measured, errors, out_dir: Path, count: int
) -> None:
    """``overlay_cam1.{mp4,png}`` (every body's mesh + detected + estimated keypoints + legend over
    camera 1) and ``skeleton_3d.png`` (estimate vs ground truth, two viewpoints) of measured frames.
    ``errors``: stamp -> {person: (body index, MPJPE mm)}."""
    import cv2
    import torch

    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.core.fallback_detector import single_person_detector
    from scorehmr_ros.core.limb_model import resolve_limb_model
    from scorehmr_ros.core.multiperson import MultiPersonPoseDetector
    from scorehmr_ros.ros.messages import body_from_msg
    from scorehmr_ros.viz.overlay import body_overlay, draw_legend

    bm = load_body_model()
    faces = np.asarray(bm.faces)
    K = np.asarray(seq.K[0], dtype=np.float64)
    multi = len(next(iter(truth_at.values()))) > 1
    picks = [measured[i] for i in np.linspace(0, len(measured) - 1, min(count, len(measured))).astype(int)]
    frames = []
    # The node's detection with its default limb_model ("auto"), for the keypoints drawn.
    if multi:
        detector = MultiPersonPoseDetector(limb_model=resolve_limb_model("auto", 2))
    else:
        detector = single_person_detector(static_image_mode=True, limb_model=resolve_limb_model("auto", 1))
    with detector, torch.no_grad():
        for s in picks:
            image = seq.images[frame_of[s] % seq.num_frames, 0]
            found = detector.detect(image)
            found = found if multi else [] if found is None else [found]
            out = image
            for msg in bodies[s][0]:
                est = body_from_msg(msg)
                R = torch.as_tensor(est.rotations, dtype=torch.float32)[None]
                betas = torch.as_tensor(est.betas, dtype=torch.float32)[None]
                transl = torch.as_tensor(est.translation, dtype=torch.float32)[None]
                verts = _apply(into_truth[s], bm(R[:, 0], R[:, 1:], betas, transl).vertices[0].numpy())
                kp = _apply(into_truth[s], bm.pose_keypoints(R[:, 0], R[:, 1:], betas, transl)[0].numpy())
                fitted = (kp @ K.T)[:, :2] / np.clip(kp[:, 2:3], 1e-6, None)
                out = body_overlay(out, verts, faces, K, None, None, fitted, legend=False)
            for det in found:  # every person MediaPipe detected in camera 1
                out = body_overlay(out, None, faces, K, det.xy, det.confidence, None, legend=False)
            frames.append(draw_legend(out.copy()))
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out_dir / "overlay_cam1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    strip = [frames[i] for i in np.linspace(0, len(frames) - 1, min(4, len(frames))).astype(int)]
    cv2.imwrite(
        str(out_dir / "overlay_cam1.png"), cv2.cvtColor(np.concatenate(strip, axis=1), cv2.COLOR_RGB2BGR)
    )
    # 3D: the measured frame with the median error, its first matched person.
    mean_error = {t: float(np.mean([e for _, e in v.values()])) for t, v in errors.items()}
    ranked = sorted(mean_error, key=mean_error.get)
    s = ranked[len(ranked) // 2] if ranked else measured[0]
    person, (b, err) = min(errors[s].items()) if s in errors else (0, (0, None))
    est = _apply(into_truth[s], np.array([[p.x, p.y, p.z] for p in bodies[s][0][b].joints]))
    gt = truth_at[s][person] if s in truth_at else None
    plot_skeletons_3d(est, gt, out_dir / "skeleton_3d.png", err)


def plot_skeletons_3d(est: np.ndarray, gt: np.ndarray | None, path: Path, error_mm: float | None) -> None:
    """Estimate (blue) and ground truth (black), root-aligned, in camera 1's frame turned upright,
    from the front and from the side (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scorehmr_ros.core.skeleton import SMPL_PARENTS

    def upright(j):  # optical frame (x right, y down, z forward) -> x right, y forward, z up
        j = np.asarray(j, dtype=np.float64) - np.asarray(j, dtype=np.float64)[0]
        return np.stack([j[:, 0], j[:, 2], -j[:, 1]], axis=1)

    skeletons = [("estimate", upright(est), "tab:blue")]
    if gt is not None:
        skeletons.append(("ground truth", upright(gt), "black"))
    fig = plt.figure(figsize=(10, 5))
    for k, (title, azim) in enumerate((("front (camera 1)", -90), ("side", 0))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        for label, j, color in skeletons:
            for child, parent in enumerate(SMPL_PARENTS):
                if parent >= 0:
                    ax.plot(*j[[parent, child]].T, color=color, lw=2, label=label if child == 1 else None)
            ax.scatter(*j.T, color=color, s=8)
        allj = np.concatenate([j for _, j, _ in skeletons])
        centre, radius = allj.mean(0), np.abs(allj - allj.mean(0)).max() + 0.05
        ax.set_xlim(centre[0] - radius, centre[0] + radius)
        ax.set_ylim(centre[1] - radius, centre[1] + radius)
        ax.set_zlim(centre[2] - radius, centre[2] + radius)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=10, azim=azim)
        ax.set_title(title)
        ax.set_xlabel("x (m)")
        ax.set_ylabel("depth (m)")
        ax.set_zlabel("up (m)")
        if k == 0:
            ax.legend(loc="upper left")
    err = "" if error_mm is None else f", MPJPE {error_mm:.0f} mm (root-aligned)"
    fig.suptitle(f"estimate vs ground truth, median-error frame of the measured window{err}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def print_summary(summary: dict, out: Path, mcap_path: Path) -> None:
    acc, total = summary["accounting_measured"], summary["accounting_total"]
    print("[demo] summary")
    print(
        f"  frames replayed: {summary['ground_truth_frames']} ({summary['warmup_s']:g} s warm-up on the "
        f"rendered person, then {summary['measured_frames']} frames over "
        f"{summary['measured_s']:.1f} s measured)"
    )
    print(f"  bodies per 2 s from the first frame: {' '.join(map(str, summary['output_per_2s']))}")
    print(
        f"  steady state: {summary['measured_bodies']} bodies, output {summary['output_rate_hz']:.1f} Hz, "
        f"latency image stamp -> bodies received p50 {summary['latency_p50_ms']:.0f} ms, "
        f"p95 {summary['latency_p95_ms']:.0f} ms"
    )
    print(f"  MPJPE vs ground truth (root-aligned, cam1 frame): {summary['mpjpe_mm']:.1f} mm")
    if summary.get("people", 1) > 1:
        matched = summary["frames_matched_per_person"]
        per = ", ".join(
            f"person {p}: {'-' if e is None else f'{e:.0f} mm'} in {matched[p]} sets"
            for p, e in summary["mpjpe_mm_per_person"].items()
        )
        print(f"  {summary['people']} people: {per}; {summary['unmatched_bodies']} bodies matched nobody")
    if summary["stages_p50_p95_ms"]:
        stages = ", ".join(f"{k} {a:.0f}/{b:.0f}" for k, (a, b) in summary["stages_p50_p95_ms"].items())
        print(f"  node per stage p50/p95 ms (last /diagnostics, its recent calls): {stages}")
    if acc:
        sync = sum(v for k, v in acc.items() if k.startswith("sync_dropped"))
        print(
            f"  drop accounting, measured window: {acc.get('sets', 0)} sets synchronised, "
            f"{acc.get('published', 0)} published, {acc.get('dropped_queue', 0)} dropped by the "
            f"newest-set queue (node busy), {acc.get('no_person', 0)} without a person, "
            f"{acc.get('sets_rejected', 0)} whose bodies the views contradicted, "
            f"{sync} dropped by the synchroniser, {acc.get('compute_errors', 0)} compute errors"
        )
        print(
            f"  whole run: {total.get('sets', 0)} sets, {total.get('published', 0)} published, "
            f"{total.get('dropped_queue', 0)} dropped by the queue, "
            f"{total.get('no_person', 0)} without a person"
        )
    imgs = ", ".join(f"{t} {n}" for t, n in summary["images_recorded"].items()) or "none"
    print(f"  recording (open in Foxglove): {mcap_path} ({summary['mcap_mb']:.0f} MB; images: {imgs})")
    if summary.get("pictures"):
        print("  pictures: " + ", ".join(str(out / p) for p in summary["pictures"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "scorehmr_ros" / "demo")
    parser.add_argument("--clip", default="humanoid3d_dance_b", help="held-out mocap clip to replay")
    parser.add_argument("--frames", type=int, default=60, help="frames of the clip (0 = whole clip)")
    parser.add_argument("--stride", type=int, default=2, help="keep every n-th clip frame (60 fps clips)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="replay speed (1 = native rate)")
    parser.add_argument("--warmup-s", type=float, default=6.0, help="replayed seconds before measuring")
    parser.add_argument("--seconds", type=float, default=20.0, help="replayed seconds measured")
    parser.add_argument(
        "--loops", type=int, default=0, help="clip repetitions (0 = enough for --warmup-s + --seconds)"
    )
    parser.add_argument("--preset", default="realtime", choices=("realtime", "quality"))
    parser.add_argument(
        "--queue", type=int, default=1, help="node worker_queue_size (1 = newest set only; deeper drops none)"
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter (repeatable), e.g. max_stamp_age_s:=60.0",
    )
    parser.add_argument("--image-record-hz", type=float, default=2.0, help="camera images kept in the MCAP")
    parser.add_argument("--overlay-frames", type=int, default=24, help="frames in overlay_cam1.mp4")
    parser.add_argument("--people", type=int, default=1, help="people side by side (node max_people = N)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    mcap_path = out / "scorehmr_demo.mcap"
    mcap_path.unlink(missing_ok=True)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    use_large_message_transports(os.environ)  # images at camera rate: see config/fastdds_large_messages.xml

    from scorehmr_ros.provenance import provenance
    from scorehmr_ros.sim.sequence import load_or_build

    prov = provenance()  # the code as it was when the run started
    print(f"[demo] preparing the rendered 3-camera sequence of {args.clip} ...", flush=True)
    if args.people > 1:  # rendered here for the pictures, identically by the replay (seeded)
        from scorehmr_ros.sim.multi_sequence import build_multi_sequence, clips_with

        seq = build_multi_sequence(
            args.people,
            3,
            seed=0,
            num_frames=args.frames or None,
            frame_stride=args.stride,
            clip_names=clips_with(args.clip),
            spacing=1.2,
        )
    else:
        seq = load_or_build(
            args.clip, num_views=3, seed=0, num_frames=args.frames or None, frame_stride=args.stride
        )
    clip_s = seq.num_frames / (seq.fps * args.rate_scale)
    loops = args.loops or max(1, math.ceil((args.warmup_s + args.seconds) / clip_s - 1e-9))
    print(
        f"[demo] {seq.num_frames} frames x {seq.num_views} cameras at {seq.fps * args.rate_scale:.0f} fps "
        f"({clip_s:.1f} s), looped {loops} times: {args.warmup_s:g} s warm-up, then measured; "
        f"outputs in {out}",
        flush=True,
    )

    t0 = time.monotonic()
    rates = [arg for t in IMAGE_TOPICS for arg in ("--max-rate", f"{t}={args.image_record_hz:g}")]
    recorder = _spawn(
        ["scorehmr_ros.ros.recorder", "--out", str(mcap_path), "--topics", ",".join(RECORDED), *rates],
        out / "recorder.log",
    )
    node_params = [
        f"preset:={args.preset}",
        "overlay_rate_hz:=10.0",
        f"worker_queue_size:={args.queue}",
        *([f"max_people:={args.people}"] if args.people > 1 else []),
        *args.param,
    ]
    node = _spawn(
        ["scorehmr_ros.ros.multiview_node", "--ros-args", *[x for p in node_params for x in ("-p", p)]],
        out / "node.log",
    )
    replay_args = [
        "scorehmr_ros.ros.replay",
        f"--clip={args.clip}",
        "--views=3",
        f"--frames={args.frames}",
        f"--stride={args.stride}",
        f"--rate-scale={args.rate_scale}",
        f"--loops={loops}",
        f"--people={args.people}",
        # Images and camera infos: the node and the recorder; ground truth: the recorder and the
        # counter below. So nothing goes out before the node has subscribed (it does once it is
        # active, after its compute process has loaded and warmed up).
        "--wait-for-subscribers=2",
        "--start-delay=1.0",
    ]
    counter = _BodyCounter()
    replay = subprocess.Popen([sys.executable, "-m", *replay_args], env=os.environ.copy())
    try:
        replay_rc = replay.wait(timeout=900)
        print("[demo] replay finished; letting the node drain its queue ...", flush=True)
        drained = _wait_for_drain(counter, expected_sets=loops * seq.num_frames, timeout=300)
        if not drained:
            print("[demo] the node did not account for every set within 300 s", flush=True)
    finally:
        for proc in (replay, node, recorder):
            _stop(proc)
        counter.close()
    print(f"[demo] pipeline ran for {time.monotonic() - t0:.1f} s (logs: {out}/node.log, recorder.log)")
    if replay_rc != 0 or not mcap_path.exists():
        print("[demo] FAILED: replay or recording did not complete")
        return 1
    summary = summarise(mcap_path, out, args.warmup_s, seq, args.overlay_frames)
    summary["command"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    summary["node_parameters"] = node_params
    summary["provenance"] = prov
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, out, mcap_path)
    ok = summary["bodies_published"] > 0
    print("[demo] OK" if ok else "[demo] FAILED: no bodies published")
    return 0 if ok else 1


class _BodyCounter:
    """Counts the node's BodyArray messages from a background thread (to know when it has drained)."""

    def __init__(self) -> None:
        import threading

        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        from scorehmr_ros.msg import BodyArray

        self.count, self.last = 0, time.monotonic()
        self.diag: dict[str, str] = {}  # the newest pipeline status of /diagnostics
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self._node = Node("scorehmr_demo_counter", context=self._context)
        self._node.create_subscription(BodyArray, f"{NODE}/bodies", self._on_body, 10)
        self._node.create_subscription(BodyArray, GROUND_TRUTH_TOPIC, lambda _msg: None, 10)
        self._node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_body(self, _msg) -> None:
        self.count += 1
        self.last = time.monotonic()

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if status.name == PIPELINE_STATUS:
                self.diag = {kv.key: kv.value for kv in status.values}

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


def sets_accounted(diag: dict[str, str]) -> tuple[int, int]:
    """(sets synchronised, sets with an outcome: published, no person, dropped, rejected or failed)."""
    n = {k: int(_number(diag.get(k, "0"))) for k in ("sets", "published", "no_person", "dropped_queue")}
    done = n["published"] + n["no_person"] + n["dropped_queue"]
    for key in ("dropped_stamp", "compute_errors", "sets_rejected"):
        done += int(_number(diag.get(key, "0")))
    return n["sets"], done


def _wait_for_drain(counter: _BodyCounter, expected_sets: int, timeout: float) -> bool:
    """After the replay: wait until the node's /diagnostics account for every synchronised set
    (``expected_sets`` of them, or fewer once none arrived for 10 s), then 1.5 s more so that the
    recorder has that diagnostics message and the last bodies. False on timeout."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        sets, done = sets_accounted(counter.diag) if counter.diag else (0, -1)
        if done >= sets and (sets >= expected_sets or time.monotonic() - start > 10.0):
            time.sleep(1.5)
            return True
        time.sleep(0.2)
    return False


if __name__ == "__main__":
    sys.exit(main())
