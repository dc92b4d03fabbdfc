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


DDS_PROFILE = "fastdds_large_messages.xml"
DDS_PROFILE_VARIABLES = (
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_BUILTIN_TRANSPORTS",
)


def use_large_message_transports(env: dict) -> bool:
    """Point Fast DDS at the package's large-message profile (config/fastdds_large_messages.xml)
    in ``env`` (e.g. ``os.environ``, before rclpy initialises), unless the user already chose
    transports. Returns whether it did."""
    if any(env.get(k) for k in DDS_PROFILE_VARIABLES):
        return False
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(package_config(DDS_PROFILE))
    return True
