"""Rewrite requirements/pinned.txt from the current venv (after a deliberate upgrade).

Only real installed distributions (``*.dist-info``) are listed: the ROS wheels also carry
``*.egg-info`` folders written by their CMake builds (e.g. ``action_msgs``), which are not PyPI
projects and would make ``pip install -r`` fail. torch is pinned without its local ``+cpu`` tag.
Run with the venv's python: ``.venv/bin/python scripts/freeze_requirements.py``.
"""

import importlib.metadata as md
from pathlib import Path

PINNED = Path(__file__).resolve().parents[1] / "requirements" / "pinned.txt"
SKIP = {"scorehmr-ros", "pip"}


def main() -> None:
    pins = {}
    for dist in md.distributions():
        if not str(getattr(dist, "_path", "")).endswith(".dist-info"):
            continue
        name = dist.metadata["Name"]
        if name.lower().replace("_", "-") in SKIP:
            continue
        version = dist.version.split("+")[0] if name == "torch" else dist.version
        pins[name.lower()] = f"{name}=={version}"
    header = [line for line in PINNED.read_text().splitlines() if line.startswith("#")]
    PINNED.write_text("\n".join(header + sorted(pins.values(), key=str.lower)) + "\n")
    print(f"{len(pins)} pins written to {PINNED}")


if __name__ == "__main__":
    main()
