"""Decisions of scripts/setup.sh, kept here so that tests can exercise them without installing.

    setup_state.py check ROOT VENV GROUPS   exit 0 when VENV is up to date for this checkout, else
                                            print why not (one reason a line) and exit 1;
                                            exit 2 when VENV was made at another path (moved
                                            venv), 3 on a bad setting (message on stderr)
    setup_state.py stamp ROOT VENV GROUPS   write VENV's stamp (after a successful setup)
    setup_state.py torch-index              print the torch build choice: the first line is the
                                            index URL ("" = pip's configured indexes), the second
                                            a short description; exit 3 on a bad value

GROUPS is a space-separated subset of the requirement files (runtime dev train bench). The stamp
records the hash of every setup input, the checkout and venv paths (resolved), the groups
installed and the torch index chosen; a venv is up to date when all of them match (groups: a
superset is fine) and the editable scorehmr_ros in it imports from this checkout (checked last,
by importing it). Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

STAMP_NAME = ".scorehmr_setup_stamp"
INPUTS = (
    "scripts/setup.sh", "scripts/setup_state.py", "requirements", "setup.py", "setup.cfg",
    "package.xml", "CMakeLists.txt", "cmake", "msg", "third_party",
)  # fmt: skip
GROUPS = ("runtime", "dev", "train", "bench")
TORCH_INDEX_ENV = "SCOREHMR_TORCH_INDEX"
PYTORCH_INDEX = "https://download.pytorch.org/whl/{}"


def inputs_hash(root: Path) -> str:
    """sha256 over the relative path and content of every file setup.sh depends on."""
    h = hashlib.sha256()
    for entry in INPUTS:
        base = root / entry
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for path in files:
            if not path.exists():
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def parse_groups(text: str) -> list[str]:
    groups = ["runtime"] + [g for g in text.replace(",", " ").split() if g != "runtime"]
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"SCOREHMR_REQUIREMENTS: unknown group(s) {bad}; choose from {list(GROUPS)}")
    return list(dict.fromkeys(groups))


def stamp_text(root: Path, venv: Path, groups: list[str]) -> str:
    return (
        f"inputs={inputs_hash(root)}\nroot={root.resolve()}\nvenv={venv.resolve()}\n"
        f"groups={' '.join(groups)}\ntorch_index={torch_index()[0]}\n"
    )


def read_stamp(venv: Path) -> dict[str, str]:
    try:
        text = (venv / STAMP_NAME).read_text()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def editable_location(venv: Path) -> str:
    """Where the venv's python imports scorehmr_ros from ("" when it cannot).

    -I and cwd=/ so that neither the caller's directory nor PYTHONPATH can shadow the install.
    """
    python = venv / "bin" / "python"
    if not python.exists():
        return ""
    out = subprocess.run(
        [str(python), "-I", "-c", "import scorehmr_ros, os; print(os.path.realpath(scorehmr_ros.__file__))"],
        cwd="/",
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 else ""


def check(root: Path, venv: Path, groups: list[str]) -> tuple[int, list[str]]:
    """(status, reasons): 0 up to date, 1 needs setup, 2 the venv was made at another path."""
    root, venv = root.resolve(), venv.resolve()
    stamp = read_stamp(venv)
    if not (venv / "bin" / "python").exists():
        return 1, [f"no virtual environment at {venv}"]
    if not stamp:
        return 1, ["no setup stamp (first run, or the last setup did not finish)"]
    if stamp.get("venv") != str(venv):
        return 2, [
            f"the venv at {venv} was set up at {stamp.get('venv')} (a moved venv keeps the old "
            f"paths in its scripts): remove it (rm -rf {venv}) and run setup again"
        ]
    reasons = []
    if stamp.get("root") != str(root):
        reasons.append(f"set up for another checkout ({stamp.get('root')}), not {root}")
    if stamp.get("inputs") != inputs_hash(root):
        reasons.append("setup inputs changed (requirements/, setup.sh, msg/, CMake files, ...)")
    had, want_index = stamp.get("torch_index"), torch_index()[0]
    if had != want_index:
        reasons.append(f"torch build choice changed: {had or 'pypi'} -> {want_index or 'pypi'}")
    missing = [g for g in groups if g not in stamp.get("groups", "").split()]
    if missing:
        reasons.append(f"requirement group(s) not installed yet: {' '.join(missing)}")
    want = str((root / "scorehmr_ros" / "__init__.py").resolve())
    if not reasons:  # the import is the slow part: only when everything else says up to date
        got = editable_location(venv)
        if got != want:
            reasons.append(f"scorehmr_ros in the venv imports from {got or 'nowhere'}, not {want}")
    return (1 if reasons else 0), reasons


def torch_index(value: str | None = None) -> tuple[str, str]:
    """(index URL or "", description) from SCOREHMR_TORCH_INDEX: auto (default), cpu, cuXYZ,
    rocmX.Y, pypi, or an index URL. auto = cpu unless nvidia-smi is on PATH."""
    value = (os.environ.get(TORCH_INDEX_ENV, "auto") if value is None else value).strip() or "auto"
    if value == "auto":
        if shutil.which("nvidia-smi"):
            return "", "auto: nvidia-smi found, pip's configured indexes (PyPI's torch is the CUDA build)"
        return PYTORCH_INDEX.format("cpu"), "auto: no nvidia-smi, CPU build"
    if value == "pypi":
        return "", "pypi: pip's configured indexes"
    if value == "cpu" or (value.startswith(("cu", "rocm")) and "/" not in value):
        return PYTORCH_INDEX.format(value), f"{value} build"
    if "://" in value:
        return value, "index from SCOREHMR_TORCH_INDEX"
    choices = "auto, cpu, cuXYZ (e.g. cu126), rocmX.Y, pypi or an index URL"
    raise ValueError(f"{TORCH_INDEX_ENV}={value!r}: use {choices}")


def main(argv: list[str]) -> int:
    try:
        if argv == ["torch-index"]:
            url, why = torch_index()
            print(f"{url}\n{why}")
            return 0
        if len(argv) == 4 and argv[0] in ("check", "stamp"):
            root, venv, groups = Path(argv[1]), Path(argv[2]), parse_groups(argv[3])
            if argv[0] == "stamp":
                (venv / STAMP_NAME).write_text(stamp_text(root, venv, groups))
                return 0
            status, reasons = check(root, venv, groups)
            for reason in reasons:
                print(reason)
            return status
    except ValueError as exc:
        print(f"[setup] error: {exc}", file=sys.stderr)
        return 3
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
