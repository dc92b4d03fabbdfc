#!/usr/bin/env python3
"""Convert a TFJS *graph model* (model.json + .bin shards) into a TF frozen
GraphDef (.pb) and a TF SavedModel, without the tensorflowjs package.

The TFJS graph-model JSON stores `modelTopology` as a GraphDef in protobuf-JSON
form with the Const tensor contents stripped; the weights live in the binary
shards described by `weightsManifest`.  This script
  1. parses the topology with google.protobuf.json_format into a GraphDef,
  2. decodes the weights (incl. float16 / uint8 / uint16 quantisation) and puts
     them back into the Const nodes,
  3. splits the TFJS-only fused ops back into plain TF ops:
       FusedDepthwiseConv2dNative -> DepthwiseConv2dNative + BiasAdd [+ act]
       _FusedConv2D               -> Conv2D + BiasAdd [+ act]
     (_FusedConv2D is a TF grappler op, but splitting keeps tf2onnx happy),
  4. writes <out>.pb (frozen graph) and <out>_saved_model/ (SavedModel with a
     `serving_default` signature: input `input` -> output `output_0`).

usage: tfjs2tf.py model.json out_prefix [--input-shape 1,256,256,3]
"""

import argparse
import json
import os

import numpy as np
import tensorflow as tf
from google.protobuf import json_format

DTYPES = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "int8": np.int8,
    "int16": np.int16,
}


def load_weights(model_dir, manifest):
    weights = {}
    for group in manifest:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            if w["dtype"] == "string":
                raise NotImplementedError("string weights not supported: " + w["name"])
            q = w.get("quantization")
            if q:
                qdt = np.dtype(DTYPES[q["dtype"]])
                raw = np.frombuffer(buf, dtype=qdt, count=n, offset=off)
                off += n * qdt.itemsize
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:  # affine uint8/uint16 quantisation
                    arr = raw.astype(np.float32) * q["scale"] + q["min"]
                arr = arr.astype(DTYPES[q.get("original_dtype", w["dtype"])])
            else:
                dt = np.dtype(DTYPES[w["dtype"]])
                arr = np.frombuffer(buf, dtype=dt, count=n, offset=off).copy()
                off += n * dt.itemsize
            weights[w["name"]] = arr.reshape(shape)
        if off != len(buf):
            raise ValueError(f"weight shard size mismatch: used {off} of {len(buf)} bytes")
    return weights


def split_fused(graph_def):
    """Rewrite TFJS fused conv ops into standard TF ops (same output names)."""
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op not in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            out.node.append(node)
            continue
        fused = [s.decode() for s in node.attr["fused_ops"].list.s]
        if (
            not fused
            or fused[0] != "BiasAdd"
            or len(node.input) != 3
            or any(f not in ("BiasAdd", "Relu", "Relu6", "Elu", "Sigmoid", "Tanh") for f in fused)
        ):
            raise NotImplementedError(f"unsupported fused op {node.op} {fused}")
        base = "Conv2D" if node.op == "_FusedConv2D" else "DepthwiseConv2dNative"
        keep = ["T", "strides", "padding", "explicit_paddings", "data_format", "dilations"]
        if base == "Conv2D":
            keep.append("use_cudnn_on_gpu")
        conv = out.node.add(
            name=node.name + "/_conv", op=base, input=list(node.input[:2]), device=node.device
        )
        for k in keep:
            if k in node.attr:
                conv.attr[k].CopyFrom(node.attr[k])
        last = node.name + "/_conv"
        acts = fused[1:]
        bias_name = node.name if not acts else node.name + "/_bias"
        b = out.node.add(name=bias_name, op="BiasAdd", input=[last, node.input[2]], device=node.device)
        b.attr["T"].CopyFrom(node.attr["T"])
        b.attr["data_format"].CopyFrom(node.attr["data_format"])
        last = bias_name
        for i, act in enumerate(acts):
            name = node.name if i == len(acts) - 1 else f"{node.name}/_{act}"
            a = out.node.add(name=name, op=act, input=[last], device=node.device)
            a.attr["T"].CopyFrom(node.attr["T"])
            last = name
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_json")
    ap.add_argument("out_prefix")
    ap.add_argument("--input-shape", help="override Placeholder shape, e.g. 1,256,256,3")
    args = ap.parse_args()

    model_dir = os.path.dirname(os.path.abspath(args.model_json))
    d = json.load(open(args.model_json))
    assert d.get("format") == "graph-model", d.get("format")
    gd = tf.compat.v1.GraphDef()
    json_format.ParseDict(d["modelTopology"], gd)
    weights = load_weights(model_dir, d["weightsManifest"])

    placeholders, used = [], set()
    for node in gd.node:
        node.device = ""
        if node.op == "Const" and node.name in weights:
            arr = weights[node.name]
            dtype = tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(arr.astype(dtype), shape=arr.shape))
            used.add(node.name)
        elif node.op == "Const":
            raise ValueError("Const without weight: " + node.name)
        if node.op == "Placeholder":
            placeholders.append(node)
            if args.input_shape:
                dims = [int(x) for x in args.input_shape.split(",")]
                node.attr["shape"].shape.Clear()
                for s in dims:
                    node.attr["shape"].shape.dim.add(size=s)
    assert used == set(weights), set(weights) - used
    gd = split_fused(gd)

    sig_out = list(d["signature"]["outputs"].values())
    out_names = [o["name"] for o in sig_out]
    in_names = [p.name + ":0" for p in placeholders]
    print("inputs:", in_names, "outputs:", out_names)

    # check it imports & runs, write frozen graph
    with open(args.out_prefix + ".pb", "wb") as f:
        f.write(gd.SerializeToString())

    def _imports():
        tf.compat.v1.import_graph_def(gd, name="")

    wrapped = tf.compat.v1.wrap_function(_imports, [])
    g = wrapped.graph
    fn = wrapped.prune(
        [g.get_tensor_by_name(n) for n in in_names], [g.get_tensor_by_name(n) for n in out_names]
    )

    ph = placeholders[0]
    spec_shape = [None if dd.size < 0 else dd.size for dd in ph.attr["shape"].shape.dim]
    spec = tf.TensorSpec(spec_shape, tf.as_dtype(ph.attr["dtype"].type), name="input")

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.fn = fn

        @tf.function(input_signature=[spec])
        def serve(self, x):
            return {"output_0": self.fn(x)[0]}

    m = Module()
    tf.saved_model.save(m, args.out_prefix + "_saved_model", signatures={"serving_default": m.serve})
    print("wrote", args.out_prefix + ".pb", args.out_prefix + "_saved_model")


if __name__ == "__main__":
    main()
