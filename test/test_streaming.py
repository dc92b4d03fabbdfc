"""The node's estimator on a held-out 3-camera stream: causal output, missing/bad views, presets."""

import dataclasses

import pytest
import torch

from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import PRESETS
from scorehmr_ros.core.streaming import StreamingEstimator, ViewInput
from scorehmr_ros.eval.heldout import camera_joints, heldout_scenes
from scorehmr_ros.eval.metrics import mpjpe


@pytest.fixture(scope="module")
def models():
    return ScoreHMRModels.load()


@pytest.fixture(scope="module")
def scene(models):
    return heldout_scenes(models.body_model, num_views=3, seed=3, frame_stride=2, max_frames=8)[0]


@pytest.fixture(scope="module")
def unrefined_mpjpe(models, scene):
    """Per-frame MPJPE (mm) of the same stream with refinement switched off (regressor + fusion)."""
    from scorehmr_ros.core.refiner import RefineConfig

    est = StreamingEstimator(
        models, dataclasses.replace(PRESETS["realtime"], refine=RefineConfig(iterations=0))
    )
    gt = camera_joints(scene)[:, 0]
    joints = torch.stack([est.process(t, _views(scene, t))[0].joints for t in range(scene.num_frames)])
    return 1000 * mpjpe(joints, gt)


def _views(scene, t, drop=()):
    names = [f"cam{v + 1}" for v in range(scene.num_views)]
    return [
        ViewInput(
            names[v],
            scene.keypoints2d[t, v],
            scene.confidence[t, v],
            scene.cameras.K[v],
            scene.cameras.image_size[v],
        )
        for v in range(scene.num_views)
        if v not in drop
    ]


def test_stream_is_causal_and_accurate(models, scene, unrefined_mpjpe):
    est = StreamingEstimator(models, PRESETS["realtime"])
    gt = camera_joints(scene)[:, 0]  # reference camera = cam1
    published, errors = [], []
    for t in range(scene.num_frames):
        out = est.process(t, _views(scene, t))
        assert len(out) == 1 and out[0].stamp_ns == t  # free_frames=1: published immediately
        body = out[0]
        assert body.frame == "cam1" and body.joints.shape == (24, 3)
        assert set(body.view_errors_px) == {"cam1", "cam2", "cam3"}
        assert 0.0 <= body.fit_quality <= 1.0
        published.append(body.joints.clone())
        errors.append(1000 * mpjpe(body.joints[None], gt[t][None]).item())
    # Refinement must pay: >= 10 % below the same stream unrefined (measured: 88 vs 111 mm).
    assert sum(errors) / len(errors) < 0.9 * float(unrefined_mpjpe.mean()), errors
    assert est.flush() == []


def test_delayed_publication_and_flush(models, scene):
    cfg = dataclasses.replace(PRESETS["quality"], free_frames=3)
    est = StreamingEstimator(models, cfg)
    outs = [est.process(t, _views(scene, t)) for t in range(5)]
    assert [len(o) for o in outs] == [0, 0, 1, 1, 1]
    assert [o[0].stamp_ns for o in outs[2:]] == [0, 1, 2]
    rest = est.flush()
    assert [b.stamp_ns for b in rest] == [3, 4]


def test_missing_and_bad_views_are_skipped(models, scene):
    est = StreamingEstimator(models, PRESETS["realtime"])
    views = _views(scene, 0)
    views[1] = dataclasses.replace(views[1], keypoints=torch.full_like(views[1].keypoints, float("nan")))
    out = est.process(0, views)
    assert len(out) == 1 and set(out[0].view_errors_px) == {"cam1", "cam3"}
    out = est.process(1, _views(scene, 1, drop=(0,)))  # reference camera missing: another view's frame
    assert len(out) == 1 and out[0].frame == "cam2"
    nobody = [dataclasses.replace(v, confidence=torch.zeros_like(v.confidence)) for v in _views(scene, 2)]
    assert est.process(2, nobody) == []
    assert len(est.process(3, _views(scene, 3))) == 1


def test_backlog_of_sets_is_refined_in_one_call_and_published_in_order(models, scene, unrefined_mpjpe):
    est = StreamingEstimator(models, PRESETS["realtime"])
    gt = camera_joints(scene)[:, 0]
    first = est.process_many([(t, _views(scene, t)) for t in range(3)])
    later = est.process_many([(t, _views(scene, t)) for t in range(3, 5)])
    assert [b.stamp_ns for b in first] == [0, 1, 2] and [b.stamp_ns for b in later] == [3, 4]
    assert first[-1].sets_in_call == 3 and later[-1].sets_in_call == 2
    bodies = first + later
    err = 1000 * mpjpe(torch.stack([b.joints for b in bodies]), gt[:5]).mean().item()
    assert err < 0.9 * float(unrefined_mpjpe[:5].mean()), err


def test_warm_start_moves_the_previous_result_by_the_regressors_change(models, scene):
    # No cold-start guard: frame 0 must be the refined result, not a start it could keep.
    cfg = dataclasses.replace(PRESETS["realtime"], resolve_flips=False, cold_start_guard=False)
    est = StreamingEstimator(models, cfg)
    est.process(0, _views(scene, 0))
    prev = {c: s for c, s in est._anchor.items()}  # published (refined) states of frame 0
    states = est._regress(_views(scene, 1))
    for s in states:
        p = prev[s.camera]
        assert torch.allclose(s.x, p.x + (s.x_regressed - p.x_regressed))
        assert torch.allclose(s.transl, p.transl + (s.transl_regressed - p.transl_regressed))
        assert not torch.allclose(s.x, s.x_regressed)  # not simply the regressor's estimate
    cold = StreamingEstimator(models, dataclasses.replace(cfg, warm_start=False))
    cold.process(0, _views(scene, 0))
    assert all(torch.equal(s.x, s.x_regressed) for s in cold._regress(_views(scene, 1)))


def test_people_are_refined_in_one_batched_call_with_the_results_of_separate_calls(models, monkeypatch):
    """process_people: several estimators' windows in ONE refine() call per schedule (and the
    calibrated people's multi-view fits in ONE fit), each person's
    result as if refined alone (frame ids and temporal links offset per window; calibrated people
    with different view counts padded). Uncalibrated multi-view people share a body pose per
    instant, so windows whose frame ids collided would pull each other's poses together."""
    from scorehmr_ros.core import window_batch
    from scorehmr_ros.core.streaming import process_people
    from scorehmr_ros.eval.streaming import calibrated_views

    scenes = heldout_scenes(models.body_model, num_views=3, seed=8, frame_stride=3, max_frames=3)
    feeds = [
        lambda t: _views(scenes[0], t),  # uncalibrated, 3 views
        lambda t: _views(scenes[1], t, drop=(2,)),  # uncalibrated, 2 views
        lambda t: calibrated_views(scenes[2], t),  # calibrated, 3 views
        lambda t: calibrated_views(scenes[3], t)[:2],  # calibrated, 2 views
    ]
    config = PRESETS["realtime"]
    calls = []
    real_refine = window_batch.refine

    def counting_refine(*args, **kwargs):
        calls.append(args[0].shape[0])
        return real_refine(*args, **kwargs)

    monkeypatch.setattr(window_batch, "refine", counting_refine)
    from scorehmr_ros.core import streaming

    fits = []
    real_fit = streaming.fit_bodies

    def counting_fit(bm, jobs, config):
        fits.append(len(jobs))
        return real_fit(bm, jobs, config)

    monkeypatch.setattr(streaming, "fit_bodies", counting_fit)
    alone = [StreamingEstimator(models, config) for _ in feeds]
    together = [StreamingEstimator(models, config) for _ in feeds]
    for t in range(3):
        torch.manual_seed(t)
        separate = [est.process(t, feed(t)) for est, feed in zip(alone, feeds, strict=True)]
        calls.clear()
        fits.clear()
        torch.manual_seed(t)
        batched = process_people([(est, [(t, feed(t))]) for est, feed in zip(together, feeds, strict=True)])
        # One call for the uncalibrated people (3 + 2 samples), one for the calibrated (1 + 1).
        assert sorted(calls) == [2, 5], calls
        assert fits == [2], fits  # both calibrated people's multi-view fits in one batched call
        for i, (a, b) in enumerate(zip(separate, batched, strict=True)):
            assert len(a) == len(b) == 1
            # Calibrated people (2, 3): the fit's finite-difference Jacobians round differently in a
            # batch of two bodies, which moves weakly observed joint twists by a few 1e-3.
            atol = 1e-2 if i >= 2 else 2e-3
            assert torch.allclose(a[0].rotations, b[0].rotations, atol=atol), (
                (a[0].rotations - b[0].rotations).abs().max()
            )
            assert torch.allclose(a[0].joints, b[0].joints, atol=2e-3)
