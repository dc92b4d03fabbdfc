"""ScoreHMR refinement with the packaged weights on held-out scenes (seeded, small slices)."""

import dataclasses

import pytest
import roma
import torch

from scorehmr_ros.core.checkpoint import WeightsError
from scorehmr_ros.core.denoiser import Denoiser, DenoiserConfig, load_denoiser
from scorehmr_ros.core.guidance import Observations, make_terms, total_loss
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import GUIDANCE_WEIGHTS
from scorehmr_ros.core.refiner import RefineConfig, body_state, refine
from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
from scorehmr_ros.eval.variants import flat_cameras, run_variant, scene_observations, score

FAST = RefineConfig(
    tau=50, step=5, iterations=3
)  # a short schedule (the presets are tested in test_streaming)


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(2)
    return ScoreHMRModels.load()


@pytest.fixture(scope="module")
def scenes(models):
    # Two held-out clips, 3 views, 10 consecutive frames each (seeded rigs and corruption).
    return heldout_scenes(models.body_model, num_views=3, seed=7, frame_stride=2, max_frames=10)[:2]


def _cross_view_spread(rotations, T, V):
    body = rotations[:, 1:].reshape(T, V, 23, 9)
    return (body - body.mean(1, keepdim=True)).norm(dim=-1).mean().item()


def test_keypoint_guidance_beats_the_regression_init(models, scenes):
    for scene in scenes:
        reg = regress_scene(models.body_model, models.regressor, scene)
        before = score(models, scene, run_variant(models, scene, reg, "regressor"))
        after = score(models, scene, run_variant(models, scene, reg, "single", FAST))
        assert after["err_2d"] < 0.7 * before["err_2d"], (before, after)
        assert after["mpjpe"] < before["mpjpe"] - 5.0, (before, after)


def test_multiview_term_reduces_cross_view_disagreement(models, scenes):
    scene = scenes[0]
    T, V = scene.num_frames, scene.num_views
    reg = regress_scene(models.body_model, models.regressor, scene)
    single = run_variant(models, scene, reg, "single", FAST)
    multi = run_variant(models, scene, reg, "multiview", FAST)
    assert _cross_view_spread(multi.rotations, T, V) < 0.8 * _cross_view_spread(single.rotations, T, V)


def test_temporal_term_reduces_acceleration_error(models, scenes):
    scene = scenes[0]
    reg = regress_scene(models.body_model, models.regressor, scene)
    single = score(models, scene, run_variant(models, scene, reg, "single", FAST))
    temporal = score(models, scene, run_variant(models, scene, reg, "temporal", FAST))
    assert temporal["accel"] < 0.8 * single["accel"], (single, temporal)


def test_combined_terms_all_contribute(models, scenes):
    scene = scenes[1]
    reg = regress_scene(models.body_model, models.regressor, scene)
    obs = scene_observations(scene, "combined")
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in ("keypoints", "multiview", "temporal")})
    state = body_state(models.body_model, reg.x, reg.betas, reg.transl, "blazepose33")
    total, parts = total_loss(terms, reg.x, state, flat_cameras(scene), obs)
    assert set(parts) == {"keypoints", "multiview", "temporal"}
    assert all(p.sum() > 0 for p in parts.values())
    torch.testing.assert_close(total, sum(parts.values()))
    combined = score(models, scene, run_variant(models, scene, reg, "combined", FAST))
    before = score(models, scene, run_variant(models, scene, reg, "regressor"))
    assert combined["mpjpe"] < before["mpjpe"] and combined["accel"] < before["accel"]


def _single_inputs(models, scene, n):
    reg = regress_scene(models.body_model, models.regressor, scene)
    obs = scene_observations(scene, "single")
    cams = flat_cameras(scene)
    sel = slice(0, n)
    sub_obs = Observations.independent(obs.keypoints[sel], obs.confidence[sel])
    return reg.x[sel], reg.cond[sel], reg.betas[sel], reg.transl[sel], cams.index(sel), sub_obs


def test_batch_equals_one_by_one_and_inputs_untouched(models, scenes):
    x, c, b, t, cams, obs = _single_inputs(models, scenes[0], 3)
    copies = [v.clone() for v in (x, c, b, t, obs.keypoints, obs.confidence)]
    terms = make_terms({"keypoints": GUIDANCE_WEIGHTS["keypoints"]})
    args = (terms, FAST, models.denoiser, models.body_model, models.schedule)
    batch = refine(x, c, b, t, cams, obs, *args)
    for original, now in zip(copies, (x, c, b, t, obs.keypoints, obs.confidence), strict=True):
        assert torch.equal(original, now)  # no in-place edits
    for i in range(3):
        one_obs = Observations.independent(obs.keypoints[i : i + 1], obs.confidence[i : i + 1])
        one = refine(x[i : i + 1], c[i : i + 1], b[i : i + 1], t[i : i + 1], cams.index(i), one_obs, *args)
        torch.testing.assert_close(one.x0[0], batch.x0[i], atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(one.transl[0], batch.transl[i], atol=2e-4, rtol=1e-4)
    again = refine(x, c, b, t, cams, obs, *args)  # re-entrant: no state kept between calls
    torch.testing.assert_close(again.x0, batch.x0)


class _BatchSizeRecorder:
    """Denoiser wrapper that records the batch size of every call."""

    def __init__(self, denoiser):
        self.denoiser, self.sizes = denoiser, []

    def __call__(self, x_t, t, c):
        self.sizes.append(x_t.shape[0])
        return self.denoiser(x_t, t, c)


def test_stopped_samples_leave_the_batch_without_changing_the_others(models, scenes):
    # Samples 0 and 2 see no keypoints: their loss stays 0, so they stop after iteration 2;
    # sample 1 keeps improving and runs all 4 iterations.
    x, c, b, t, cams, obs = _single_inputs(models, scenes[0], 3)
    conf = obs.confidence.clone()
    conf[[0, 2]] = 0
    obs = Observations.independent(obs.keypoints, conf)
    terms = make_terms({"keypoints": GUIDANCE_WEIGHTS["keypoints"]})
    config = dataclasses.replace(FAST, iterations=4, early_stop_rel=1e-12)
    recorder = _BatchSizeRecorder(models.denoiser)
    res = refine(x, c, b, t, cams, obs, terms, config, recorder, models.body_model, models.schedule)
    assert res.iterations_run.tolist() == [2, 4, 2]
    calls_per_iteration = 2 * (FAST.tau // FAST.step)  # inversion + guided sampling
    assert recorder.sizes == [3] * (2 * calls_per_iteration) + [1] * (2 * calls_per_iteration)
    assert res.denoiser_evals == sum(recorder.sizes) and res.denoiser_calls == len(recorder.sizes)
    assert res.body_evals < res.body_calls * 3
    # Leaving the batch changes nothing for anyone: each sample equals its own refinement alone.
    for i, iters in enumerate(res.iterations_run.tolist()):
        one_obs = Observations.independent(obs.keypoints[i : i + 1], conf[i : i + 1])
        alone = dataclasses.replace(config, iterations=iters)
        args = (terms, alone, models.denoiser, models.body_model, models.schedule)
        one = refine(x[i : i + 1], c[i : i + 1], b[i : i + 1], t[i : i + 1], cams.index(i), one_obs, *args)
        torch.testing.assert_close(one.x0[0], res.x0[i], atol=2e-4, rtol=1e-4)
        torch.testing.assert_close(one.transl[0], res.transl[i], atol=2e-4, rtol=1e-4)


def test_coupled_terms_see_a_stopped_sample_as_its_frozen_result(models, scenes):
    # Two frames of one view linked by the temporal term; frame 0 has no keypoints and stops
    # after iteration 2. Frame 1 then keeps being pulled toward frame 0's frozen pose.
    x, c, b, t, cams, obs = _single_inputs(models, scenes[0], 2)
    conf = obs.confidence.clone()
    conf[0] = 0
    linked = Observations(
        obs.keypoints,
        conf,
        frame=torch.tensor([0, 1]),
        prev_index=torch.tensor([-1, 0]),
        anchor_pose=torch.zeros(2, 144),
        has_anchor=torch.zeros(2, dtype=torch.bool),
    )
    terms = make_terms({"keypoints": GUIDANCE_WEIGHTS["keypoints"], "temporal": GUIDANCE_WEIGHTS["temporal"]})
    # No translation steps, so that no Adam momentum carries over between the runs compared.
    config = dataclasses.replace(FAST, iterations=4, early_stop_rel=1e-12, transl_lr=0.0)
    two = dataclasses.replace(config, iterations=2)
    rest = (models.denoiser, models.body_model, models.schedule)
    res = refine(x, c, b, t, cams, linked, terms, config, *rest)
    assert res.iterations_run.tolist() == [2, 4]
    first = refine(x, c, b, t, cams, linked, terms, two, *rest)  # both frames, 2 iterations
    torch.testing.assert_close(res.x0[0], first.x0[0], atol=2e-4, rtol=1e-4)
    # Frame 1's last 2 iterations equal refining it from there with frame 0 as a fixed anchor.
    anchored = Observations(
        obs.keypoints[1:],
        conf[1:],
        frame=torch.tensor([1]),
        prev_index=torch.tensor([-1]),
        anchor_pose=first.x0[:1],
        has_anchor=torch.tensor([True]),
    )
    tail = refine(first.x0[1:], c[1:], b[1:], first.transl[1:], cams.index(1), anchored, terms, two, *rest)
    assert not torch.allclose(res.x0[1], first.x0[1], atol=1e-3)  # frame 1 did move after frame 0 stopped
    torch.testing.assert_close(res.x0[1], tail.x0[0], atol=5e-4, rtol=1e-3)


def test_inversion_then_unguided_sampling_returns_close_to_the_input(models, scenes):
    x, c, b, t, cams, obs = _single_inputs(models, scenes[0], 6)
    cfg = RefineConfig(tau=50, step=2, iterations=1)
    res = refine(x, c, b, t, cams, obs, [], cfg, models.denoiser, models.body_model, models.schedule)
    err = (res.x0 - x).abs().max().item()
    from scorehmr_ros.core.body_model import pose6d_to_rotmat

    angle = roma.rotmat_geodesic_distance(res.rotations, pose6d_to_rotmat(x.reshape(-1, 24, 6))).rad2deg()
    print(
        f"DDIM inversion + unguided sampling, tau=50 step 2: max |dx| {err:.3f} (6D), "
        f"joint rotation error mean {angle.mean():.2f} deg, max {angle.max():.2f} deg"
    )
    assert angle.max() < 5.0 and angle.mean() < 1.0
    assert torch.equal(res.transl, t)  # nothing guides the translation


def test_corrupt_and_mismatched_weights_fail_clearly(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(WeightsError, match="not found"):
        load_denoiser(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_denoiser(garbage)
    other = tmp_path / "other.pt"
    from scorehmr_ros.core.checkpoint import save_checkpoint

    small = DenoiserConfig(width=64)
    state = Denoiser(small).state_dict()
    torch.save({"config": dataclasses.asdict(DenoiserConfig()), "state_dict": state}, other)
    with pytest.raises(WeightsError, match="does not match"):
        load_denoiser(other)
    ok = tmp_path / "ok.pt"
    save_checkpoint(ok, Denoiser(small), small)
    assert load_denoiser(ok).cfg.width == 64


def test_offline_temporal_term_is_weighted_per_second(models):
    """Scenes know their frame interval; the offline variants weigh the temporal term by
    TEMPORAL_REFERENCE_INTERVAL_S / interval (a 30 fps clip at stride 2 is 15 fps: weight 0.5,
    a 60 fps clip at stride 2 is 30 fps: weight 1), and not at all without temporal links."""
    from scorehmr_ros.core.presets import TEMPORAL_REFERENCE_INTERVAL_S

    scenes = {
        s.clip_name: s
        for s in heldout_scenes(models.body_model, num_views=1, seed=7, frame_stride=2, max_frames=3)
    }
    for name, fps in (("humanoid3d_run", 30.0), ("humanoid3d_dance_b", 60.0)):
        scene = scenes[name]
        assert scene.frame_interval_s == pytest.approx(2.0 / fps, rel=1e-3)
        weight = scene_observations(scene, "combined").temporal_weight
        assert weight is not None
        expected = TEMPORAL_REFERENCE_INTERVAL_S * fps / 2.0
        assert torch.allclose(weight, torch.full_like(weight, expected), rtol=1e-3), (name, weight)
        assert scene_observations(scene, "combined", time_weighted=False).temporal_weight is None
        assert scene_observations(scene, "multiview").temporal_weight is None


def test_shared_body_pose_is_one_pose_per_instant(models, scenes):
    """share_body_pose: the views of each frame leave refine() with one body pose (joints 1-23)
    and their own global orientations; the helper averages within groups only."""
    from scorehmr_ros.core.refiner import group_mean_matrix, share_body_pose

    x = torch.randn(5, 144)
    shared = share_body_pose(x, torch.tensor([7, 7, 3, 7, 3]))
    assert torch.equal(shared[:, :6], x[:, :6]) and not torch.equal(shared, x)
    assert torch.allclose(shared[0, 6:], x[[0, 1, 3], 6:].mean(0)) and torch.equal(
        shared[1, 6:], shared[3, 6:]
    )
    assert torch.allclose(shared[2, 6:], x[[2, 4], 6:].mean(0))
    # refine() keeps one averaging matrix per call; restricted to whole groups (the live samples
    # when some groups stopped early) it still averages within each group.
    groups = torch.tensor([7, 7, 3, 7, 3])
    mean = group_mean_matrix(groups)
    assert torch.allclose(share_body_pose(x, None, mean), shared, atol=1e-6)
    live = torch.tensor([2, 4])
    assert torch.allclose(share_body_pose(x[live], None, mean[live][:, live]), shared[live], atol=1e-6)

    scene = scenes[0]
    T, V = scene.num_frames, scene.num_views
    reg = regress_scene(models.body_model, models.regressor, scene)

    def run(config):
        return refine(
            reg.x, reg.cond, reg.betas, reg.transl, flat_cameras(scene),
            scene_observations(scene, "multiview"), make_terms({"keypoints": GUIDANCE_WEIGHTS["keypoints"]}),
            config, models.denoiser, models.body_model, models.schedule,
        )  # fmt: skip

    out = run(dataclasses.replace(FAST, share_body_pose=True))
    body = out.rotations[:, 1:].reshape(T, V, 23, 3, 3)
    assert torch.allclose(body, body[:, :1].expand_as(body), atol=1e-5)
    orient = out.rotations[:, 0].reshape(T, V, 3, 3)
    assert (orient - orient[:, :1]).abs().amax() > 0.1  # each camera sees the body from elsewhere
    body_plain = run(FAST).rotations[:, 1:].reshape(T, V, 23, 3, 3)
    assert not torch.allclose(body_plain, body_plain[:, :1].expand_as(body_plain), atol=1e-3)
