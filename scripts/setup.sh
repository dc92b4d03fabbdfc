#!/usr/bin/env bash
# Create (or update) the project's virtual environment: pinned Python dependencies, the ROS 2
# Kilted wheels, the interfaces generated from msg/ (and tf2_msgs/TFMessage, which has no
# wheel) installed into the venv, and scorehmr_ros itself in editable mode.
#
# Idempotent: when nothing it depends on changed since the last run it returns in well under
# a second (the decisions live in scripts/setup_state.py). Usage: setup.sh [--check]
#   --check   change nothing; say whether the venv is up to date (exit 0) or why not (exit 1)
# Environment (README, "Environment"):
#   SCOREHMR_VENV          venv path (default: <repo>/.venv)
#   SCOREHMR_PYTHON        interpreter for a new venv (default: python3); must be Python 3.11
#   SCOREHMR_REQUIREMENTS  requirement groups (default: "runtime dev"; also train, bench)
#   SCOREHMR_TORCH_INDEX   torch build: auto (default), cpu, cuXYZ, rocmX.Y, pypi, or an index URL
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCOREHMR_VENV:-$ROOT/.venv}"
PYTHON="${SCOREHMR_PYTHON:-python3}"
REQ_GROUPS="runtime"  # runtime always, then the requested groups in order, once each
for g in ${SCOREHMR_REQUIREMENTS:-runtime dev}; do [[ " $REQ_GROUPS " == *" $g "* ]] || REQ_GROUPS+=" $g"; done
NEED_PY=3.11  # the ROS 2 Kilted wheels on PyPI are cp311 only
CHECK_ONLY=0
case "${1:-}" in
  "") ;;
  --check) CHECK_ONLY=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 64 ;;
esac

# Python version first: anything else would fail later with a far less clear error.
if [[ -x "$VENV/bin/python" ]]; then py="$VENV/bin/python"; else py="$PYTHON"; fi
ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [[ "$ver" != "$NEED_PY" ]]; then
  if [[ "$py" == "$VENV/bin/python" ]]; then
    hint="remove the venv (rm -rf $VENV) and rerun with SCOREHMR_PYTHON=/path/to/python$NEED_PY"
  else
    hint="set SCOREHMR_PYTHON=/path/to/python$NEED_PY"
  fi
  echo "[setup] error: $py is Python ${ver:-(not runnable)}; scorehmr_ros needs Python $NEED_PY" \
    "(the ROS 2 wheels on PyPI are cp311 only): $hint" >&2
  exit 1
fi

state() { "$py" "$ROOT/scripts/setup_state.py" "$@"; }
check() {  # prints the reasons; sets check_rc (0 up to date, 1 needs setup, else fatal)
  check_rc=0
  reasons="$(state check "$ROOT" "$VENV" "$REQ_GROUPS")" || check_rc=$?
}
fetch_movenet() {  # the default limb model (core/limb_model.py); returns at once when present
  if [[ $CHECK_ONLY -eq 0 ]]; then
    PYTHON="$VENV/bin/python" bash "$ROOT/scripts/fetch_movenet.sh"
  elif [[ ! -s "$ROOT/scorehmr_ros/data/models/movenet_thunder.onnx" ]]; then
    echo "[setup] the MoveNet model is not made yet (scripts/fetch_movenet.sh)"
    exit 1
  fi
}
check
if [[ $check_rc -eq 0 ]]; then
  fetch_movenet
  echo "[setup] environment up to date: $VENV"
  exit 0
fi
if [[ $check_rc -ne 1 ]]; then
  [[ -z "$reasons" ]] || echo "[setup] error: $reasons" >&2
  exit 1
fi
torch_choice="$(state torch-index)" || exit 1
TORCH_URL="$(sed -n 1p <<<"$torch_choice")"
TORCH_WHY="$(sed -n 2p <<<"$torch_choice")"
if [[ $CHECK_ONLY -eq 1 ]]; then
  echo "[setup] would set up $VENV (requirements: $REQ_GROUPS; torch: $TORCH_WHY${TORCH_URL:+, $TORCH_URL}):"
  sed 's/^/  - /' <<<"$reasons"
  exit 1
fi

# One setup per venv at a time: a second one waits, then finds the venv up to date.
mkdir -p "$VENV"
exec 9>"$VENV/.scorehmr_setup.lock"
if ! flock -n 9; then
  echo "[setup] another setup of $VENV is running; waiting for it"
  flock 9
  check
  [[ $check_rc -eq 0 ]] && { echo "[setup] environment up to date: $VENV"; exit 0; }
fi
rm -f "$VENV/.scorehmr_setup_stamp"

t0=$SECONDS
echo "[setup] setting up $VENV:"
sed 's/^/  - /' <<<"$reasons"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

pip_quiet() {  # pip install with a short summary; the full log goes to $VENV/.pip-install.log
  set +o pipefail
  "${PIP[@]}" install --progress-bar off "$@" 2>&1 | tee "$VENV/.pip-install.log" \
    | grep --line-buffered -E "^(Installing collected|Successfully installed)" | cut -c1-160
  local rc=${PIPESTATUS[0]}
  set -o pipefail
  if [[ $rc -ne 0 ]]; then
    grep -v -e "^WARNING: Location" -e "^Requirement already satisfied" "$VENV/.pip-install.log" | tail -40
    echo "[setup] pip install failed (full log: $VENV/.pip-install.log)" >&2
    exit 1
  fi
}

# torch first, alone (--no-deps: its dependencies are pinned in runtime.txt), so that the index
# chosen for it (SCOREHMR_TORCH_INDEX) serves torch only. A pinned wheel of the chosen build that
# pip already finds offline (find-links, e.g. this machine's /opt/wheels) is used without the index.
TORCH_PIN="$(sed -n 's/^torch==//p' "$ROOT/requirements/runtime.txt")"
TORCH_TAG=""
[[ "$TORCH_URL" == https://download.pytorch.org/whl/* ]] && TORCH_TAG="${TORCH_URL##*/}"
have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)"
if [[ "${have%%+*}" == "$TORCH_PIN" && ( -z "$TORCH_TAG" || "$have" == *+"$TORCH_TAG" ) ]]; then
  echo "[setup] torch $have already installed ($TORCH_WHY)"
else
  torch_opts=()
  [[ -n "$have" ]] && torch_opts+=(--force-reinstall)
  offline="$("${PIP[@]}" install --dry-run --no-deps --no-index --quiet --report - "torch==$TORCH_PIN" \
    2>/dev/null | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' \
    2>/dev/null || true)"
  if [[ -n "$TORCH_TAG" && "$offline" == *+"$TORCH_TAG" ]]; then
    torch_opts+=(--no-index)
    echo "[setup] installing torch $offline ($TORCH_WHY; wheel found offline, index not used)"
  elif [[ -n "$TORCH_URL" ]]; then
    torch_opts+=(--index-url "$TORCH_URL")
    echo "[setup] installing torch $TORCH_PIN from $TORCH_URL ($TORCH_WHY)"
  else
    echo "[setup] installing torch $TORCH_PIN ($TORCH_WHY)"
  fi
  pip_quiet --no-deps "${torch_opts[@]}" "torch==$TORCH_PIN"
fi

req_args=()
for g in $REQ_GROUPS; do req_args+=(-r "$ROOT/requirements/$g.txt"); done
echo "[setup] installing pinned requirements: $REQ_GROUPS"
pip_quiet "${req_args[@]}"
"${PIP[@]}" check

build_interfaces() {  # <source dir> <build dir> [cmake args...]
  local src="$1" bld="$2"
  shift 2
  echo "[setup] generating interfaces: $(basename "$bld") -> $VENV"
  # A build directory configured for another checkout (a venv reused by another clone) is
  # refused by CMake: start it afresh.
  grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$bld/CMakeCache.txt" 2>/dev/null || rm -rf "$bld"
  mkdir -p "$bld"
  (
    cd "$bld"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
    cmake "$src" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" \
      -DBUILD_TESTING=OFF "$@" >cmake.log 2>&1 || { cat cmake.log; exit 1; }
    make -j"$(nproc)" install >make.log 2>&1 || { tail -50 make.log; exit 1; }
  )
}
build_interfaces "$ROOT/third_party/tf2_msgs" "$VENV/.build/tf2_msgs"
build_interfaces "$ROOT/third_party/hri_msgs" "$VENV/.build/hri_msgs"
build_interfaces "$ROOT" "$VENV/.build/scorehmr_ros" -DSCOREHMR_INSTALL_PYTHON=OFF

# rosidl installs site-packages/scorehmr_ros/{msg,*.so} with an empty __init__.py and an
# egg-info. Drop both: the directory becomes a portion of the package, the editable checkout
# (whose __init__.py extends __path__) stays the package that imports, and pip does not
# mistake the generated files for an older scorehmr_ros to uninstall.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
rm -rf "$SITE/scorehmr_ros/__init__.py" "$SITE"/scorehmr_ros-*.egg-info

echo "[setup] installing scorehmr_ros (editable) from $ROOT"
"${PIP[@]}" install --no-deps --no-build-isolation --config-settings editable_mode=compat \
  -e "$ROOT" 2>&1 | grep -v "^WARNING: Location" | tail -1

(cd / && "$VENV/bin/python" -I -c "import rclpy, torch, smplx, roma, mediapipe; from scorehmr_ros.msg import Body; \
from tf2_msgs.msg import TFMessage; from hri_msgs.msg import IdsList; print('[setup] imports ok: torch', torch.__version__)")
state stamp "$ROOT" "$VENV" "$REQ_GROUPS"
check
if [[ $check_rc -ne 0 ]]; then  # e.g. the editable install does not import from this checkout
  echo "[setup] error: setup finished but the venv is not in the expected state: $reasons" >&2
  rm -f "$VENV/.scorehmr_setup_stamp"
  exit 1
fi
fetch_movenet
echo "[setup] done in $((SECONDS - t0)) s; venv size $(du -sh "$VENV" | cut -f1)"
