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
