"""Schedule and DDIM steps checked numerically against diffusers' DDIM schedulers."""

from itertools import pairwise

import pytest
import torch

from scorehmr_ros.core.diffusion import Schedule, ddim_step, predict_x0, step_ladder

diffusers = pytest.importorskip("diffusers")

T = 1000
STRIDE = 2  # ScoreHMR single-view: τ = 50 with step 2


def _schedulers():
    kwargs = dict(
        num_train_timesteps=T,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=False,
        set_alpha_to_one=True,
        prediction_type="epsilon",
        timestep_spacing="leading",
    )
    fwd = diffusers.DDIMScheduler(**kwargs)
    inv = diffusers.DDIMInverseScheduler(**kwargs)
    fwd.set_timesteps(T // STRIDE)
    inv.set_timesteps(T // STRIDE)
    return fwd, inv


def test_cosine_schedule_matches_diffusers():
    fwd, _ = _schedulers()
    ours = Schedule.cosine(T).abar
    torch.testing.assert_close(ours.float(), fwd.alphas_cumprod, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("t", [0, 2, 10, 48, 50, 100, 998])
def test_ddim_sampling_step_matches_diffusers(t):
    fwd, _ = _schedulers()
    schedule = Schedule(fwd.alphas_cumprod.double())  # identical ᾱ table
    gen = torch.Generator().manual_seed(t)
    x, eps = torch.randn(4, 144, generator=gen), torch.randn(4, 144, generator=gen)
    expected = fwd.step(eps, t, x, eta=0.0).prev_sample
    ours = ddim_step(schedule, x, eps, t, t - STRIDE)  # t - STRIDE < 0 means ᾱ = 1 (clean)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [2, 4, 50, 100, 998])
def test_ddim_inversion_step_matches_diffusers(t):
    _, inv = _schedulers()
    schedule = Schedule(inv.alphas_cumprod.double())
    gen = torch.Generator().manual_seed(100 + t)
    x, eps = torch.randn(4, 144, generator=gen), torch.randn(4, 144, generator=gen)
    expected = inv.step(eps, t, x).prev_sample  # moves from t - STRIDE up to t
    torch.testing.assert_close(ddim_step(schedule, x, eps, t - STRIDE, t), expected, rtol=1e-5, atol=1e-5)


def test_inversion_then_sampling_with_exact_eps_is_identity():
    """With the same ε at both ends of each step, DDIM inversion and sampling are exact inverses."""
    schedule = Schedule.cosine(T)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(8, 144, generator=gen)
    eps_table = {lvl: torch.randn(8, 144, generator=gen) for lvl in step_ladder(50, 2)}
    x = x0
    levels = step_ladder(50, 2)
    for cur, nxt in pairwise(levels):
        x = ddim_step(schedule, x, eps_table[cur], cur if cur > 0 else -1, nxt)
    for prv, cur in reversed(list(pairwise(levels))):
        # sampling uses the ε stored at the lower level, matching the inversion step that produced x
        x = ddim_step(schedule, x, eps_table[prv], cur, prv if prv > 0 else -1)
    torch.testing.assert_close(x, x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(predict_x0(schedule, x0, torch.zeros_like(x0), -1), x0)


def test_step_ladder_validates():
    assert step_ladder(50, 2)[:3] == [0, 2, 4] and step_ladder(50, 2)[-1] == 50
    with pytest.raises(ValueError):
        step_ladder(50, 3)
