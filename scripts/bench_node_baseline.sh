#!/usr/bin/env bash
# Side-by-side node rates: `make bench-node`'s topic and in-node MediaPipe rows for the code at an
# older revision, run from a throwaway git worktree with this checkout's virtual environment, so a
# speed change is measured on the same machine in the same session as the current rows.
#
#   bash scripts/bench_node_baseline.sh 88b0144      # -> docs/eval/node_{topic,mediapipe}_88b0144.json
#
# The worktree's package is imported through PYTHONPATH (before the editable install); its own
# scripts/bench_node.py runs the node, so the revision must have the same ROS interfaces.
set -euo pipefail
REV=${1:?usage: bench_node_baseline.sh REV}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${SCOREHMR_VENV:-$ROOT/.venv}/bin/python
WT=$(mktemp -d /tmp/scorehmr_baseline.XXXXXX)
trap 'git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || true' EXIT
git -C "$ROOT" worktree add --detach "$WT" "$REV" >/dev/null
SHORT=$(git -C "$WT" rev-parse --short=7 HEAD)
cd "$WT"
export PYTHONPATH=$WT
"$PY" -c "import scorehmr_ros, sys; assert scorehmr_ros.__file__.startswith('$WT'), scorehmr_ros.__file__"
for mode in topic mediapipe; do
    "$PY" scripts/bench_node.py --mode "$mode" --seconds 60 --out "$ROOT/docs/eval/node_${mode}_${SHORT}.json"
done
