"""``scorehmr-bench accuracy --quick`` end to end: outputs exist, every method/setting, finite numbers."""

import json
import math

import torch

from scorehmr_ros.eval import bench

torch.set_num_threads(1)


def test_lsp14_by_name():
    assert len(bench.LSP14) == 14 and len(set(bench.LSP14_INDEX)) == 14
    assert bench.method_names(1) == [
        "regressor",
        "smplify-single",
        "smplify-temporal",
        "scorehmr-single",
        "scorehmr-temporal",
    ]
    assert len(bench.method_names(4)) == 9


def test_quick_accuracy_end_to_end(tmp_path):
    bench.main(["accuracy", "--quick", "--out", str(tmp_path)])
    for name in (
        "bench_accuracy.md",
        "bench_accuracy.json",
        "bench_cdf.png",
        "bench_per_clip.png",
        "bench_accuracy_vs_time.png",
        "bench_overlay.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    report = json.loads((tmp_path / "bench_accuracy.json").read_text())
    assert report["git_revision"] and report["config"]["quick"] and report["seeds"]
    rows = {(r["setting"], r["views"], r["method"]): r for r in report["rows"]}
    cfg = bench.quick_config()
    for setting in (*cfg.settings, "e2e"):
        for V in cfg.views if setting != "e2e" else (cfg.e2e_views,):
            for method in bench.method_names(V):
                r = rows[(setting, V, method)]
                for k in (*bench.METRIC_KEYS, "ms_per_view_frame", "s_per_call"):
                    assert r[k] is not None and math.isfinite(r[k]), (setting, V, method, k)
    assert ("clean", 1, "smplify-multiview") not in rows
    assert report["speed_ratios"] and all(
        r["time_ratio_scorehmr_over_smplify"] > 0 for r in report["speed_ratios"]
    )
    methods = {s["method"] for s in report["sweeps"]}
    assert {"scorehmr-combined", "smplify-combined"} <= methods
    assert "| noisy | 4 | scorehmr-combined |" in (tmp_path / "bench_accuracy.md").read_text()


def _load_bench_speed():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_speed.py"
    spec = importlib.util.spec_from_file_location("bench_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_gate_fails_on_ratio_or_accuracy_regressions_only():
    gate = _load_bench_speed().speed_gate

    def rows(speedup_c, diff_c):
        base = {"speedup_vs_a": 1.0, "mpjpe_diff_vs_a_mm": 0.0}
        b = {"speedup_vs_a": 3.0, "mpjpe_diff_vs_a_mm": 0.001}
        c = {"speedup_vs_a": speedup_c, "mpjpe_diff_vs_a_mm": diff_c}
        return {"a_eager_fullmesh": base, "b_eager_joints": b, "c_ort_joints": c}

    assert gate(rows(5.9, 0.0005), 4.0, 0.1) == []
    slow = gate(rows(3.5, 0.0005), 4.0, 0.1)
    assert len(slow) == 1 and "c_ort_joints is 3.50x" in slow[0]
    off = gate(rows(5.9, -0.4), 4.0, 0.1)
    assert len(off) == 1 and "c_ort_joints MPJPE differs" in off[0]
