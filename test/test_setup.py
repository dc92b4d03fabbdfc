"""scripts/setup.sh's decisions, exercised without network or an install (a few seconds in all).

The setup runs `setup.sh --check` (which changes nothing) or scripts/setup_state.py directly, on
fake venvs in tmp_path; fake `python3` / `nvidia-smi` executables stand in for other machines.
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
STATE = ROOT / "scripts" / "setup_state.py"
REQ = ROOT / "requirements"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def fake_exe(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment without the caller's SCOREHMR_* settings; PATH without any real nvidia-smi."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREHMR_")}
    path = [d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "nvidia-smi").exists()]
    env["PATH"] = os.pathsep.join(path)
    env["SCOREHMR_PYTHON"] = sys.executable
    env.update(extra)
    return env


def run_setup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SETUP), *args], env=env, capture_output=True, text=True, timeout=60)


def state(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(STATE), *args], env=env, capture_output=True, text=True, timeout=60
    )


# --- Python version -------------------------------------------------------------------------


def test_setup_refuses_python_310_with_a_clear_message(tmp_path):
    py310 = fake_exe(tmp_path / "bin", "python3", "echo 3.10")
    env = clean_env(tmp_path, SCOREHMR_PYTHON=str(py310), SCOREHMR_VENV=str(tmp_path / "venv"))
    for args in ((), ("--check",)):
        out = run_setup(env, *args)
        assert out.returncode == 1
        assert "is Python 3.10; scorehmr_ros needs Python 3.11" in out.stderr
        assert "SCOREHMR_PYTHON" in out.stderr
    assert not (tmp_path / "venv").exists(), "nothing may be created before the version check"


def test_setup_refuses_an_existing_venv_of_another_python(tmp_path):
    venv = tmp_path / "venv"
    fake_exe(venv / "bin", "python", "echo 3.12")
    out = run_setup(clean_env(tmp_path, SCOREHMR_VENV=str(venv)), "--check")
    assert out.returncode == 1
    assert "is Python 3.12" in out.stderr and "rm -rf" in out.stderr


def test_setup_py_requires_python_311():
    text = (ROOT / "setup.py").read_text()
    assert re.search(r'python_requires=">=3\.11, *<3\.12"', text)


# --- stamp: checkout path, venv path, editable install ----------------------------------------


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def make_up_to_date_venv(tmp_path: Path, env: dict[str, str], name: str = "venv") -> Path:
    """A real (pip-less) venv where scorehmr_ros imports from ROOT, stamped as setup.sh does."""
    venv = tmp_path / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    # what the compat editable install writes: a .pth naming the checkout
    (site_packages(venv) / "scorehmr_ros_checkout.pth").write_text(f"{ROOT}\n")
    assert state("stamp", str(ROOT), str(venv), "runtime dev", env=env).returncode == 0
    return venv


def test_check_accepts_a_stamped_venv_that_imports_this_checkout(tmp_path):
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    out = state("check", str(ROOT), str(venv), "runtime dev", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_setup(dict(env, SCOREHMR_VENV=str(venv)), "--check")
    assert out.returncode == 0 and "up to date" in out.stdout, out.stdout + out.stderr


def test_check_detects_another_checkout_path(tmp_path):
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    clone = tmp_path / "clone"  # just what setup.sh --check reads
    for rel in ("scripts/setup.sh", "scripts/setup_state.py", "requirements"):
        copy = shutil.copytree if (ROOT / rel).is_dir() else shutil.copy
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        copy(ROOT / rel, clone / rel)
    out = state("check", str(clone), str(venv), "runtime dev", env=env)
    assert out.returncode == 1
    assert f"set up for another checkout ({ROOT})" in out.stdout
    # The clone's setup.sh, pointed at the same venv, sets it up again instead of "up to date".
    out = subprocess.run(
        ["bash", str(clone / "scripts" / "setup.sh"), "--check"],
        env=dict(env, SCOREHMR_VENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "another checkout" in out.stdout, out.stdout + out.stderr


def test_check_detects_an_editable_install_of_another_clone(tmp_path):
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    other = tmp_path / "other_clone"
    (other / "scorehmr_ros").mkdir(parents=True)
    (other / "scorehmr_ros" / "__init__.py").write_text("")
    (site_packages(venv) / "scorehmr_ros_checkout.pth").write_text(f"{other}\n")
    out = state("check", str(ROOT), str(venv), "runtime dev", env=env)
    assert out.returncode == 1
    assert f"imports from {other / 'scorehmr_ros' / '__init__.py'}" in out.stdout


def test_check_detects_a_moved_venv(tmp_path):
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    moved = tmp_path / "moved"
    shutil.copytree(venv, moved, symlinks=True)
    out = state("check", str(ROOT), str(moved), "runtime dev", env=env)
    assert out.returncode == 2 and f"set up at {venv}" in out.stdout
    out = run_setup(dict(env, SCOREHMR_VENV=str(moved)), "--check")
    assert out.returncode == 1 and "rm -rf" in out.stderr


def test_check_detects_changed_inputs_groups_and_torch_choice(tmp_path):
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    out = state("check", str(ROOT), str(venv), "runtime dev train", env=env)
    assert out.returncode == 1 and "not installed yet: train" in out.stdout
    assert state("check", str(ROOT), str(venv), "runtime", env=env).returncode == 0  # a subset is fine
    out = state("check", str(ROOT), str(venv), "runtime dev", env=dict(env, SCOREHMR_TORCH_INDEX="cu126"))
    assert out.returncode == 1 and "torch build choice changed" in out.stdout
    stamp = venv / ".scorehmr_setup_stamp"
    stamp.write_text(stamp.read_text().replace("inputs=", "inputs=0"))
    out = state("check", str(ROOT), str(venv), "runtime dev", env=env)
    assert out.returncode == 1 and "setup inputs changed" in out.stdout


def test_stamp_covers_requirements_and_setup_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import setup_state
    finally:
        sys.path.pop(0)
    for needed in ("scripts/setup.sh", "scripts/setup_state.py", "requirements", "setup.py", "msg"):
        assert needed in setup_state.INPUTS


def test_a_second_setup_waits_for_the_lock_then_rechecks(tmp_path):
    """setup.sh holds flock on VENV/.scorehmr_setup.lock; a second one waits, then finds the work
    done. Here the test holds the lock, and "finishes the setup" by stamping the venv."""
    env = clean_env(tmp_path)
    venv = make_up_to_date_venv(tmp_path, env)
    (venv / ".scorehmr_setup_stamp").unlink()
    with open(venv / ".scorehmr_setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            ["bash", str(SETUP)],
            env=dict(env, SCOREHMR_VENV=str(venv)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert "another setup of" in proc.stdout.readline()
            time.sleep(0.5)
            assert proc.poll() is None, "setup must wait while another one holds the lock"
            assert state("stamp", str(ROOT), str(venv), "runtime dev", env=env).returncode == 0
        except BaseException:
            proc.kill()
            raise
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "environment up to date" in out, out


# --- torch index ----------------------------------------------------------------------------


def torch_choice(env: dict[str, str]) -> list[str]:
    out = state("torch-index", env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_torch_index_auto_is_cpu_without_nvidia_smi(tmp_path):
    assert torch_choice(clean_env(tmp_path))[0] == CPU_INDEX
    assert torch_choice(clean_env(tmp_path, SCOREHMR_TORCH_INDEX="auto"))[0] == CPU_INDEX


def test_torch_index_auto_uses_pip_defaults_with_nvidia_smi(tmp_path):
    env = clean_env(tmp_path)
    fake_exe(tmp_path / "gpu", "nvidia-smi", "exit 0")
    env["PATH"] = f"{tmp_path / 'gpu'}{os.pathsep}{env['PATH']}"
    url, why = torch_choice(env)
    assert url == "" and "nvidia-smi found" in why


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("cpu", CPU_INDEX),
        ("cu126", "https://download.pytorch.org/whl/cu126"),
        ("pypi", ""),
        ("https://mirror.example/simple", "https://mirror.example/simple"),
    ],
)
def test_torch_index_explicit_override(tmp_path, value, url):
    env = clean_env(tmp_path, SCOREHMR_TORCH_INDEX=value)
    fake_exe(tmp_path / "gpu", "nvidia-smi", "exit 0")  # an override wins over auto-detection
    env["PATH"] = f"{tmp_path / 'gpu'}{os.pathsep}{env['PATH']}"
    assert torch_choice(env)[0] == url


def test_torch_index_rejects_nonsense(tmp_path):
    out = state("torch-index", env=clean_env(tmp_path, SCOREHMR_TORCH_INDEX="fast"))
    assert out.returncode == 3 and "SCOREHMR_TORCH_INDEX" in out.stderr


def test_setup_check_reports_the_torch_choice(tmp_path):
    env = clean_env(tmp_path, SCOREHMR_VENV=str(tmp_path / "venv"))
    out = run_setup(env, "--check")
    assert out.returncode == 1 and CPU_INDEX in out.stdout and "no virtual environment" in out.stdout
    assert not (tmp_path / "venv").exists(), "--check must not create anything"
    out = run_setup(dict(env, SCOREHMR_TORCH_INDEX="pypi"), "--check")
    assert out.returncode == 1 and "download.pytorch.org" not in out.stdout


# --- requirements split ---------------------------------------------------------------------


def pins(name: str) -> dict[str, str]:
    result = {}
    for line in (REQ / name).read_text().splitlines():
        if line and not line.startswith(("#", "-r ")):
            pkg, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned"
            result[re.sub(r"[-_.]+", "-", pkg).lower()] = version
    return result


def test_requirements_are_split_pinned_and_consistent():
    groups = {g: pins(f"{g}.txt") for g in ("runtime", "dev", "train", "bench")}
    seen: dict[str, str] = {}
    for group in groups.values():
        for pkg, version in group.items():
            assert seen.setdefault(pkg, version) == version, f"{pkg} pinned twice with different versions"
    runtime = groups["runtime"]
    assert runtime["torch"] == "2.13.0"
    runtime_roots = ("ros-rclpy", "smplx", "roma", "mediapipe", "ai-edge-litert", "onnxruntime")
    runtime_roots += ("mcap-ros2-support",)
    for pkg in runtime_roots:
        assert pkg in runtime
    for pkg in ("pytest", "ruff", "diffusers", "trimesh", "scikit-image", "colcon-core", "pybullet"):
        assert pkg not in runtime, f"{pkg} is not needed by the node"
    assert "pybullet" in groups["train"]
    dev_includes = [l for l in (REQ / "dev.txt").read_text().splitlines() if l.startswith("-r ")]
    assert dev_includes == ["-r runtime.txt", "-r train.txt", "-r bench.txt"]
