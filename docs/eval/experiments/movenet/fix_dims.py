"""Name an ONNX model's dynamic input dims and run the ONNX checker: fix_dims.py MODEL.onnx"""

import sys

import onnx

path = sys.argv[1]
model = onnx.load(path)
dims = model.graph.input[0].type.tensor_type.shape.dim
for dim, name in zip(dims, ["batch", "height", "width", "channels"], strict=False):
    if dim.dim_param:
        dim.dim_param = name
onnx.checker.check_model(model)
onnx.save(model, path)
print(path, "opset", model.opset_import[0].version, [d.dim_value or d.dim_param for d in dims])
