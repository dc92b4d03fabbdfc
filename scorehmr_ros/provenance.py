"""Provenance of an artefact: which code, command, machine and time produced it.

Every JSON artefact the evaluation and benchmark scripts write carries ``provenance()`` under a
``provenance`` key, so a number in the README can be traced to a revision and a command.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def git_describe(cwd: str | os.PathLike | None = None) -> str:
    """``git describe --always --dirty`` of the checkout holding ``cwd`` (default: this package's).

    ``"unknown"`` outside a git checkout or without git.
    """
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=str(cwd if cwd is not None else _REPO),
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else "unknown"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def provenance(argv: list[str] | None = None, cwd: str | os.PathLike | None = None) -> dict:
    """A JSON-ready record: git_describe, argv, cpu_model, threads, python, date (UTC, ISO 8601),
    and load_avg (the machine's 1/5/15-minute load averages: timings on a shared machine depend on it).

    ``threads`` holds ``os.cpu_count()`` and, when torch is already imported (it is never imported
    here), ``torch.get_num_threads()``.
    """
    threads: dict = {"cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        threads["torch"] = int(torch.get_num_threads())
    return {
        "git_describe": git_describe(cwd),
        "argv": list(sys.argv if argv is None else argv),
        "cpu_model": cpu_model(),
        "threads": threads,
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def write_artefact(path: str | os.PathLike, what: str, settings: dict, **results) -> Path:
    """Write a JSON artefact ``{what, provenance, git_describe, settings, **results}`` to ``path``
    (parents created), print where, and return the path."""
    prov = provenance()
    record = {"what": what, "provenance": prov, "git_describe": prov["git_describe"], "settings": settings}
    record.update(results)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return out
