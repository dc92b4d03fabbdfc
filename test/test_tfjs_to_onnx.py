"""scorehmr_ros.tools.tfjs_to_onnx: small TFJS graphs against numpy references (paths MoveNet does
not exercise too), and the model setup made from the npm package (scripts/fetch_movenet.sh)."""

import base64
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from scorehmr_ros.tools.tfjs_to_onnx import convert


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _ilist(vals: list[int]) -> dict:
    return {"list": {"i": [str(v) for v in vals]}}


def build(tmp: Path, nodes: list[dict], weights: list[tuple[str, np.ndarray, dict | None]], inp, out) -> Path:
    """Write model.json + one shard; weights given as (name, array, quantization or None)."""
    blobs, entries = [], []
    for name, arr, quant in weights:
        entry = {
            "name": name,
            "shape": list(arr.shape),
            "dtype": {"f": "float32", "i": "int32"}[arr.dtype.kind],
        }
        if quant is None:
            blobs.append(arr.astype("<" + arr.dtype.str[1:]).tobytes())
        elif quant["dtype"] == "float16":
            blobs.append(arr.astype("<f2").tobytes())
            entry["quantization"] = quant
        else:  # affine uint8
            lo, hi = float(arr.min()), float(arr.max())
            scale = (hi - lo) / 255 or 1.0
            q = np.rint((arr - lo) / scale).astype(np.uint8)
            blobs.append(q.tobytes())
            entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo}
        entries.append(entry)
        dt = "DT_FLOAT" if arr.dtype.kind == "f" else "DT_INT32"
        nodes.insert(0, {"name": name, "op": "Const", "attr": {"dtype": {"type": dt}}})
    (tmp / "m.bin").write_bytes(b"".join(blobs))
    model = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "signature": {"inputs": {"x:0": inp}, "outputs": {f"{out}:0": {"name": f"{out}:0"}}},
        "weightsManifest": [{"paths": ["m.bin"], "weights": entries}],
    }
    path = tmp / "model.json"
    path.write_text(json.dumps(model))
    return path


def run(path: Path, x: np.ndarray) -> np.ndarray:
    """Convert and run with onnxruntime."""
    sess = ort.InferenceSession(convert(path).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def conv_ref(x, w, stride, dil, pads, depthwise):
    """Naive NHWC conv; w is HWIO (or HWCM when depthwise); pads ((t, b), (l, r))."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw = w.shape[:2]
    oh = (x.shape[1] - dil * (kh - 1) - 1) // stride + 1
    ow = (x.shape[2] - dil * (kw - 1) - 1) // stride + 1
    out = []
    for i in range(oh):
        row = []
        for j in range(ow):
            patch = x[
                0,
                i * stride : i * stride + dil * (kh - 1) + 1 : dil,
                j * stride : j * stride + dil * (kw - 1) + 1 : dil,
            ]
            if depthwise:
                row.append(np.einsum("hwc,hwcm->cm", patch, w).reshape(-1))
            else:
                row.append(np.einsum("hwc,hwco->o", patch, w))
        out.append(row)
    return np.asarray(out, np.float32)[None]


def spec(shape, dtype="DT_FLOAT"):
    """Signature entry."""
    return {"name": "x:0", "dtype": dtype, "tensorShape": {"dim": [{"size": str(s)} for s in shape]}}


def test_depthwise_same_stride2_multiplier():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 7, 9, 4)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 2)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    attr = {
        "strides": _ilist([1, 2, 2, 1]),
        "padding": _s("SAME"),
        "data_format": _s("NHWC"),
        "dilations": _ilist([1, 1, 1, 1]),
        "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Relu6")["s"]]}},
        "num_args": {"i": "1"},
    }
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "dw", "op": "FusedDepthwiseConv2dNative", "input": ["x", "w", "b"], "attr": attr},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), nodes, [("w", w, None), ("b", b, None)], spec(x.shape), "dw")
        got = run(path, x)
    # TF SAME, stride 2: H 7 -> out 4, pad total 2 -> (1, 1); W 9 -> out 5, pad total 2 -> (1, 1)
    ref = np.clip(conv_ref(x, w, 2, 1, ((1, 1), (1, 1)), True) + b, 0, 6)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_conv_same_even_and_explicit_dilated_uint8():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 8, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    base = {"data_format": _s("NHWC"), "T": {"type": "DT_FLOAT"}}
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {
            "name": "c1",
            "op": "Conv2D",
            "input": ["x", "w"],
            "attr": {
                **base,
                "strides": _ilist([1, 2, 2, 1]),
                "padding": _s("SAME"),
                "dilations": _ilist([1, 1, 1, 1]),
            },
        },
        {
            "name": "c2",
            "op": "Conv2D",
            "input": ["x", "w"],
            "attr": {
                **base,
                "strides": _ilist([1, 1, 1, 1]),
                "padding": _s("EXPLICIT"),
                "dilations": _ilist([1, 2, 2, 1]),
                "explicit_paddings": _ilist([0, 0, 1, 2, 3, 0, 0, 0]),
            },
        },
        {"name": "o", "op": "Pack", "input": ["c1", "c1"], "attr": {"axis": {"i": "-1"}, "N": {"i": "2"}}},
        {"name": "o2", "op": "ConcatV2", "input": ["c2", "c2", "ax"], "attr": {"N": {"i": "2"}}},
        {"name": "r", "op": "Reshape", "input": ["o", "m1"], "attr": {}},
        {"name": "r2", "op": "Reshape", "input": ["o2", "m1"], "attr": {}},
        {"name": "out", "op": "ConcatV2", "input": ["r", "r2", "zero"], "attr": {"N": {"i": "2"}}},
    ]
    weights = [
        ("w", w, {"dtype": "uint8"}),
        ("ax", np.array(-1, np.int32), None),
        ("m1", np.array([-1], np.int32), None),
        ("zero", np.array(0, np.int32), None),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), nodes, weights, spec(x.shape), "out")
        lo, scale = float(w.min()), (float(w.max()) - float(w.min())) / 255
        wq = (np.rint((w - lo) / scale) * scale + lo).astype(np.float32)
        got = run(path, x)
    # SAME stride 2: H 8 -> 4, pad total 1 -> (0, 1); W 6 -> 3, pad total 1 -> (0, 1)
    c1 = conv_ref(x, wq, 2, 1, ((0, 1), (0, 1)), False)
    c2 = conv_ref(x, wq, 1, 2, ((1, 2), (3, 0)), False)
    ref = np.concatenate([np.stack([c1, c1], -1).ravel(), np.concatenate([c2, c2], -1).ravel()])
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_int_floordiv_argmax_gathernd_unpack():
    x = np.array([[-7, 7, -8, 8, 0, -1]], np.int32)
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_INT32"}}},
        {"name": "fd", "op": "FloorDiv", "input": ["x", "three"], "attr": {"T": {"type": "DT_INT32"}}},
        {"name": "xf", "op": "Cast", "input": ["x"], "attr": {"DstT": {"type": "DT_FLOAT"}}},
        {"name": "am", "op": "ArgMax", "input": ["xf", "one"], "attr": {"output_type": {"type": "DT_INT32"}}},
        {"name": "u", "op": "Unpack", "input": ["fd"], "attr": {"axis": {"i": "0"}, "num": {"i": "1"}}},
        {"name": "g", "op": "GatherNd", "input": ["fd", "idx"], "attr": {}},
        {"name": "out", "op": "ConcatV2", "input": ["u", "g", "am", "zero"], "attr": {"N": {"i": "3"}}},
    ]
    weights = [
        ("three", np.array(3, np.int32), None),
        ("one", np.array(1, np.int32), None),
        ("idx", np.array([[0, 2], [0, 5]], np.int32), None),
        ("zero", np.array(0, np.int32), None),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), nodes, weights, spec(x.shape, "DT_INT32"), "out")
        got = run(path, x)
    fd = x // 3
    ref = np.concatenate([fd[0], [fd[0, 2], fd[0, 5]], [3]]).astype(np.int32)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref)


def test_the_setup_made_movenet_model_is_valid_onnx_with_movenet_io():
    """The model scripts/fetch_movenet.sh converted: checked by onnx, MoveNet Thunder's input and
    output, finite scores in [0, 1] and coordinates in [0, 1] on a random image."""
    from scorehmr_ros.core.limb_model import default_model_path

    model = onnx.load(str(default_model_path()))
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.type, inp.shape) == ("input", "tensor(int32)", [1, 256, 256, 3])
    x = np.random.default_rng(0).integers(0, 256, (1, 256, 256, 3), dtype=np.int32)
    y = sess.run(None, {"input": x})[0]
    assert y.shape == (1, 1, 17, 3) and out.type == "tensor(float)"
    assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()
