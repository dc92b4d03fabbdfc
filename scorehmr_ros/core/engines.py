"""Inference engines for the denoiser ε_φ(x_t, t, c): eager torch, torch.compile, ONNX Runtime, TensorRT.

``make_denoiser(model_or_weights, backend=...)`` returns a :class:`DenoiserEngine`, a drop-in
``DenoiseFn`` for :func:`scorehmr_ros.core.refiner.refine`: ``eps = engine(x_t, t, c)`` takes and
returns torch tensors (the result lies on ``x_t``'s device). ``engine.backend`` names the backend
actually used, ``engine.reason`` says why (most useful with ``backend="auto"``).

Compiled artefacts (the ONNX file, the serialized TensorRT program) are cached in ``cache_dir``
(default ``$SCOREHMR_CACHE_DIR`` or ``~/.cache/scorehmr_ros/engines``; never the working directory),
under a key made from the sha256 of the weights (state dict bytes + architecture) and the versions
that shape the artefact, so retrained weights or a new toolchain never reuse a stale artefact.

Only the eager and compiled-torch backends are differentiable; the others refuse inputs that ask
for a gradient (use ``RefineConfig(grad_through_denoiser=False)``, the default, with them).

``torch_tensorrt`` is imported only inside the TensorRT branch and only when CUDA is available.
No ROS here.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scorehmr_ros.core.denoiser import Denoiser, load_denoiser

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "compile", "onnxruntime", "tensorrt")
ONNX_OPSET = 18
INPUT_NAMES = ("x_t", "t", "c")
OUTPUT_NAME = "eps"
TRT_BATCH_PROFILE = (1, 24, 256)  # min / opt / max batch of the TensorRT optimisation profile

# How many expensive builds this process did (tests use these to check that caches are reused).
BUILD_COUNTS = {"onnx_export": 0, "tensorrt_build": 0, "compile": 0}


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (missing package, no GPU, or its build failed)."""


# --------------------------------------------------------------------------------------------- keys


def default_cache_dir() -> Path:
    env = os.environ.get("SCOREHMR_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scorehmr_ros" / "engines"


def weights_sha256(model: Denoiser) -> str:
    """sha256 of the architecture config and every state-dict tensor (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    h.update(repr(sorted(asdict(model.cfg).items())).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _key(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:24]


def onnx_cache_key(weights_hash: str, opset: int = ONNX_OPSET, torch_version: str | None = None) -> str:
    """File name of the cached ONNX export for these weights, opset and torch version."""
    tv = torch_version or torch.__version__
    return f"denoiser-{weights_hash[:16]}-op{opset}-{_key(weights_hash, opset, tv)}.onnx"


def tensorrt_cache_key(
    weights_hash: str,
    gpu_name: str,
    trt_version: str,
    fp16: bool,
    profile: tuple[int, int, int] = TRT_BATCH_PROFILE,
    torch_version: str | None = None,
) -> str:
    """File name of the cached TensorRT program: weights + GPU + TensorRT version + precision + profile."""
    tv = torch_version or torch.__version__
    prec = "fp16" if fp16 else "fp32"
    key = _key(weights_hash, gpu_name, trt_version, prec, profile, tv)
    return f"denoiser-{weights_hash[:16]}-trt-{prec}-{key}.ep"


def tensorrt_profile(
    x_dim: int, cond_dim: int, batch: tuple[int, int, int] = TRT_BATCH_PROFILE
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shapes of each input for a dynamic-batch TensorRT optimisation profile."""
    lo, opt, hi = batch
    if not 1 <= lo <= opt <= hi:
        raise ValueError(f"batch profile must satisfy 1 <= min <= opt <= max, got {batch}")
    return {
        "x_t": ((lo, x_dim), (opt, x_dim), (hi, x_dim)),
        "t": ((lo,), (opt,), (hi,)),
        "c": ((lo, cond_dim), (opt, cond_dim), (hi, cond_dim)),
    }


# -------------------------------------------------------------------------------------- selection


def tensorrt_status() -> tuple[bool, str]:
    """(usable, why) for TensorRT here: CUDA first, then ``import torch_tensorrt`` (only if CUDA)."""
    if not torch.cuda.is_available():
        return False, "CUDA is not available (torch.cuda.is_available() is False)"
    try:
        import torch_tensorrt  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install raising something else
        return False, f"torch_tensorrt cannot be imported: {exc}"
    return True, f"CUDA device {torch.cuda.get_device_name(0)!r} and torch_tensorrt are available"


def onnxruntime_status() -> tuple[bool, str]:
    try:
        import onnxruntime
    except Exception as exc:
        return False, f"onnxruntime cannot be imported: {exc}"
    return True, f"onnxruntime {onnxruntime.__version__} is available"


def select_backend(
    requested: str, trt: tuple[bool, str] | None = None, ort: tuple[bool, str] | None = None
) -> tuple[str, str]:
    """(backend, reason) for a request. ``trt``/``ort`` override the probes (for tests)."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; expected one of {BACKENDS}")
    if requested != "auto":
        return requested, "requested explicitly"
    trt_ok, trt_why = trt if trt is not None else tensorrt_status()
    if trt_ok:
        return "tensorrt", f"auto: {trt_why}"
    ort_ok, ort_why = ort if ort is not None else onnxruntime_status()
    if ort_ok:
        return "onnxruntime", f"auto: TensorRT unusable ({trt_why}); {ort_why}"
    return "torch", f"auto: TensorRT unusable ({trt_why}); {ort_why}; using eager torch"


# ----------------------------------------------------------------------------------------- engine


@dataclass
class DenoiserEngine:
    """``eps = engine(x_t (B,144), t (B,) or scalar, c (B,C))`` → (B,144) on x_t's device."""

    backend: str
    reason: str
    run: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    differentiable: bool = False
    cache_path: Path | None = None
    build_seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def __call__(self, x_t: torch.Tensor, t, c: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device, dtype=torch.long).reshape(-1).expand(x_t.shape[0])
        if not self.differentiable and torch.is_grad_enabled() and (x_t.requires_grad or c.requires_grad):
            raise RuntimeError(
                f"the {self.backend!r} denoiser engine is not differentiable; call it under torch.no_grad() "
                "(RefineConfig(grad_through_denoiser=False)) or use backend='torch'/'compile'"
            )
        return self.run(x_t, t, c)


def _as_model(model_or_weights) -> Denoiser:
    if isinstance(model_or_weights, nn.Module):
        return model_or_weights
    if model_or_weights is None or isinstance(model_or_weights, str | os.PathLike):
        return load_denoiser(model_or_weights)
    raise TypeError(f"expected a Denoiser or a weights path, got {type(model_or_weights).__name__}")


def _torch_runner(module: nn.Module) -> Callable:
    def run(x_t, t, c):
        if torch.is_grad_enabled() and (x_t.requires_grad or c.requires_grad):
            return module(x_t, t, c)
        with torch.no_grad():
            return module(x_t, t, c)

    return run


def _build_compile(model: Denoiser, device: str) -> tuple[Callable, dict]:
    model = model.to(device).eval()
    compiled = torch.compile(model, dynamic=True)
    run = _torch_runner(compiled)
    # torch.compile is lazy: compile now (one dynamic-shape graph) so a failure surfaces here, clearly.
    x = torch.zeros(3, model.cfg.x_dim, device=device)
    t0 = time.perf_counter()
    try:
        run(
            x,
            torch.zeros(3, dtype=torch.long, device=device),
            torch.zeros(3, model.cfg.cond_dim, device=device),
        )
    except Exception as exc:
        raise BackendUnavailable(
            f"torch.compile failed on this machine (it needs a working C/C++ compiler for the inductor "
            f"CPU backend): {type(exc).__name__}: {exc}"
        ) from exc
    BUILD_COUNTS["compile"] += 1
    return run, {"compile_seconds": time.perf_counter() - t0}


def export_onnx(model: Denoiser, path: Path, opset: int = ONNX_OPSET) -> None:
    """torch.onnx.export (dynamo) with a dynamic batch dimension on every input, written atomically."""
    model = model.to("cpu").eval()
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    n = 4  # example batch; >1 so the exporter does not specialise the batch dimension
    args = (
        torch.zeros(n, model.cfg.x_dim),
        torch.zeros(n, dtype=torch.long),
        torch.zeros(n, model.cfg.cond_dim),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # the exporter's registry warns about every optional torchvision op it skips: not relevant here
    reg_log = logging.getLogger("torch.onnx._internal.exporter._registration")
    reg_level = reg_log.level
    reg_log.setLevel(logging.ERROR)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # exporter-internal deprecation / axis-renaming notices, not actionable here
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
            torch.onnx.export(
                model,
                args,
                tmp,
                dynamo=True,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_shapes={"x_t": {0: batch}, "t": {0: batch}, "c": {0: batch}},
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
        os.replace(tmp, path)
    finally:
        reg_log.setLevel(reg_level)
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
    BUILD_COUNTS["onnx_export"] += 1


def _build_onnxruntime(
    model: Denoiser, cache_dir: Path, num_threads: int | None, io_binding: bool
) -> tuple[Callable, Path, dict]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable(f"onnxruntime cannot be imported: {exc}") from exc
    path = cache_dir / onnx_cache_key(weights_sha256(model))
    exported = not path.is_file()
    if exported:
        log.info("exporting the denoiser to ONNX: %s", path)
        export_onnx(model, path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = num_threads if num_threads is not None else torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def run_numpy(x_t, t, c):
        dev = x_t.device
        feeds = {
            "x_t": x_t.detach().to("cpu", torch.float32).contiguous().numpy(),
            "t": t.detach().to("cpu", torch.int64).contiguous().numpy(),
            "c": c.detach().to("cpu", torch.float32).contiguous().numpy(),
        }
        (eps,) = session.run([OUTPUT_NAME], feeds)
        return torch.from_numpy(eps).to(dev)

    def run_iobinding(x_t, t, c):
        # Zero-copy: ORT reads the torch input buffers and writes into a torch output tensor.
        dev = x_t.device
        xs = x_t.detach().to("cpu", torch.float32).contiguous()
        ts = t.detach().to("cpu", torch.int64).contiguous()
        cs = c.detach().to("cpu", torch.float32).contiguous()
        out = torch.empty(xs.shape, dtype=torch.float32)
        binding = session.io_binding()
        for name, ten, dt in (("x_t", xs, np.float32), ("t", ts, np.int64), ("c", cs, np.float32)):
            binding.bind_input(name, "cpu", 0, dt, tuple(ten.shape), ten.data_ptr())
        binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, tuple(out.shape), out.data_ptr())
        session.run_with_iobinding(binding)
        return out.to(dev)

    info = {
        "exported": exported,
        "intra_op_num_threads": opts.intra_op_num_threads,
        "io_binding": io_binding,
        "session": session,
    }
    return (run_iobinding if io_binding else run_numpy), path, info


def _build_tensorrt(model: Denoiser, device: str, cache_dir: Path, fp16: bool) -> tuple[Callable, Path, dict]:
    """Build (or load from the cache) a dynamic-batch TensorRT program. Needs CUDA + torch_tensorrt."""
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "backend='tensorrt' needs an NVIDIA GPU with CUDA, but torch.cuda.is_available() is False on "
            "this machine; use backend='onnxruntime' (or 'auto') on CPU"
        )
    try:
        import torch_tensorrt
    except Exception as exc:
        raise BackendUnavailable(
            f"backend='tensorrt' needs the torch_tensorrt package matching torch {torch.__version__}: {exc}"
        ) from exc
    dev = torch.device(device if str(device).startswith("cuda") else "cuda")
    try:
        import tensorrt

        trt_version = f"{torch_tensorrt.__version__}/trt{tensorrt.__version__}"
    except Exception:
        trt_version = torch_tensorrt.__version__
    gpu = torch.cuda.get_device_name(dev)
    path = cache_dir / tensorrt_cache_key(weights_sha256(model), gpu, trt_version, fp16)
    # A copy, so the caller's (CPU) model stays where it is. t goes in as float32: the timestep
    # embedding casts t to float anyway, and TensorRT then needs no int64 input.
    wrapped = copy.deepcopy(model).to(dev).eval()
    profile = tensorrt_profile(model.cfg.x_dim, model.cfg.cond_dim)
    dtypes = {"x_t": torch.float32, "t": torch.float32, "c": torch.float32}
    inputs = [
        torch_tensorrt.Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=dtypes[name], name=name)
        for name, (lo, opt, hi) in profile.items()
    ]
    built = not path.is_file()
    if built:
        log.info("building the TensorRT engine (%s, fp16=%s): %s", gpu, fp16, path)
        precisions = {torch.float16, torch.float32} if fp16 else {torch.float32}
        kwargs = {"ir": "dynamo", "inputs": inputs, "enabled_precisions": precisions, "min_block_size": 1}
        try:
            try:  # newer torch_tensorrt: explicit typing would pin fp32; allow fp16 kernels when asked
                trt_module = torch_tensorrt.compile(wrapped, use_explicit_typing=not fp16, **kwargs)
            except TypeError:
                trt_module = torch_tensorrt.compile(wrapped, **kwargs)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch_tensorrt.save(trt_module, str(tmp), inputs=inputs)
            os.replace(tmp, path)
        except Exception as exc:
            raise BackendUnavailable(f"TensorRT engine build failed: {type(exc).__name__}: {exc}") from exc
        BUILD_COUNTS["tensorrt_build"] += 1
    else:
        trt_module = torch_tensorrt.load(str(path)).module()

    def run(x_t, t, c):
        out_dev = x_t.device
        with torch.no_grad():
            eps = trt_module(
                x_t.detach().to(dev, torch.float32).contiguous(),
                t.detach().to(dev, torch.float32).contiguous(),
                c.detach().to(dev, torch.float32).contiguous(),
            )
        return eps.float().to(out_dev)

    return run, path, {"built": built, "gpu": gpu, "trt_version": trt_version, "fp16": fp16}


def make_denoiser(
    model_or_weights: Denoiser | str | os.PathLike | None = None,
    backend: str = "auto",
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
    fp16: bool = False,
    num_threads: int | None = None,
    io_binding: bool = False,
) -> DenoiserEngine:
    """A denoiser engine for ``backend`` (see module docstring).

    model_or_weights: a :class:`Denoiser` or a weights path (``None``: the packaged weights).
    device: torch device for torch/compile; TensorRT uses this device if CUDA, else ``cuda``;
        ONNX Runtime runs on CPU (CPUExecutionProvider). Outputs lie on the input's device.
    fp16: TensorRT only (requesting it elsewhere raises ``ValueError``; ``auto`` falling back to a
        CPU backend ignores it and says so in ``reason``).
    num_threads: ONNX Runtime intra-op threads (default ``torch.get_num_threads()``).
    io_binding: ONNX Runtime through ``run_with_iobinding`` on the torch buffers instead of
        ``session.run`` with numpy arrays (see scripts/bench_speed.py for which is faster).
    """
    model = _as_model(model_or_weights).eval()
    chosen, reason = select_backend(backend)
    if fp16 and chosen != "tensorrt":
        if backend != "auto":
            raise ValueError(f"fp16=True is supported by the tensorrt backend only, not {chosen!r}")
        reason += "; fp16 ignored (TensorRT only)"
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    t0 = time.perf_counter()
    if chosen == "tensorrt":
        try:
            run, path, info = _build_tensorrt(model, device, cache, fp16)
        except BackendUnavailable as exc:
            if backend != "auto":
                raise
            log.warning("TensorRT unusable, falling back to onnxruntime: %s", exc)
            chosen, reason = "onnxruntime", f"auto: TensorRT build failed ({exc}); using onnxruntime"
    if chosen == "onnxruntime":
        run, path, info = _build_onnxruntime(model, cache, num_threads, io_binding)
        engine = DenoiserEngine(chosen, reason, run, False, path, info=info)
    elif chosen == "tensorrt":
        engine = DenoiserEngine(chosen, reason, run, False, path, info=info)
    elif chosen == "compile":
        run, info = _build_compile(model, device)
        engine = DenoiserEngine(chosen, reason, run, True, None, info=info)
    else:
        engine = DenoiserEngine("torch", reason, _torch_runner(model.to(device)), True, None)
    engine.build_seconds = time.perf_counter() - t0
    log.info("denoiser engine %s (%s) ready in %.2f s", engine.backend, engine.reason, engine.build_seconds)
    return engine
