"""Denoiser backends and the refinement loop, timed on this machine (a benchmark, not a test).

    .venv/bin/python scripts/bench_speed.py [--threads 2] [--runs 200] [--refine-runs 5] [--no-compile]

1. Per-call denoiser latency (median over ``--runs`` calls after warm-up) for each backend at batch
   sizes 1, 3, 8, 24, 64: eager torch, torch.compile, ONNX Runtime (session.run with numpy arrays,
   and run_with_iobinding on the torch buffers).
2. A full ``refine()`` on one synchronized 3-camera set with a window of 8 frames (24 samples;
   keypoints + multi-view + temporal terms; ``PAPER_MULTI_VIEW`` config) for
   (a) eager denoiser + full-mesh body model (smplx forward, then keypoints gathered from the mesh),
   (b) eager denoiser + joints-only body model (``BodyModel.pose_keypoints``),
   (c) ONNX Runtime denoiser + joints-only body model;
   with speed-ups vs (a) and the accuracy of (b)/(c) vs (a) on the same inputs.
3. Early stopping (stopped samples leave the batch): every held-out clip, 3 cameras x ``--frames``
   frames, the ``quality`` schedule (tau 50 / step 2 / K 10), ONNX Runtime + joints-only, for a
   range of ``early_stop_rel`` thresholds (0 = off): mean iterations, denoiser sample-evaluations,
   time and accuracy.
4. Cost of one guided iteration against batch size (1 to 60 samples of one clip, keypoint term,
   tau 50 / step 2 / K 1, ONNX Runtime + joints-only): a least-squares fit to per-call + per-sample.

Prints Markdown tables and writes ``<out>/speed.json``. Exits with status 1 when the fastest
joints-only setup is less than ``--min-speedup`` (default 4) times faster than (a), or when any
joints-only setup's MPJPE differs from (a) by more than ``--max-mpjpe-diff`` mm: a ratio gate,
never an absolute time. TensorRT needs an NVIDIA GPU and is only benchmarked where CUDA and
torch_tensorrt are available.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.engines import make_denoiser, tensorrt_status
from scorehmr_ros.core.guidance import Observations, make_terms
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import GUIDANCE_WEIGHTS, PAPER_MULTI_VIEW, VARIANT_TERMS
from scorehmr_ros.core.refiner import RefineConfig, refine
from scorehmr_ros.eval.heldout import heldout_scenes, joint_errors_mm
from scorehmr_ros.eval.variants import scene_batch
from scorehmr_ros.provenance import cpu_model, provenance

BATCHES = (1, 3, 8, 24, 64)


class FullMeshBodyModel:
    """Body model whose ``pose_keypoints`` runs the full smplx mesh forward, then gathers keypoints."""

    def __init__(self, body_model):
        self.body_model = body_model

    def pose_keypoints(self, global_orient, body_pose, betas=None, transl=None, layout="blazepose33"):
        bm = self.body_model
        return bm.keypoints(bm(global_orient, body_pose, betas, transl), layout)


def time_calls(fn, args, runs: int, warmup: int) -> float:
    """Median wall time (ms) of ``fn(*args)`` over ``runs`` calls after ``warmup`` calls."""
    with torch.no_grad():
        for _ in range(warmup):
            fn(*args)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_calls(models, engines: dict, runs: int, warmup: int) -> dict[str, dict[int, float]]:
    cfg = models.denoiser.cfg
    gen = torch.Generator().manual_seed(0)
    inputs = {
        b: (
            torch.randn(b, cfg.x_dim, generator=gen),
            torch.randint(0, 1000, (b,), generator=gen),
            torch.randn(b, cfg.cond_dim, generator=gen),
        )
        for b in BATCHES
    }
    out: dict[str, dict[int, float]] = {name: {} for name in engines}
    jobs = [(name, b) for b in BATCHES for name in engines]  # interleaved: load drift hits all alike
    for name, b in tqdm(jobs, desc="denoiser calls", unit="case"):
        out[name][b] = time_calls(engines[name], inputs[b], runs, warmup)
    return out


def bench_refine(models, engines: dict, frames: int, views: int, runs: int) -> dict:
    bm = models.body_model
    scene = heldout_scenes(bm, num_views=views, seed=7, frame_stride=2, max_frames=frames)[0]
    batch = scene_batch(models, scene, "combined")
    reg, betas = batch.reg, batch.betas
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in VARIANT_TERMS["combined"]})
    full = FullMeshBodyModel(bm)
    with torch.no_grad():  # both body-model paths give the same keypoints
        rot = reg.rotations
        kp_full = full.pose_keypoints(rot[:, 0], rot[:, 1:], betas, reg.transl)
        kp_fast = bm.pose_keypoints(rot[:, 0], rot[:, 1:], betas, reg.transl)
    kp_diff = (kp_full - kp_fast).abs().max().item()
    setups = {
        "a_eager_fullmesh": (engines["torch"], full),
        "b_eager_joints": (engines["torch"], bm),
        "c_ort_joints": (engines["onnxruntime"], bm),
    }
    if "tensorrt" in engines:
        setups["d_tensorrt_joints"] = (engines["tensorrt"], bm)

    def run(name):
        denoiser, body = setups[name]
        return refine(*batch.refine_args(), terms, PAPER_MULTI_VIEW, denoiser, body, models.schedule)

    results = {name: run(name) for name in setups}  # warm-up, and the results compared below
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in tqdm(range(runs), desc=f"refine x{len(setups)} setups", unit="round"):
        for name in setups:
            t0 = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - t0)
    base = results["a_eager_fullmesh"]
    base_mpjpe = joint_errors_mm(bm, base.rotations, betas, scene)["mpjpe"].mean().item()
    base_ms = 1000 * statistics.median(times["a_eager_fullmesh"])
    rows = {}
    for name, res in results.items():
        ms = 1000 * statistics.median(times[name])
        mp = joint_errors_mm(bm, res.rotations, betas, scene)["mpjpe"].mean().item()
        guided_steps = res.body_calls - int(res.iterations_run.max())  # minus the per-iteration loss evals
        rows[name] = {
            "ms": ms,
            "guided_steps": guided_steps,
            "ms_per_guided_step": ms / guided_steps,  # incl. the inversion steps' denoiser calls
            "speedup_vs_a": base_ms / ms,
            "max_abs_diff_x0_vs_a": (res.x0 - base.x0).abs().max().item(),
            "max_abs_diff_transl_vs_a": (res.transl - base.transl).abs().max().item(),
            "mpjpe_mm": mp,
            "mpjpe_diff_vs_a_mm": mp - base_mpjpe,
            "denoiser_calls": res.denoiser_calls,
            "body_calls": res.body_calls,
            "iterations_run_max": int(res.iterations_run.max()),
        }
    regressor_mpjpe = joint_errors_mm(bm, reg.rotations, reg.betas, scene)["mpjpe"].mean().item()
    return {
        "scene": {"frames": scene.num_frames, "views": scene.num_views, "samples": reg.x.shape[0]},
        "config": {k: getattr(PAPER_MULTI_VIEW, k) for k in ("tau", "step", "iterations", "layout")},
        "terms": list(VARIANT_TERMS["combined"]),
        "keypoints_fullmesh_vs_joints_max_abs_diff_m": kp_diff,
        "regressor_mpjpe_mm": regressor_mpjpe,
        "runs": runs,
        "rows": rows,
    }


EARLY_STOP_THRESHOLDS = (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
QUALITY = RefineConfig(tau=50, step=2, iterations=10)  # the streaming ``quality`` schedule


def bench_early_stop(models, denoiser, frames: int, views: int) -> dict:
    """Per threshold: iterations, evaluations, seconds and errors summed over the held-out clips."""
    bm = models.body_model
    scenes = heldout_scenes(bm, num_views=views, seed=7, frame_stride=2, max_frames=frames)
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in VARIANT_TERMS["combined"]})
    batches = [scene_batch(models, scene, "combined") for scene in scenes]
    rows = {}
    for rel in tqdm(EARLY_STOP_THRESHOLDS, desc="early-stop thresholds", unit="threshold"):
        config = dataclasses.replace(QUALITY, early_stop_rel=rel)
        acc = {"seconds": 0.0, "iterations": [], "evals": 0, "evals_masked": 0, "mpjpe": [], "pa_mpjpe": []}
        for b in batches:
            t0 = time.perf_counter()
            res = refine(*b.refine_args(), terms, config, denoiser, bm, models.schedule)
            acc["seconds"] += time.perf_counter() - t0
            acc["iterations"].append(res.iterations_run.float())
            acc["evals"] += res.denoiser_evals
            acc["evals_masked"] += res.denoiser_calls * b.reg.x.shape[0]  # had stopped samples stayed
            err = joint_errors_mm(bm, res.rotations, b.betas, b.scene)
            acc["mpjpe"].append(err["mpjpe"])
            acc["pa_mpjpe"].append(err["pa_mpjpe"])
        iters = torch.cat(acc["iterations"])
        rows[str(rel)] = {
            "early_stop_rel": rel,
            "seconds": acc["seconds"],
            "mean_iterations": iters.mean().item(),
            "stopped_early": int((iters < QUALITY.iterations).sum()),
            "samples": len(iters),
            "denoiser_evals": acc["evals"],
            "denoiser_evals_if_masked": acc["evals_masked"],
            "mpjpe_mm": torch.cat(acc["mpjpe"]).mean().item(),
            "pa_mpjpe_mm": torch.cat(acc["pa_mpjpe"]).mean().item(),
        }
    off = rows[str(0.0)]
    for row in rows.values():
        row["time_vs_off"] = row["seconds"] / off["seconds"]
        row["evals_vs_off"] = row["denoiser_evals"] / off["denoiser_evals"]
    config = {k: getattr(QUALITY, k) for k in ("tau", "step", "iterations")}
    return {"clips": len(scenes), "frames": frames, "views": views, "config": config, "rows": rows}


BATCH_COST_SIZES = (1, 10, 20, 40, 60)


def bench_batch_cost(models, denoiser, views: int, runs: int) -> dict:
    """Median ms of one refinement iteration per batch size, and the fit ms ≈ per_call + per_sample·B."""
    bm = models.body_model
    scene = heldout_scenes(bm, num_views=views, seed=7, frame_stride=2, max_frames=20)[0]
    batch = scene_batch(models, scene, "single")
    reg, obs = batch.reg, batch.obs
    terms = make_terms({"keypoints": GUIDANCE_WEIGHTS["keypoints"]})
    config = dataclasses.replace(QUALITY, iterations=1)
    ms = {}
    for n in tqdm(BATCH_COST_SIZES, desc="iteration cost vs batch", unit="size"):
        sel = slice(0, n)
        sub = Observations.independent(obs.keypoints[sel], obs.confidence[sel])
        args = (
            reg.x[sel],
            reg.cond[sel],
            reg.betas[sel],
            reg.transl[sel],
            batch.cameras.index(sel),
            sub,
            terms,
        )
        refine(*args, config, denoiser, bm, models.schedule)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            refine(*args, config, denoiser, bm, models.schedule)
            times.append(time.perf_counter() - t0)
        ms[n] = 1000 * statistics.median(times)
    sizes = torch.tensor(BATCH_COST_SIZES, dtype=torch.float64)
    design = torch.stack([torch.ones_like(sizes), sizes], dim=1)
    fit = torch.linalg.lstsq(
        design, torch.tensor([ms[n] for n in BATCH_COST_SIZES], dtype=torch.float64).unsqueeze(-1)
    ).solution
    return {
        "ms_per_iteration": {str(n): v for n, v in ms.items()},
        "per_call_ms": fit[0].item(),
        "per_sample_ms": fit[1].item(),
        "guided_steps_per_iteration": config.tau // config.step,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--runs", type=int, default=200, help="timed denoiser calls per case")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--refine-runs", type=int, default=5, help="timed refine() rounds")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--early-stop-frames", type=int, default=20, help="frames per clip in section 3")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (~20-30 s to build)")
    parser.add_argument(
        "--cache-dir", default=None, help="engine cache (default $SCOREHMR_CACHE_DIR or ~/.cache)"
    )
    parser.add_argument("--out", default="docs/eval")
    parser.add_argument("--min-speedup", type=float, default=4.0, help="gate: best setup vs (a)")
    parser.add_argument("--max-mpjpe-diff", type=float, default=0.1, help="gate: |ΔMPJPE| vs (a), mm")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    models = ScoreHMRModels.load()
    model = models.denoiser
    engines, build = {}, {}
    specs = [("torch", {}), ("onnxruntime", {}), ("onnxruntime+iobinding", {"io_binding": True})]
    if not args.no_compile:
        specs.append(("compile", {}))
    trt_ok, trt_why = tensorrt_status()
    if trt_ok:
        specs.append(("tensorrt", {}))
    for name, kw in tqdm(specs, desc="building engines", unit="engine"):
        backend = name.split("+")[0]
        engines[name] = make_denoiser(
            model, backend=backend, cache_dir=args.cache_dir, num_threads=args.threads, **kw
        )
        build[name] = engines[name].build_seconds

    calls = bench_calls(models, engines, args.runs, args.warmup)
    refine_res = bench_refine(models, engines, args.frames, args.views, args.refine_runs)
    early = bench_early_stop(models, engines["onnxruntime"], args.early_stop_frames, args.views)
    batch_cost = bench_batch_cost(models, engines["onnxruntime"], args.views, args.refine_runs)

    env = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ort_intra_op_threads": args.threads,
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "python": platform.python_version(),
        "tensorrt": trt_why,
        "note": "shared machine (other jobs running); medians reduce but do not remove the noise",
    }
    report = {
        "provenance": provenance(),
        "env": env,
        "build_seconds": build,
        "denoiser_call_ms": {k: {str(b): v for b, v in d.items()} for k, d in calls.items()},
        "denoiser_call_runs": args.runs,
        "refine": refine_res,
        "early_stop": early,
        "iteration_cost": batch_cost,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"\n{env['cpu']} ({env['cpu_count']} logical CPUs), torch {env['torch']} with "
        f"{env['torch_threads']} threads, onnxruntime {env['onnxruntime']} with {args.threads} intra-op"
        " threads"
    )
    print(f"TensorRT: {trt_why}\n")
    print(f"Denoiser call, median ms of {args.runs} after {args.warmup} warm-up:\n")
    print("| backend | build s | " + " | ".join(f"B={b}" for b in BATCHES) + " |")
    print("|---|---:|" + "---:|" * len(BATCHES))
    for name, d in calls.items():
        cells = " | ".join(f"{d[b]:.3f}" for b in BATCHES)
        print(f"| {name} | {build[name]:.1f} | {cells} |")
    r = refine_res
    sc = r["scene"]
    print(
        f"\nrefine(): {sc['views']} cameras x {sc['frames']} frames = {sc['samples']} samples, "
        f"terms {'+'.join(r['terms'])}, PAPER_MULTI_VIEW {r['config']}, median of {r['runs']} "
        f"(regressor init MPJPE {r['regressor_mpjpe_mm']:.1f} mm; full-mesh vs joints-only keypoints "
        f"differ by {r['keypoints_fullmesh_vs_joints_max_abs_diff_m']:.1e} m):\n"
    )
    print(
        "| setup | ms | ms per guided step | speed-up vs (a) | max abs diff x0 vs (a) | MPJPE mm "
        "| ΔMPJPE vs (a) mm |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in r["rows"].items():
        print(
            f"| {name} | {row['ms']:.0f} | {row['ms_per_guided_step']:.2f} | {row['speedup_vs_a']:.2f}x "
            f"| {row['max_abs_diff_x0_vs_a']:.1e} "
            f"| {row['mpjpe_mm']:.2f} | {row['mpjpe_diff_vs_a_mm']:+.4f} |"
        )
    e = early
    print(
        f"\nEarly stopping, stopped samples leave the batch: {e['clips']} held-out clips x {e['views']} "
        f"cameras x {e['frames']} frames, quality schedule {e['config']}, ONNX Runtime + joints-only:\n"
    )
    print(
        "| early_stop_rel | mean iterations | stopped early | denoiser evals (if masked) "
        "| time vs off | MPJPE mm | PA-MPJPE mm |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in e["rows"].values():
        print(
            f"| {row['early_stop_rel']:g} | {row['mean_iterations']:.2f} "
            f"| {row['stopped_early']}/{row['samples']} "
            f"| {row['denoiser_evals']:,} ({row['denoiser_evals_if_masked']:,}) "
            f"| {row['time_vs_off']:.2f} | {row['mpjpe_mm']:.1f} | {row['pa_mpjpe_mm']:.1f} |"
        )
    c = batch_cost
    print(
        f"\nOne refinement iteration ({c['guided_steps_per_iteration']} guided steps, keypoint term) by "
        f"batch size, median of {c['runs']}: "
        + ", ".join(f"B={n} {v:.0f} ms" for n, v in c["ms_per_iteration"].items())
        + f"; fit: {c['per_call_ms']:.0f} ms per call + {c['per_sample_ms']:.2f} ms per sample"
    )
    print(f"\nwrote {out / 'speed.json'}")
    failures = speed_gate(r["rows"], args.min_speedup, args.max_mpjpe_diff)
    for line in failures:
        print(f"REGRESSION: {line}")
    if failures:
        raise SystemExit(1)


def speed_gate(rows: dict, min_speedup: float, max_mpjpe_diff: float) -> list[str]:
    """Why the refinement rows fail the ratio gate (empty list: pass)."""
    fast = {k: v for k, v in rows.items() if k != "a_eager_fullmesh"}
    best_name = max(fast, key=lambda k: fast[k]["speedup_vs_a"])
    best = fast[best_name]
    failures = []
    if best["speedup_vs_a"] < min_speedup:
        failures.append(
            f"best setup {best_name} is {best['speedup_vs_a']:.2f}x faster than (a), < {min_speedup}x"
        )
    for name, row in fast.items():
        if abs(row["mpjpe_diff_vs_a_mm"]) > max_mpjpe_diff:
            failures.append(f"{name} MPJPE differs from (a) by {row['mpjpe_diff_vs_a_mm']:+.3f} mm")
    return failures


if __name__ == "__main__":
    main()
