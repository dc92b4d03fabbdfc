"""Denoiser engines: every backend that runs here matches eager torch; caches are keyed and reused.

TensorRT itself cannot run without an NVIDIA GPU; its key/profile/dispatch logic is tested here and
``backend="tensorrt"`` must fail clearly on a CPU-only machine.
"""

import os

import pytest
import torch

from scorehmr_ros.core import engines
from scorehmr_ros.core.denoiser import Denoiser, DenoiserConfig, load_denoiser
from scorehmr_ros.core.engines import (
    BUILD_COUNTS,
    BackendUnavailable,
    make_denoiser,
    onnx_cache_key,
    select_backend,
    tensorrt_cache_key,
    tensorrt_profile,
    weights_sha256,
)

# float32 backends reorder/fuse the same float32 arithmetic: differences are ~1e-6 on |eps| ~ 1.
ATOL = 1e-4
BATCHES = (1, 7, 64)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    return load_denoiser()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def ort_engine(model, cache_dir):
    return make_denoiser(model, backend="onnxruntime", cache_dir=cache_dir, num_threads=1)


def _inputs(model, b, gen):
    x = torch.randn(b, model.cfg.x_dim, generator=gen)
    t = torch.randint(0, 1000, (b,), generator=gen)
    c = torch.randn(b, model.cfg.cond_dim, generator=gen)
    return x, t, c


def _max_diff_vs_eager(model, engine):
    gen = torch.Generator().manual_seed(1234)
    worst = 0.0
    for b in BATCHES:
        x, t, c = _inputs(model, b, gen)
        with torch.no_grad():
            ref = model(x, t, c)
            out = engine(x, t, c)
        assert out.shape == ref.shape == (b, model.cfg.x_dim) and out.dtype == torch.float32
        worst = max(worst, (out - ref).abs().max().item())
    return worst


def test_torch_backend_matches_eager(model):
    engine = make_denoiser(model, backend="torch")
    assert engine.backend == "torch" and engine.differentiable
    assert _max_diff_vs_eager(model, engine) == 0.0


@pytest.mark.parametrize("io_binding", [False, True])
def test_onnxruntime_matches_eager(model, cache_dir, ort_engine, io_binding):
    engine = make_denoiser(
        model, backend="onnxruntime", cache_dir=cache_dir, num_threads=1, io_binding=io_binding
    )
    assert engine.backend == "onnxruntime"
    assert _max_diff_vs_eager(model, engine) < ATOL


def test_onnxruntime_scalar_timestep_and_no_grad_guard(model, ort_engine):
    x, _, c = _inputs(model, 5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x, torch.full((5,), 17), c)
        assert (ort_engine(x, 17, c) - ref).abs().max().item() < ATOL
    with pytest.raises(RuntimeError, match="not differentiable"):
        ort_engine(x.requires_grad_(True), 17, c)


def test_onnx_cache_created_once_and_reused(model, tmp_path):
    before = BUILD_COUNTS["onnx_export"]
    first = make_denoiser(model, backend="onnxruntime", cache_dir=tmp_path)
    assert BUILD_COUNTS["onnx_export"] == before + 1 and first.info["exported"]
    assert first.cache_path.parent == tmp_path and first.cache_path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]  # no temp files left
    mtime = first.cache_path.stat().st_mtime_ns
    second = make_denoiser(model, backend="onnxruntime", cache_dir=tmp_path)
    assert BUILD_COUNTS["onnx_export"] == before + 1 and not second.info["exported"]
    assert second.cache_path == first.cache_path and second.cache_path.stat().st_mtime_ns == mtime


def test_default_cache_dir_is_env_or_home_never_cwd(monkeypatch, tmp_path):
    monkeypatch.setenv("SCOREHMR_CACHE_DIR", str(tmp_path / "c"))
    assert engines.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SCOREHMR_CACHE_DIR")
    d = engines.default_cache_dir()
    assert d.is_absolute() and d == engines.Path.home() / ".cache" / "scorehmr_ros" / "engines"
    assert d != engines.Path(os.getcwd())


def test_cache_keys_change_with_weights_and_toolchain(model):
    h = weights_sha256(model)
    assert h == weights_sha256(load_denoiser())  # same weights, same key
    other = Denoiser(model.cfg)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.blocks[0].net[1].weight[0, 0] += 1e-3
    h2 = weights_sha256(other)
    assert h2 != h
    assert onnx_cache_key(h2) != onnx_cache_key(h)
    assert onnx_cache_key(h, opset=17) != onnx_cache_key(h, opset=18)
    assert onnx_cache_key(h, torch_version="2.0") != onnx_cache_key(h, torch_version="2.1")
    base = tensorrt_cache_key(h, "NVIDIA H100", "10.0", False)
    assert base != tensorrt_cache_key(h2, "NVIDIA H100", "10.0", False)
    assert base != tensorrt_cache_key(h, "NVIDIA L4", "10.0", False)
    assert base != tensorrt_cache_key(h, "NVIDIA H100", "10.1", False)
    assert base != tensorrt_cache_key(h, "NVIDIA H100", "10.0", True)
    assert base == tensorrt_cache_key(h, "NVIDIA H100", "10.0", False)
    # a different architecture with the same tensors' names still hashes differently
    assert weights_sha256(Denoiser(DenoiserConfig(width=64))) != weights_sha256(
        Denoiser(DenoiserConfig(width=32))
    )


def test_tensorrt_profile():
    p = tensorrt_profile(144, 128)
    assert p["x_t"] == ((1, 144), (24, 144), (256, 144))
    assert p["t"] == ((1,), (24,), (256,))
    assert p["c"] == ((1, 128), (24, 128), (256, 128))
    with pytest.raises(ValueError):
        tensorrt_profile(144, 128, (8, 4, 16))


def test_dispatch_logic():
    yes, no = (True, "ok"), (False, "CUDA is not available")
    assert select_backend("auto", trt=yes, ort=yes)[0] == "tensorrt"
    backend, reason = select_backend("auto", trt=no, ort=yes)
    assert backend == "onnxruntime" and "CUDA is not available" in reason
    assert select_backend("auto", trt=no, ort=(False, "no ort"))[0] == "torch"
    assert select_backend("compile") == ("compile", "requested explicitly")
    with pytest.raises(ValueError, match="unknown backend"):
        select_backend("tvm")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_tensorrt_on_cpu_raises_clearly(model, tmp_path):
    with pytest.raises(BackendUnavailable, match=r"CUDA.*torch.cuda.is_available\(\) is False"):
        make_denoiser(model, backend="tensorrt", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_auto_picks_onnxruntime_on_cpu(model, cache_dir):
    engine = make_denoiser(model, backend="auto", cache_dir=cache_dir)
    assert engine.backend == "onnxruntime"
    assert engine.reason.startswith("auto:") and "CUDA" in engine.reason
    with pytest.raises(ValueError, match="fp16"):
        make_denoiser(model, backend="onnxruntime", cache_dir=cache_dir, fp16=True)
    assert "fp16 ignored" in make_denoiser(model, backend="auto", cache_dir=cache_dir, fp16=True).reason


@pytest.mark.slow  # ~20-30 s of inductor compilation on a small shared CPU
def test_compile_matches_eager(model):
    engine = make_denoiser(model, backend="compile")
    assert engine.backend == "compile"
    assert _max_diff_vs_eager(model, engine) < ATOL


def test_refine_with_onnxruntime_matches_eager(cache_dir):
    from scorehmr_ros.core.guidance import make_terms
    from scorehmr_ros.core.models import ScoreHMRModels
    from scorehmr_ros.core.presets import GUIDANCE_WEIGHTS, VARIANT_TERMS
    from scorehmr_ros.core.refiner import RefineConfig, refine
    from scorehmr_ros.eval.heldout import heldout_scenes, regress_scene
    from scorehmr_ros.eval.variants import flat_cameras, scene_observations, shared_betas

    models = ScoreHMRModels.load()
    scene = heldout_scenes(models.body_model, num_views=3, seed=7, frame_stride=4, max_frames=3)[:1][0]
    reg = regress_scene(models.body_model, models.regressor, scene)
    config = RefineConfig(tau=50, step=10, iterations=1)
    terms = make_terms({n: GUIDANCE_WEIGHTS[n] for n in VARIANT_TERMS["combined"]})
    betas = shared_betas(reg.betas, scene, "combined")
    cams, obs = flat_cameras(scene), scene_observations(scene, "combined")

    def run(denoiser):
        args = (reg.x, reg.cond, betas, reg.transl, cams, obs, terms, config)
        return refine(*args, denoiser, models.body_model, models.schedule)

    ref = run(models.denoiser)
    out = run(make_denoiser(models.denoiser, backend="onnxruntime", cache_dir=cache_dir, num_threads=1))
    assert out.denoiser_calls == ref.denoiser_calls
    assert (out.x0 - reg.x).abs().max() > 1e-3  # refinement did move the poses
    assert (out.x0 - ref.x0).abs().max().item() < 1e-3
    assert (out.transl - ref.transl).abs().max().item() < 1e-4
    assert torch.allclose(out.loss, ref.loss, rtol=1e-3, atol=1e-4)
