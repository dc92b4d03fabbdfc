#!/usr/bin/env bash
# Create (or update) the project's virtual environment: pinned Python dependencies, the ROS 2
# Kilted wheels, the interfaces generated from msg/ (and tf2_msgs/TFMessage, which has no
# wheel) installed into the venv, and scorehmr_ros itself in editable mode.
#
# Idempotent: when nothing it depends on changed since the last run it returns in well under
# a second. Environment: SCOREHMR_VENV (default: <repo>/.venv), SCOREHMR_PYTHON (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCOREHMR_VENV:-$ROOT/.venv}"
PYTHON="${SCOREHMR_PYTHON:-python3}"
STAMP="$VENV/.scorehmr_setup_stamp"

inputs_hash() {
  (cd "$ROOT" && find scripts/setup.sh requirements setup.py setup.cfg package.xml CMakeLists.txt \
    cmake msg third_party -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

want="$(inputs_hash)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  echo "[setup] environment up to date: $VENV"
  exit 0
fi

t0=$SECONDS
echo "[setup] creating/updating virtual environment at $VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

echo "[setup] installing pinned dependencies (requirements/pinned.txt)"
# Every package is pinned, torch to the local CPU wheel, so no resolver can pull a CUDA build.
set +o pipefail
"${PIP[@]}" install --progress-bar off -r "$ROOT/requirements/pinned.txt" 2>&1 | tee "$VENV/.pip-install.log" \
  | grep --line-buffered -E "^(Collecting|Installing collected|Successfully installed)" | cut -c1-160
pip_rc=${PIPESTATUS[0]}
set -o pipefail
if [[ $pip_rc -ne 0 ]]; then
  grep -v -e "^WARNING: Location" -e "^Requirement already satisfied" "$VENV/.pip-install.log" | tail -40
  echo "[setup] pip install failed (full log: $VENV/.pip-install.log)" >&2
  exit 1
fi
"${PIP[@]}" check

build_interfaces() {  # <source dir> <build dir> [cmake args...]
  local src="$1" bld="$2"
  shift 2
  echo "[setup] generating interfaces: $(basename "$src") -> $VENV"
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

echo "[setup] installing scorehmr_ros (editable)"
"${PIP[@]}" install --no-deps --no-build-isolation --config-settings editable_mode=compat \
  -e "$ROOT" 2>&1 | grep -v "^WARNING: Location" | tail -1

"$VENV/bin/python" -c "import rclpy, torch, smplx, roma, mediapipe; from scorehmr_ros.msg import Body; \
from tf2_msgs.msg import TFMessage; from hri_msgs.msg import IdsList; print('[setup] imports ok: torch', torch.__version__)"
inputs_hash >"$STAMP"
echo "[setup] done in $((SECONDS - t0)) s; venv size $(du -sh "$VENV" | cut -f1)"
