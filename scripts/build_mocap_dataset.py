#!/usr/bin/env python3
"""One-off builder: retarget pybullet's DeepMimic mocap clips onto SMPL's 24 joints.

Reads ``pybullet_data/data/motions/humanoid3d_*.txt`` and ``.../walker/*.txt``, checks the clip
skeleton's forward kinematics against pybullet's own (humanoid.urdf, globalScaling 0.25), retargets
with :func:`scorehmr_ros.sim.mocap.retarget_frames`, checks bone directions, and writes

* ``scorehmr_ros/data/mocap_smpl.npz`` (deterministic bytes: fixed zip timestamps, sorted clips),
* ``docs/retargeted_poses.png`` (clip skeleton vs. retargeted SMPL skeleton, front and side views).

Usage: ``python scripts/build_mocap_dataset.py [--pybullet-data DIR] [--out NPZ] [--png PNG]``
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scorehmr_ros.core.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402
from scorehmr_ros.sim import mocap  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - plain progress prints instead

    def tqdm(iterable, desc="", **_):
        items = list(iterable)
        for i, item in enumerate(items):
            print(f"{desc}: {i + 1}/{len(items)}", flush=True)
            yield item


def clip_path(data_dir: Path, name: str) -> Path:
    if name.startswith("walker_"):
        return data_dir / "data" / "motions" / "walker" / f"{name[len('walker_') :]}.txt"
    return data_dir / "data" / "motions" / f"{name}.txt"


def read_frames(path: Path) -> np.ndarray:
    frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != mocap.CLIP_FRAME_SIZE:
        raise ValueError(f"{path}: unexpected frame layout {frames.shape}")
    return frames


def pybullet_fk_check(data_dir: Path, clips: dict[str, np.ndarray], every: int = 10) -> float:
    """Max distance (m) between our clip FK and pybullet's link frames, on every ``every``-th frame."""
    try:
        import pybullet as pb
    except ImportError:
        print("pybullet not importable: skipping the FK cross-check")
        return float("nan")
    cid = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(
            str(data_dir / "humanoid" / "humanoid.urdf"),
            globalScaling=mocap.CLIP_URDF_SCALE,
            physicsClientId=cid,
        )
        joints = {
            pb.getJointInfo(body, j, physicsClientId=cid)[1].decode(): j
            for j in range(pb.getNumJoints(body, physicsClientId=cid))
        }
        worst = 0.0
        for frames in clips.values():
            ours = mocap.clip_forward_kinematics(frames)
            for f in range(0, len(frames), every):
                fr = frames[f]

                def quat(i, fr=fr):
                    q = np.array([fr[i + 1], fr[i + 2], fr[i + 3], fr[i]])  # WXYZ -> XYZW
                    return (q / np.linalg.norm(q)).tolist()

                pb.resetBasePositionAndOrientation(
                    body, fr[1:4].tolist(), quat(mocap.CLIP_QUAT_INDEX["root"]), physicsClientId=cid
                )
                for name, i in mocap.CLIP_QUAT_INDEX.items():
                    if name != "root":
                        pb.resetJointStateMultiDof(body, joints[name], quat(i), physicsClientId=cid)
                for name, i in mocap.CLIP_HINGE_INDEX.items():
                    pb.resetJointState(body, joints[name], fr[i], physicsClientId=cid)
                for name in mocap.CLIP_SKELETON:
                    if name in joints and name != "root":
                        theirs = pb.getLinkState(
                            body, joints[name], computeForwardKinematics=True, physicsClientId=cid
                        )
                        d = np.linalg.norm(np.asarray(theirs[4]) - ours[name][f].numpy())
                        worst = max(worst, float(d))
        return worst
    finally:
        pb.disconnect(cid)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed zip timestamps, so rebuilding gives identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


# ------------------------------------------------------------------------------------------------
# Figure
# ------------------------------------------------------------------------------------------------
def _side_color(name: str) -> str:
    return "tab:blue" if name.startswith("left") else "tab:red" if name.startswith("right") else "0.2"


def _clip_segments(points: dict[str, torch.Tensor], f: int):
    for name, (parent, _) in mocap.CLIP_SKELETON.items():
        if parent is not None:
            yield points[parent][f].numpy(), points[name][f].numpy(), _side_color(name)


def _smpl_segments(points: dict[str, torch.Tensor], f: int):
    for j, p in enumerate(SMPL_PARENTS):
        if p >= 0:
            name = SMPL_JOINT_NAMES[j]
            yield points[SMPL_JOINT_NAMES[p]][f].numpy(), points[name][f].numpy(), _side_color(name)
    yield points["head"][f].numpy(), points["head_top"][f].numpy(), _side_color("head")


def draw_figure(png: Path, shown: list[tuple[str, np.ndarray, torch.Tensor, list[int]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = max(len(frames_idx) for *_, frames_idx in shown) * 2
    fig, axes = plt.subplots(len(shown), ncols, figsize=(2.4 * ncols, 2.7 * len(shown)), squeeze=False)
    for r, (name, frames, rotations, frame_ids) in enumerate(shown):
        clip_pts = mocap.clip_points_in_smpl_world(frames)
        smpl_pts = mocap.smpl_points(rotations)  # pelvis at the origin
        for k, f in enumerate(frame_ids):
            root = clip_pts["root"][f].numpy()
            for v, (view, hor, label) in enumerate(
                (("front", 0, "x (subject's left)"), ("side", 2, "z (forward)"))
            ):
                ax = axes[r, 2 * k + v]
                # clip skeleton re-centred on its root, drawn left; SMPL skeleton (pelvis at 0) drawn right
                for segs, shift in (
                    (_clip_segments(clip_pts, f), -root),
                    (_smpl_segments(smpl_pts, f), None),
                ):
                    off = -0.55 if shift is not None else 0.55
                    for a, b, color in segs:
                        if shift is not None:
                            a, b = a + shift, b + shift
                        ax.plot([a[hor] + off, b[hor] + off], [a[1], b[1]], "-", color=color, lw=2)
                ax.set_xlim(-1.3, 1.3)
                ax.set_ylim(-1.1, 1.1)
                ax.set_aspect("equal")
                ax.axvline(0.0, color="0.85", lw=0.5)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{name.replace('humanoid3d_', '')} #{f} {view}", fontsize=8)
                if r == len(shown) - 1:
                    ax.set_xlabel(f"{label}\nclip | SMPL", fontsize=7)
    fig.suptitle(
        "Retargeting check. In each panel: left = clip skeleton (after basis change), right = SMPL rest\n"
        "skeleton posed with the retargeted rotations. Blue = subject's left, red = right. Front view: the\n"
        "viewer faces the subject (its left appears on the right). Side view: forward = right.",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pybullet-data", type=Path, default=None, help="pybullet_data dir (default: installed)")
    ap.add_argument("--out", type=Path, default=mocap.DEFAULT_MOCAP_PATH)
    ap.add_argument("--png", type=Path, default=REPO / "docs" / "retargeted_poses.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.pybullet_data is None:
        import pybullet_data

        args.pybullet_data = Path(pybullet_data.getDataPath())

    names = sorted(mocap.ALL_CLIPS)
    raw = {n: read_frames(clip_path(args.pybullet_data, n)) for n in tqdm(names, desc="reading clips")}

    worst = pybullet_fk_check(args.pybullet_data, raw)
    print(f"clip FK vs pybullet link frames: max deviation {worst * 1000:.3f} mm")
    if not worst < 1e-3:
        raise SystemExit("clip forward kinematics disagrees with pybullet: check the frame layout")

    rotations, translations, starts, lengths, fps, splits = [], [], [], [], [], []
    errors: dict[str, list[torch.Tensor]] = {}
    start = 0
    for name in tqdm(names, desc="retargeting"):
        rot, trans = mocap.retarget_frames(raw[name])
        for group, err in mocap.bone_direction_errors(raw[name], rot.to(torch.float32)).items():
            errors.setdefault(group, []).append(err)
        rotations.append(rot.to(torch.float32).numpy())
        translations.append(trans.to(torch.float32).numpy())
        starts.append(start)
        lengths.append(len(rot))
        start += len(rot)
        fps.append(mocap.clip_fps(raw[name]))
        splits.append("heldout" if name in mocap.HELDOUT_CLIPS else "train")

    print("bone direction error (deg), float32 rotations, all frames: mean / max")
    for group, errs in errors.items():
        e = torch.cat(errs)
        print(f"  {group:13s} {e.mean().item():.2e} / {e.max().item():.2e}")
    print(f"{'clip':28s} {'frames':>6s} {'fps':>6s} split")
    for name, n, f, s in zip(names, lengths, fps, splits, strict=True):
        print(f"{name:28s} {n:6d} {f:6.1f} {s}")
    for s in ("train", "heldout"):
        print(f"{s}: {sum(n for n, sp in zip(lengths, splits, strict=True) if sp == s)} frames")

    write_npz(
        args.out,
        {
            "format_version": np.array(1),
            "clip_names": np.array(names),
            "clip_split": np.array(splits),
            "clip_fps": np.array(fps, dtype=np.float64),
            "clip_start": np.array(starts, dtype=np.int64),
            "clip_length": np.array(lengths, dtype=np.int64),
            "heldout_clips": np.array(sorted(mocap.HELDOUT_CLIPS)),
            "joint_names": np.array(SMPL_JOINT_NAMES),
            "rotations": np.concatenate(rotations),
            "root_translation": np.concatenate(translations),
            "source_frames": np.concatenate([raw[n] for n in names]),
        },
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")

    clips = mocap.load_mocap(args.out)
    shown = []
    for name in ("humanoid3d_walk", "humanoid3d_run", "humanoid3d_kick", "humanoid3d_cartwheel",
                 "humanoid3d_crawl", "humanoid3d_backflip", "humanoid3d_dance_a"):  # fmt: skip
        c = clips[name]
        ids = np.linspace(0, c.num_frames - 1, 4)[:3].round().astype(int).tolist()
        shown.append((name, c.source_frames, c.rotations.to(torch.float64), ids))
    draw_figure(args.png, shown)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
