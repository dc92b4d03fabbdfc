"""Package data locations (never the current working directory)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "scorehmr_ros"


def package_share() -> Path:
    """``share/scorehmr_ros`` of an installed package, or the source checkout (editable install)."""
    source = Path(__file__).resolve().parents[2]
    if (source / "package.xml").is_file() and (source / "config").is_dir():
        return source
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE))


def package_config(name: str) -> Path:
    """A file of the package's config/ directory."""
    path = package_share() / "config" / name
    if not path.is_file():
        raise FileNotFoundError(f"no config file {path}")
    return path
