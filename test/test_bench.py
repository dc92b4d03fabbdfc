"""``scorehmr-bench accuracy --quick`` end to end: outputs exist, every method/setting, finite numbers."""

import json
import math

import pytest
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
    rigs = {s: cfg.views for s in cfg.settings} | {
        "e2e": (cfg.e2e_views,),
        "e2e-unusual": (cfg.unusual_views,),
    }
    for setting, views in rigs.items():
        for V in views:
            for method in bench.method_names(V) + bench.calibrated_method_names(V, cfg):
                r = rows[(setting, V, method)]
                keys = bench.DLT_KEYS if method == "dlt" else bench.METRIC_KEYS
                for k in (*keys, "ms_per_view_frame", "s_per_call"):
                    assert r[k] is not None and math.isfinite(r[k]), (setting, V, method, k)
    assert ("clean", 1, "smplify-multiview") not in rows and ("clean", 1, "dlt") not in rows
    assert rows[("clean", 2, "dlt")]["limb_fixed"] < 1.0  # exact projections
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


def _gt_scene(views=3, frames=5):
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.eval.heldout import heldout_scenes
    from scorehmr_ros.sim.scene import CLEAN

    bm = load_body_model()
    return bm, heldout_scenes(bm, views, 0, 2, frames, CLEAN)[1]


def test_world_bodies_scored_in_every_camera_and_in_the_fixed_frame():
    """The ground-truth world body, re-expressed per camera, scores ~0 everywhere (camera-frame,
    2D and fixed-frame); a body shifted 10 cm in the world is 100 mm off in the fixed frame only;
    invalid samples score NaN."""
    bm, scene = _gt_scene()
    T, V = scene.num_frames, scene.num_views
    betas = scene.betas.expand(T, -1)
    cam = bench.world_bodies_in_views(bm, scene, scene.rotations, betas, scene.transl)
    m = bench.sample_metrics(bm, scene, *cam)
    for k in ("mpjpe", "pa_mpjpe", *bench.FIXED_KEYS):
        assert float(m[k].abs().max()) < 0.5, k
    assert float(m["err_2d"].max()) < 0.5
    shifted = bench.world_bodies_in_views(
        bm, scene, scene.rotations, betas, scene.transl + torch.tensor([0.1, 0, 0])
    )
    valid = torch.ones(T * V, dtype=torch.bool)
    valid[:V] = False  # first frame: no estimate
    m = bench.sample_metrics(bm, scene, *shifted, valid)
    assert torch.isnan(m["pelvis"][:V]).all() and torch.isnan(m["accel"][:1]).all()
    assert torch.allclose(m["pelvis"][V:], torch.tensor(100.0), atol=0.5)
    assert float(m["mpjpe"][V:].max()) < 0.5  # root-aligned: the shift is invisible


def test_dlt_rows_score_triangulated_limbs_only():
    _, scene = _gt_scene()
    m, seconds = bench.dlt_metrics(scene)
    assert seconds > 0 and float(m["limb_fixed"].max()) < 1.0 and float(m["pelvis"].max()) < 1.0
    assert all(torch.isnan(m[k]).all() for k in bench.METRIC_KEYS if k not in bench.DLT_KEYS)


def test_unusual_rig_has_a_wide_1080p_camera_a_rolled_camera_and_sees_the_subject():
    import math

    from scorehmr_ros.sim.mocap import heldout_clips, load_mocap
    from scorehmr_ros.sim.rigs import unusual_rig
    from scorehmr_ros.sim.scene import CLEAN, make_scene

    bm, _ = _gt_scene()
    clip = heldout_clips(load_mocap())["humanoid3d_getup_faceup"]
    scene = make_scene(
        bm, clip, 5, 7, frames=slice(0, 60, 6), corruption=CLEAN, occlusion=False, rig=unusual_rig
    )
    cams = scene.cameras
    assert cams.image_size[0].tolist() == [1920.0, 1080.0]
    hfov = 2 * math.degrees(math.atan(960 / float(cams.K[0, 0, 0])))
    assert abs(hfov - 100) < 0.5
    assert cams.image_size[1].tolist() == [480.0, 640.0]  # portrait
    # Rolled: the image's down axis (camera y) is horizontal in the world (y up); upright cameras'
    # image x axis is horizontal instead.
    assert abs(float(cams.R[1, 1, 1])) < 0.2 and all(abs(float(cams.R[v, 0, 1])) < 1e-5 for v in (0, 2, 3, 4))
    heights = (-(cams.R.transpose(-1, -2) @ cams.t.unsqueeze(-1))[..., 0])[:, 1]
    assert ((heights > 0.8 - 1e-3) & (heights < 2.5 + 1e-3)).all()
    uv, size = scene.keypoints2d_clean, cams.image_size
    inside = ((uv >= 0) & (uv < size[None, :, None])).all(-1).float().mean((0, 2))
    assert (inside > 0.9).all(), inside


def test_e2e_clips_all_keeps_the_default_clips_and_their_seeds_first():
    """``--e2e-clips all``: the default end-to-end clips first (same render seeds as the default
    run), then the other held-out clips; a clip that is not held out is refused."""
    import argparse

    from scorehmr_ros.eval.bench import BenchConfig, _e2e_clip_names, e2e_render_seeds

    parser = argparse.ArgumentParser()
    default = BenchConfig()
    names = _e2e_clip_names(["all"], parser)
    assert names[: len(default.e2e_clips)] == default.e2e_clips
    assert "humanoid3d_getup_faceup" in names and len(set(names)) == len(names)
    seeds = e2e_render_seeds(BenchConfig(e2e_clips=names))
    assert all(seeds[c] == s for c, s in e2e_render_seeds(default).items())
    with pytest.raises(SystemExit):
        _e2e_clip_names(["humanoid3d_walk"], parser)  # a training clip


def test_iterations_option_caps_k_of_the_named_variants_only():
    """``--iterations multiview=20``: the multi-view schedule runs with K = 20, the others keep theirs;
    a name that is not a variant, or K < 1, is refused."""
    import argparse

    from scorehmr_ros.core.presets import VARIANT_SCHEDULES
    from scorehmr_ros.eval.bench import BenchConfig, _variant_iterations, scorehmr_config

    cfg = BenchConfig(scorehmr_iterations=dict([_variant_iterations("multiview=20")]))
    assert scorehmr_config("multiview", cfg).iterations == 20
    assert scorehmr_config("multiview", cfg).share_body_pose  # the variant's other settings stay
    assert scorehmr_config("single", cfg).iterations == VARIANT_SCHEDULES["single"].iterations
    for bad in ("multi=20", "single=0", "single"):
        with pytest.raises(argparse.ArgumentTypeError):
            _variant_iterations(bad)


def test_cli_passes_iterations_and_options_into_the_bench_config(monkeypatch, tmp_path):
    """``scorehmr-bench accuracy --iterations single=7 multiview=3 ...`` reaches run_accuracy's config
    (the quick preset's caps merged with the command line's)."""
    from scorehmr_ros.eval import bench

    seen = {}
    monkeypatch.setattr(bench, "run_accuracy", lambda cfg, out: seen.update(cfg=cfg, out=out))
    argv = ["accuracy", "--quick", "--iterations", "single=7", "multiview=3", "--views", "2", "--out"]
    bench.main([*argv, str(tmp_path), "--settings", "noisy", "--threads", "1"])
    cfg = seen["cfg"]
    assert cfg.scorehmr_iterations == {"single": 7, "multiview": 3}
    assert bench.scorehmr_config("single", cfg).iterations == 7
    assert cfg.views == (2,) and cfg.settings == ("noisy",) and cfg.threads == 1
    assert seen["out"] == tmp_path


def test_e2e_detection_is_the_nodes_single_person_detector(monkeypatch, tmp_path):
    """The e2e settings detect like the node (tile fallback on unless --no-tile-fallback, MoveNet's
    limbs unless --limb-model none), and the detection caches of the variants never mix."""
    from scorehmr_ros.core.detector import BlazePoseDetector
    from scorehmr_ros.core.fallback_detector import FallbackPoseDetector
    from scorehmr_ros.core.limb_model import WithLimbModel
    from scorehmr_ros.eval import bench

    with bench._stream_detector(bench.BenchConfig()) as det:
        assert isinstance(det, WithLimbModel) and isinstance(det.detector, FallbackPoseDetector)
        assert not det.primary.static_image_mode
    with bench._stream_detector(bench.BenchConfig(tile_fallback=False, limb_model="none")) as det:
        assert isinstance(det, BlazePoseDetector)
    tags = {
        bench._model_tag(bench.BenchConfig(tile_fallback=tf, limb_model=lm))
        for tf in (True, False)
        for lm in ("movenet_thunder", "none")
    }
    assert len(tags) == 4
    seen = {}
    monkeypatch.setattr(bench, "run_accuracy", lambda cfg, out: seen.update(cfg=cfg))
    bench.main(["accuracy", "--quick", "--no-tile-fallback", "--limb-model", "none", "--out", str(tmp_path)])
    assert seen["cfg"].tile_fallback is False and seen["cfg"].limb_model == "none"
