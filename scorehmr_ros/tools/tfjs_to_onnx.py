"""Convert a TensorFlow.js *graph model* (model.json + .bin shards) to ONNX.

No TensorFlow is needed: the model topology (a TF GraphDef in protobuf-JSON
form) is read with :mod:`json`, the weights are decoded from the binary shards
with :mod:`numpy` (float16 and affine uint8/uint16 quantisation included), and
the ONNX graph (opset 17) is built with the :mod:`onnx` helpers.

Layout handling: TF convolutions run in NHWC, ONNX ``Conv`` in NCHW. Every
converted tensor remembers how its ONNX value is permuted relative to the TF
tensor (``perm``). Convolutions and resizes produce NCHW values; element-wise
ops and activations keep whatever layout their inputs share (constants are
permuted to match); every other op asks for the TF layout, and a ``Transpose``
is inserted (once per tensor and layout) only where the layouts differ.

The op set covers the MoveNet single-pose models (Thunder / Lightning) plus a
few closely related ops; unsupported ops raise :class:`NotImplementedError`.

Usage::

    python tfjs_to_onnx.py MODEL.json OUT.onnx
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
NHWC_TO_NCHW = (0, 3, 1, 2)

Perm = tuple[int, ...] | None

# TF DataType enum names -> numpy dtypes
TF_DTYPES: dict[str, type] = {
    "DT_FLOAT": np.float32,
    "DT_HALF": np.float16,
    "DT_DOUBLE": np.float64,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_BOOL": np.bool_,
}

# dtype names used in the TFJS weightsManifest -> numpy dtypes
MANIFEST_DTYPES: dict[str, type] = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "int64": np.int64,
    "int16": np.int16,
    "int8": np.int8,
    "uint16": np.uint16,
    "uint8": np.uint8,
    "bool": np.bool_,
}

# fields of a protobuf-JSON TensorProto holding repeated values
_TENSOR_VAL_FIELDS = ("floatVal", "doubleVal", "intVal", "int64Val", "boolVal", "halfVal")


def _onnx_type(tf_type: str) -> int:
    """Map a TF DataType name (e.g. ``DT_FLOAT``) to an ONNX TensorProto elem type."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(TF_DTYPES[tf_type]))


def _compose(first: Perm, second: Perm) -> Perm:
    """Permutation equal to ``transpose(transpose(x, first), second)``."""
    if first is None:
        return second
    if second is None:
        return first
    return tuple(first[i] for i in second)


def _inverse(perm: Perm) -> Perm:
    """Inverse of a permutation (``None`` is the identity)."""
    if perm is None:
        return None
    return tuple(int(i) for i in np.argsort(perm))


def _is_identity(perm: Perm) -> bool:
    """True when ``perm`` does not move any axis."""
    return perm is None or tuple(perm) == tuple(range(len(perm)))


# --------------------------------------------------------------------------- parsing


def _attr_value(value: dict[str, Any]) -> Any:
    """Decode one protobuf-JSON ``AttrValue`` into a Python value."""
    if "list" in value:
        lst = value["list"]
        for key in ("i", "f", "b", "s", "type", "shape", "tensor"):
            if key in lst:
                return [_attr_value({key: v}) for v in lst[key]]
        return []
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "s" in value:
        return base64.b64decode(value["s"]).decode("utf-8")
    if "type" in value:
        return value["type"]
    if "shape" in value:
        dims = value["shape"].get("dim", [])
        return None if value["shape"].get("unknownRank") else [int(d.get("size", -1)) for d in dims]
    if "tensor" in value:
        return _tensor_from_json(value["tensor"])
    return None


def _tensor_from_json(tensor: dict[str, Any]) -> np.ndarray:
    """Decode an inline protobuf-JSON ``TensorProto`` (used for Const nodes without weights)."""
    dtype = np.dtype(TF_DTYPES[tensor.get("dtype", "DT_FLOAT")])
    shape = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
    count = int(np.prod(shape)) if shape else 1
    if "tensorContent" in tensor:
        raw = base64.b64decode(tensor["tensorContent"])
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    for field in _TENSOR_VAL_FIELDS:
        if field in tensor:
            vals = tensor[field]
            if field == "halfVal":  # float16 bit patterns stored as ints
                arr = np.array([int(v) for v in vals], dtype=np.uint16).view(np.float16)
            elif dtype == np.bool_:
                arr = np.array([bool(v) for v in vals], dtype=dtype)
            else:
                arr = np.array([float(v) if dtype.kind == "f" else int(v) for v in vals], dtype=dtype)
            if arr.size == count:
                return arr.reshape(shape)
            # TF semantics: the last value fills the remaining elements
            out = np.full(count, arr[-1] if arr.size else 0, dtype=dtype)
            out[: arr.size] = arr
            return out.reshape(shape)
    return np.zeros(shape, dtype=dtype)


def load_weights(model_dir: Path, manifest: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Decode all weights listed in a TFJS ``weightsManifest``.

    Each group's shards are concatenated and the weights read back in order.
    ``quantization`` entries are undone: ``float16`` is widened, ``uint8`` /
    ``uint16`` affine quantisation is mapped back with ``q * scale + min``.
    The result is cast to the weight's original dtype.
    """
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        buf = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            shape = [int(s) for s in entry["shape"]]
            count = int(np.prod(shape)) if shape else 1
            if entry["dtype"] == "string":
                raise NotImplementedError(f"string weights are not supported: {entry['name']}")
            quant = entry.get("quantization")
            target = np.dtype(MANIFEST_DTYPES[entry["dtype"]])
            if quant:
                qdtype = np.dtype(MANIFEST_DTYPES[quant["dtype"]]).newbyteorder("<")
                raw = np.frombuffer(buf, dtype=qdtype, count=count, offset=offset)
                offset += count * qdtype.itemsize
                if quant["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:
                    values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                target = np.dtype(MANIFEST_DTYPES[quant.get("original_dtype", entry["dtype"])])
                if target.kind in "iub":
                    values = np.rint(values)
                arr = values.astype(target)
            else:
                raw = np.frombuffer(buf, dtype=target.newbyteorder("<"), count=count, offset=offset)
                offset += count * target.itemsize
                arr = raw.astype(target)
            weights[entry["name"]] = arr.reshape(shape)
        if offset != len(buf):
            raise ValueError(f"weight shard size mismatch: used {offset} of {len(buf)} bytes")
    return weights


def _split_ref(ref: str) -> tuple[str, int]:
    """Split a TF tensor reference ``node:k`` into ``(node, k)``."""
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


def _canonical(ref: str) -> str:
    """Canonical tensor key: ``node`` for output 0, ``node:k`` otherwise."""
    name, idx = _split_ref(ref)
    return name if idx == 0 else f"{name}:{idx}"


class TFNode:
    """A GraphDef node from the TFJS topology with decoded attributes."""

    def __init__(self, raw: dict[str, Any]) -> None:
        """Parse the protobuf-JSON node dict ``raw``."""
        self.name: str = raw["name"]
        self.op: str = raw["op"]
        inputs = raw.get("input", [])
        self.inputs: list[str] = [_canonical(i) for i in inputs if not i.startswith("^")]
        self.attr: dict[str, Any] = {k: _attr_value(v) for k, v in raw.get("attr", {}).items()}

    def get(self, key: str, default: Any = None) -> Any:
        """Attribute ``key`` or ``default`` when absent."""
        value = self.attr.get(key)
        return default if value is None else value


# --------------------------------------------------------------------------- converter


class _Converter:
    """Builds the ONNX graph node by node."""

    def __init__(self, nodes: list[TFNode], weights: dict[str, np.ndarray]) -> None:
        self.tf_nodes = {n.name: n for n in nodes}
        self.consts: dict[str, np.ndarray] = {}
        for node in nodes:
            if node.op != "Const":
                continue
            if node.name in weights:
                arr = weights[node.name]
            elif isinstance(node.attr.get("value"), np.ndarray):
                arr = node.attr["value"]
            else:
                raise ValueError(f"Const without a value: {node.name}")
            dtype = node.get("dtype")
            self.consts[node.name] = arr.astype(TF_DTYPES[dtype]) if dtype in TF_DTYPES else arr
        self.onnx_nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.values: dict[str, tuple[str, Perm]] = {}  # TF tensor -> (ONNX value, perm)
        self.variants: dict[tuple[Any, ...], str] = {}  # (TF tensor, perm) -> ONNX value
        self.names: set[str] = set()

    # -- naming / emission helpers

    def _fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name = f"{base}_{i}"
            i += 1
        self.names.add(name)
        return name

    def _emit(self, op: str, inputs: list[str], base: str, n_out: int = 1, **attrs: Any) -> list[str]:
        outputs = [self._fresh(base if k == 0 else f"{base}:{k}") for k in range(n_out)]
        self.onnx_nodes.append(
            helper.make_node(op, inputs, outputs, name=self._fresh(f"{base}/{op}"), **attrs)
        )
        return outputs

    def _emit1(self, op: str, inputs: list[str], base: str, **attrs: Any) -> str:
        return self._emit(op, inputs, base, **attrs)[0]

    def _initializer(self, arr: np.ndarray, base: str) -> str:
        name = self._fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def _scalar(self, value: float) -> str:
        """Shared float32 scalar initializer."""
        key = ("scalar", float(value))
        if key not in self.variants:
            self.variants[key] = self._initializer(np.array(value, np.float32), f"const_{value:g}")
        return self.variants[key]

    def _i64(self, values: Any, base: str) -> str:
        return self._initializer(np.asarray(values, dtype=np.int64), base)

    def _set(self, ref: str, value: str, perm: Perm) -> None:
        perm = None if _is_identity(perm) else perm
        self.values[ref] = (value, perm)
        self.variants[(ref, perm)] = value

    # -- input access

    def is_const(self, ref: str) -> bool:
        return ref in self.consts

    def const(self, ref: str) -> np.ndarray:
        if ref not in self.consts:
            raise NotImplementedError(f"{ref} must be a constant")
        return self.consts[ref]

    def inp(self, ref: str, perm: Perm = None) -> str:
        """ONNX value of TF tensor ``ref`` stored as ``transpose(tf_value, perm)``."""
        perm = None if _is_identity(perm) else perm
        key = (ref, perm)
        if key in self.variants:
            return self.variants[key]
        if self.is_const(ref):
            arr = self.consts[ref]
            if perm is not None and arr.size != 1:
                arr = arr.reshape((1,) * (len(perm) - arr.ndim) + arr.shape).transpose(perm)
            suffix = "" if perm is None else "/" + "".join(map(str, perm))
            value = self._initializer(arr, ref + suffix)
        else:
            stored, stored_perm = self.values[ref]
            value = self._emit1(
                "Transpose", [stored], f"{ref}/T", perm=list(_compose(_inverse(stored_perm), perm) or ())
            )
        self.variants[key] = value
        return value

    def shared_perm(self, refs: list[str]) -> Perm:
        """Layout shared by all non-constant ``refs`` (``None`` if they disagree)."""
        perms = {self.values[r][1] for r in refs if not self.is_const(r)}
        if len(perms) != 1:
            return None
        perm = perms.pop()
        if perm is not None and any(self.consts[r].ndim > len(perm) for r in refs if self.is_const(r)):
            return None
        return perm

    # -- driver

    def convert_node(self, node: TFNode) -> None:
        if node.op in ("Const", "Placeholder"):
            return
        handler = getattr(self, f"op_{node.op}", None)
        if handler is None:
            raise NotImplementedError(f"unsupported op {node.op} ({node.name})")
        handler(node)

    # -- element-wise ops (layout preserving)

    def _elementwise(self, node: TFNode, op: str, refs: list[str] | None = None) -> None:
        refs = node.inputs if refs is None else refs
        perm = self.shared_perm(refs)
        out = self._emit1(op, [self.inp(r, perm) for r in refs], node.name)
        self._set(node.name, out, perm)

    def _binary_inputs(self, node: TFNode) -> tuple[str, str, Perm]:
        perm = self.shared_perm(node.inputs[:2])
        return self.inp(node.inputs[0], perm), self.inp(node.inputs[1], perm), perm

    def op_AddV2(self, node: TFNode) -> None:
        self._elementwise(node, "Add")

    op_Add = op_AddV2

    def op_Sub(self, node: TFNode) -> None:
        self._elementwise(node, "Sub")

    def op_Mul(self, node: TFNode) -> None:
        self._elementwise(node, "Mul")

    def op_RealDiv(self, node: TFNode) -> None:
        self._elementwise(node, "Div")

    def op_Maximum(self, node: TFNode) -> None:
        self._elementwise(node, "Max")

    def op_Minimum(self, node: TFNode) -> None:
        self._elementwise(node, "Min")

    def op_SquaredDifference(self, node: TFNode) -> None:
        a, b, perm = self._binary_inputs(node)
        diff = self._emit1("Sub", [a, b], node.name + "/diff")
        self._set(node.name, self._emit1("Mul", [diff, diff], node.name), perm)

    def op_FloorDiv(self, node: TFNode) -> None:
        a, b, perm = self._binary_inputs(node)
        if np.dtype(TF_DTYPES[node.get("T", "DT_FLOAT")]).kind == "f":
            quot = self._emit1("Div", [a, b], node.name + "/div")
            out = self._emit1("Floor", [quot], node.name)
        else:
            # floor(a / b) == (a - mod(a, b)) / b with Python-style mod; the division is exact
            rem = self._emit1("Mod", [a, b], node.name + "/mod", fmod=0)
            diff = self._emit1("Sub", [a, rem], node.name + "/sub")
            out = self._emit1("Div", [diff, b], node.name)
        self._set(node.name, out, perm)

    def op_FloorMod(self, node: TFNode) -> None:
        a, b, perm = self._binary_inputs(node)
        is_float = np.dtype(TF_DTYPES[node.get("T", "DT_FLOAT")]).kind == "f"
        if is_float:  # ONNX Mod on floats needs fmod=1 (C semantics); fix the sign like Python
            quot = self._emit1(
                "Floor", [self._emit1("Div", [a, b], node.name + "/div")], node.name + "/floor"
            )
            out = self._emit1("Sub", [a, self._emit1("Mul", [quot, b], node.name + "/mul")], node.name)
        else:
            out = self._emit1("Mod", [a, b], node.name, fmod=0)
        self._set(node.name, out, perm)

    def op_BiasAdd(self, node: TFNode) -> None:
        if node.get("data_format", "NHWC") == "NCHW" and self.is_const(node.inputs[1]):
            bias = self.const(node.inputs[1])
            self.consts[node.inputs[1] + "/nchw"] = bias.reshape(-1, 1, 1)
            self._elementwise(node, "Add", [node.inputs[0], node.inputs[1] + "/nchw"])
        else:
            self._elementwise(node, "Add")

    # -- unary ops (layout preserving)

    def _unary(self, node: TFNode, op: str, **attrs: Any) -> None:
        stored, perm = self.values[node.inputs[0]]
        self._set(node.name, self._emit1(op, [stored], node.name, **attrs), perm)

    def op_Identity(self, node: TFNode) -> None:
        if self.is_const(node.inputs[0]):
            self.consts[node.name] = self.consts[node.inputs[0]]
            return
        self._unary(node, "Identity")

    def op_Sigmoid(self, node: TFNode) -> None:
        self._unary(node, "Sigmoid")

    def op_Sqrt(self, node: TFNode) -> None:
        self._unary(node, "Sqrt")

    def op_Relu(self, node: TFNode) -> None:
        self._unary(node, "Relu")

    def op_Tanh(self, node: TFNode) -> None:
        self._unary(node, "Tanh")

    def op_Elu(self, node: TFNode) -> None:
        self._unary(node, "Elu")

    def op_Relu6(self, node: TFNode) -> None:
        stored, perm = self.values[node.inputs[0]]
        self._set(node.name, self._relu6(stored, node.name), perm)

    def op_LeakyRelu(self, node: TFNode) -> None:
        self._unary(node, "LeakyRelu", alpha=node.get("alpha", 0.2))

    def op_Cast(self, node: TFNode) -> None:
        self._unary(node, "Cast", to=_onnx_type(node.get("DstT")))

    def _relu6(self, value: str, base: str) -> str:
        return self._emit1("Clip", [value, self._scalar(0.0), self._scalar(6.0)], base)

    # -- convolutions

    def _conv(self, node: TFNode, depthwise: bool) -> None:
        fmt = node.get("data_format", "NHWC")
        perm: Perm = NHWC_TO_NCHW if fmt == "NHWC" else None
        spatial = (1, 2) if fmt == "NHWC" else (2, 3)
        x = self.inp(node.inputs[0], perm)
        w = self.const(node.inputs[1]).astype(np.float32)
        kh, kw, cin, cout = w.shape
        if depthwise:  # [H, W, C, M] -> [C*M, 1, H, W], out channel c*M + m
            weight = w.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
            group = cin
        else:  # HWIO -> OIHW
            weight = w.transpose(3, 2, 0, 1)
            group = 1
        strides = node.get("strides", [1, 1, 1, 1])
        dilations = node.get("dilations", [1, 1, 1, 1])
        attrs: dict[str, Any] = {
            "kernel_shape": [kh, kw],
            "strides": [strides[i] for i in spatial],
            "dilations": [dilations[i] for i in spatial],
            "group": group,
        }
        padding = node.get("padding", "VALID")
        if padding == "SAME":
            attrs["auto_pad"] = "SAME_UPPER"  # TF SAME: extra padding at the end
        elif padding == "VALID":
            attrs["pads"] = [0, 0, 0, 0]
        elif padding == "EXPLICIT":
            pads = node.get("explicit_paddings", [])
            attrs["pads"] = [pads[2 * i] for i in spatial] + [pads[2 * i + 1] for i in spatial]
        else:
            raise NotImplementedError(f"padding {padding} ({node.name})")

        fused = list(node.get("fused_ops", []))
        args = node.inputs[2:]
        bias: np.ndarray | None = None
        bias_ref: str | None = None
        if fused and fused[0] == "BiasAdd":
            if self.is_const(args[0]):
                bias = self.const(args[0]).astype(np.float32)
            else:
                bias_ref = args[0]
            fused, args = fused[1:], args[1:]
        elif fused and fused[0] == "FusedBatchNorm":
            scale, offset, mean, var = (self.const(a).astype(np.float32) for a in args[:4])
            mult = scale / np.sqrt(var + np.float32(node.get("epsilon", 1e-3)))
            weight = weight * mult.reshape(-1, 1, 1, 1)
            bias = offset - mean * mult
            fused, args = fused[1:], args[4:]

        inputs = [x, self._initializer(weight, node.name + "/W")]
        if bias is not None:
            inputs.append(self._initializer(bias, node.name + "/B"))
        base = node.name if not fused and bias_ref is None else node.name + "/conv"
        out = self._emit1("Conv", inputs, base, **attrs)
        if bias_ref is not None:
            b = self._emit1(
                "Unsqueeze", [self.inp(bias_ref), self._i64([1, 2], bias_ref + "/axes")], bias_ref + "/chw"
            )
            out = self._emit1("Add", [out, b], node.name if not fused else node.name + "/bias")
        for i, act in enumerate(fused):
            base = node.name if i == len(fused) - 1 else f"{node.name}/{act}"
            out = self._activation(act, out, base, node, args)
        self._set(node.name, out, perm)

    def _activation(self, act: str, value: str, base: str, node: TFNode, args: list[str]) -> str:
        if act == "Relu":
            return self._emit1("Relu", [value], base)
        if act == "Relu6":
            return self._relu6(value, base)
        if act in ("Elu", "Sigmoid", "Tanh"):
            return self._emit1(act, [value], base)
        if act == "LeakyRelu":
            return self._emit1("LeakyRelu", [value], base, alpha=node.get("leakyrelu_alpha", 0.2))
        if act == "Prelu":
            alpha = self.const(args[0]).astype(np.float32)
            slope = self._initializer(alpha.reshape(-1, 1, 1), base + "/slope")
            return self._emit1("PRelu", [value, slope], base)
        raise NotImplementedError(f"fused activation {act} ({node.name})")

    def op_Conv2D(self, node: TFNode) -> None:
        self._conv(node, depthwise=False)

    def op__FusedConv2D(self, node: TFNode) -> None:
        self._conv(node, depthwise=False)

    def op_DepthwiseConv2dNative(self, node: TFNode) -> None:
        self._conv(node, depthwise=True)

    def op_FusedDepthwiseConv2dNative(self, node: TFNode) -> None:
        self._conv(node, depthwise=True)

    # -- resize

    def _resize(self, node: TFNode, mode: str) -> None:
        x = self.inp(node.inputs[0], NHWC_TO_NCHW)
        if node.get("align_corners", False):
            ctm = "align_corners"
        elif node.get("half_pixel_centers", False):
            ctm = "half_pixel" if mode == "linear" else "tf_half_pixel_for_nn"
        else:
            ctm = "asymmetric"
        if self.is_const(node.inputs[1]):
            size = self._i64(self.const(node.inputs[1]), node.inputs[1] + "/i64")
        else:
            size = self._emit1("Cast", [self.inp(node.inputs[1])], node.name + "/size", to=TensorProto.INT64)
        shape = self._emit1("Shape", [x], node.name + "/shape", start=0, end=2)
        sizes = self._emit1("Concat", [shape, size], node.name + "/sizes", axis=0)
        attrs: dict[str, Any] = {"mode": mode, "coordinate_transformation_mode": ctm}
        if mode == "nearest":
            attrs["nearest_mode"] = "round_prefer_ceil" if ctm == "align_corners" else "floor"
        out = self._emit1("Resize", [x, "", "", sizes], node.name, **attrs)
        self._set(node.name, out, NHWC_TO_NCHW)

    def op_ResizeBilinear(self, node: TFNode) -> None:
        self._resize(node, "linear")

    def op_ResizeNearestNeighbor(self, node: TFNode) -> None:
        self._resize(node, "nearest")

    # -- shape ops (TF layout)

    def op_Reshape(self, node: TFNode) -> None:
        if self.is_const(node.inputs[1]):
            shape = self.const(node.inputs[1]).astype(np.int64).ravel()
            allowzero = int(0 in shape and -1 not in shape)
            shape_val = self._i64(shape, node.inputs[1] + "/i64")
        else:
            allowzero = 0
            shape_val = self._emit1(
                "Cast", [self.inp(node.inputs[1])], node.name + "/shape", to=TensorProto.INT64
            )
        out = self._emit1("Reshape", [self.inp(node.inputs[0]), shape_val], node.name, allowzero=allowzero)
        self._set(node.name, out, None)

    def op_Squeeze(self, node: TFNode) -> None:
        axes = node.get("squeeze_dims", []) or node.get("axis", [])
        inputs = [self.inp(node.inputs[0])]
        if axes:
            inputs.append(self._i64(axes, node.name + "/axes"))
        self._set(node.name, self._emit1("Squeeze", inputs, node.name), None)

    def op_ExpandDims(self, node: TFNode) -> None:
        axes = self._i64(self.const(node.inputs[1]).ravel(), node.inputs[1] + "/i64")
        self._set(node.name, self._emit1("Unsqueeze", [self.inp(node.inputs[0]), axes], node.name), None)

    def op_Pack(self, node: TFNode) -> None:
        axis = node.get("axis", 0)
        axes = self._i64([axis], node.name + "/axes")
        parts = [
            self._emit1("Unsqueeze", [self.inp(r), axes], f"{node.name}/in{i}")
            for i, r in enumerate(node.inputs)
        ]
        out = parts[0] if len(parts) == 1 else self._emit1("Concat", parts, node.name, axis=axis)
        self._set(node.name, out, None)

    def op_Unpack(self, node: TFNode) -> None:
        axis, num = node.get("axis", 0), node.get("num")
        axes = self._i64([axis], node.name + "/axes")
        x = self.inp(node.inputs[0])
        parts = [x] if num == 1 else self._emit("Split", [x], node.name + "/split", n_out=num, axis=axis)
        for k, part in enumerate(parts):
            ref = node.name if k == 0 else f"{node.name}:{k}"
            self._set(ref, self._emit1("Squeeze", [part, axes], ref), None)

    def op_ConcatV2(self, node: TFNode) -> None:
        refs, axis = node.inputs[:-1], int(self.const(node.inputs[-1]))
        perm = self.shared_perm(refs)
        if perm is not None:  # concatenate in the stored layout
            axis = perm.index(axis % len(perm))
        out = self._emit1("Concat", [self.inp(r, perm) for r in refs], node.name, axis=axis)
        self._set(node.name, out, perm)

    def op_Transpose(self, node: TFNode) -> None:
        perm = [int(p) for p in self.const(node.inputs[1]).ravel()]
        self._set(node.name, self._emit1("Transpose", [self.inp(node.inputs[0])], node.name, perm=perm), None)

    # -- index ops (TF layout)

    def _indices(self, ref: str, base: str) -> str:
        if self.is_const(ref):
            return self._i64(self.const(ref), ref + "/i64")
        return self._emit1("Cast", [self.inp(ref)], base, to=TensorProto.INT64)

    def _arg(self, node: TFNode, op: str) -> None:
        axis = int(self.const(node.inputs[1]))
        out_type = node.get("output_type", "DT_INT64")
        base = node.name if out_type == "DT_INT64" else node.name + "/i64"
        out = self._emit1(op, [self.inp(node.inputs[0])], base, axis=axis, keepdims=0)
        if out_type != "DT_INT64":
            out = self._emit1("Cast", [out], node.name, to=_onnx_type(out_type))
        self._set(node.name, out, None)

    def op_ArgMax(self, node: TFNode) -> None:
        self._arg(node, "ArgMax")

    def op_ArgMin(self, node: TFNode) -> None:
        self._arg(node, "ArgMin")

    def op_GatherNd(self, node: TFNode) -> None:
        idx = self._indices(node.inputs[1], node.name + "/idx")
        self._set(node.name, self._emit1("GatherND", [self.inp(node.inputs[0]), idx], node.name), None)

    def op_GatherV2(self, node: TFNode) -> None:
        if node.get("batch_dims", 0):
            raise NotImplementedError(f"GatherV2 batch_dims ({node.name})")
        axis = int(self.const(node.inputs[2]))
        idx = self._indices(node.inputs[1], node.name + "/idx")
        self._set(
            node.name, self._emit1("Gather", [self.inp(node.inputs[0]), idx], node.name, axis=axis), None
        )


# --------------------------------------------------------------------------- public API


def _topo_order(nodes: dict[str, TFNode], outputs: list[str]) -> list[TFNode]:
    """Nodes needed for ``outputs`` in dependency order (iterative DFS)."""
    order: list[TFNode] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    for out in outputs:
        stack = [(_split_ref(out)[0], False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(nodes[name])
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise ValueError(f"cycle at {name}")
            state[name] = 1
            stack.append((name, True))
            for ref in reversed(nodes[name].inputs):
                dep = _split_ref(ref)[0]
                if state.get(dep) != 2:
                    if dep not in nodes:
                        raise ValueError(f"{name} refers to unknown node {dep}")
                    stack.append((dep, False))
    return order


def _value_info(name: str, spec: dict[str, Any] | None, fallback_type: str) -> onnx.ValueInfoProto:
    """ValueInfo for a graph input/output from a TFJS signature entry."""
    spec = spec or {}
    dims = spec.get("tensorShape", {}).get("dim")
    shape = None if dims is None else [int(d.get("size", -1)) for d in dims]
    if shape is not None:
        shape = [d if d >= 0 else f"{name}_d{i}" for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, _onnx_type(spec.get("dtype", fallback_type)), shape)


def convert(model_json: str | Path) -> onnx.ModelProto:
    """Convert the TFJS graph model at ``model_json`` into an ONNX model (opset 17).

    Graph inputs keep the TF placeholder names and the signature shapes / dtypes;
    outputs are named ``output_0``, ``output_1``, ... in signature order.
    """
    path = Path(model_json)
    model = json.loads(path.read_text())
    if model.get("format", "graph-model") != "graph-model":
        raise ValueError(f"not a TFJS graph model: format={model.get('format')}")
    topology = model["modelTopology"]
    if topology.get("library", {}).get("function"):
        raise NotImplementedError("graphs with function libraries (control flow) are not supported")
    nodes = [TFNode(n) for n in topology["node"]]
    weights = load_weights(path.parent, model.get("weightsManifest", []))
    conv = _Converter(nodes, weights)

    signature = model.get("signature", {})
    in_specs = {_split_ref(k)[0]: v for k, v in signature.get("inputs", {}).items()}
    out_specs = list(signature.get("outputs", {}).values())
    if out_specs:
        out_refs = [_canonical(o["name"]) for o in out_specs]
    else:  # fall back to nodes nobody consumes
        consumed = {_split_ref(r)[0] for n in nodes for r in n.inputs}
        out_refs = [n.name for n in nodes if n.name not in consumed and n.op != "Const"]
        out_specs = [{} for _ in out_refs]

    # reserve the graph I/O names so no generated value can take them
    conv.names.update(n.name for n in nodes if n.op == "Placeholder")
    conv.names.update(f"output_{k}" for k in range(len(out_refs)))
    graph_inputs = []
    for node in _topo_order(conv.tf_nodes, out_refs):
        if node.op == "Placeholder":
            spec = dict(in_specs.get(node.name, {}))
            spec.setdefault("dtype", node.get("dtype", "DT_FLOAT"))
            if "tensorShape" not in spec and node.get("shape") is not None:
                spec["tensorShape"] = {"dim": [{"size": s} for s in node.get("shape")]}
            graph_inputs.append(_value_info(node.name, spec, "DT_FLOAT"))
            conv._set(node.name, node.name, None)
        conv.convert_node(node)

    graph_outputs = []
    for k, (ref, spec) in enumerate(zip(out_refs, out_specs, strict=True)):
        name = f"output_{k}"
        conv.onnx_nodes.append(helper.make_node("Identity", [conv.inp(ref)], [name], name=f"{name}/Identity"))
        node_type = conv.tf_nodes[_split_ref(ref)[0]].get("T", "DT_FLOAT")
        graph_outputs.append(_value_info(name, spec, node_type))

    graph = helper.make_graph(
        conv.onnx_nodes, path.stem, graph_inputs, graph_outputs, initializer=conv.initializers
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tfjs_to_onnx"
    )
    onnx_model.ir_version = 8  # opset 17 era; readable by older runtimes too
    props = {k: str(model[k]) for k in ("generatedBy", "convertedBy") if model.get(k)}
    if props:
        helper.set_model_props(onnx_model, props)
    graph = onnx_model.graph  # make_model copied the graph
    incomplete = [
        out
        for out, spec in zip(graph.output, out_specs, strict=True)
        if "dtype" not in spec or "tensorShape" not in spec
    ]
    if incomplete:  # signature lacks dtype / shape: use ONNX shape inference
        inferred = onnx.shape_inference.infer_shapes(onnx_model).graph.value_info
        types = {vi.name: vi.type for vi in inferred}
        sources = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
        for out in incomplete:
            found = types.get(sources.get(out.name, ""))
            if found is None or not found.tensor_type.HasField("shape"):
                raise ValueError(f"cannot infer the type/shape of {out.name}; give it in the signature")
            out.type.CopyFrom(found)
    onnx.checker.check_model(onnx_model)
    return onnx_model


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``tfjs_to_onnx.py MODEL.json OUT.onnx``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_json", type=Path, help="TFJS graph model (model.json next to its .bin shards)")
    parser.add_argument("out_onnx", type=Path, help="ONNX file to write")
    args = parser.parse_args(argv)
    model = convert(args.model_json)
    onnx.save(model, str(args.out_onnx))
    graph = model.graph
    print(
        f"wrote {args.out_onnx}: {len(graph.node)} nodes, {len(graph.initializer)} initializers",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
