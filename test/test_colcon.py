"""The repository is also a normal ROS 2 package: `colcon build` generates msg/ and installs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "install", "log", "__pycache__", "*.pyc", "out")


@pytest.mark.skipif(shutil.which("colcon", path=str(VENV_BIN)) is None, reason="colcon not installed")
def test_colcon_build_installs_interfaces_and_package(tmp_path):
    src = tmp_path / "src" / "scorehmr_ros"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    prefix = str(VENV_BIN.parent)  # the ROS 2 wheels' prefix plays the role of /opt/ros/<distro>
    env["AMENT_PREFIX_PATH"] = prefix
    env["CMAKE_PREFIX_PATH"] = prefix
    build = subprocess.run(
        ["colcon", "build", "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    install = tmp_path / "install" / "scorehmr_ros"
    assert (install / "lib" / "scorehmr_ros" / "scorehmr_smoke").exists()
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "scorehmr_ros").exists()
    # The sourced workspace overlays the package: msg and Python code come from install/.
    probe = (
        ". install/setup.sh && cd / && python -c 'import scorehmr_ros, scorehmr_ros.msg as m; "
        "import scorehmr_ros.core.skeleton; print(scorehmr_ros.__file__); print(m.Body.__name__)'"
    )
    run = subprocess.run(
        ["sh", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    file_line, name_line = run.stdout.split()
    assert file_line.startswith(str(install)) and name_line == "Body"
