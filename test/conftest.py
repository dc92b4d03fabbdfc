"""Test-wide setup: keep DDS traffic on this machine, in a domain of its own, and seed everything.

DDS domain: every test session (and every process it starts, through the environment) runs in a
ROS_DOMAIN_ID that no other session on this machine uses at the same time. ``claim_dds_domain``
takes the first domain whose lock file (``$TMPDIR/scorehmr_ros_dds_domains/<id>.lock``) it can
lock exclusively (``flock``; the lock is held until this process exits, so a killed session frees
its domain) and whose first participant's unicast discovery port (7410 + 250 * id, the RTPS
default) is free, so a DDS process started without this lock (e.g. ``make demo``) is skipped too.
Candidates: 1-101 and 215-232 (the IDs whose ports stay clear of Linux's ephemeral range).
A ROS_DOMAIN_ID already set in the environment is kept.
"""

import fcntl
import os
import random
import socket
import tempfile

DOMAIN_CANDIDATES = (*range(1, 102), *range(215, 233))
_domain_lock = None  # the open, locked file of the claimed domain (kept for the session)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def claim_dds_domain(lock_dir: str | None = None, candidates=DOMAIN_CANDIDATES) -> tuple[int, object]:
    """(domain id, the locked file object); keep the file open for as long as the domain is used."""
    lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), "scorehmr_ros_dds_domains")
    os.makedirs(lock_dir, exist_ok=True)
    start = os.getpid() % len(candidates)  # spread concurrent sessions; the lock decides
    for k in range(len(candidates)):
        domain = candidates[(start + k) % len(candidates)]
        fh = open(os.path.join(lock_dir, f"{domain}.lock"), "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        if _port_free(7410 + 250 * domain):
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            return domain, fh
        fh.close()  # in use by a process that does not take the lock
    raise RuntimeError(f"no free DDS domain among {len(candidates)} candidates (locks in {lock_dir})")


# Must be set before rclpy (and Fast DDS) initialise in this process or in any child process.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if not os.environ.get("ROS_DOMAIN_ID"):
    _domain, _domain_lock = claim_dds_domain()
    os.environ["ROS_DOMAIN_ID"] = str(_domain)
# UDP over loopback only: no shared-memory segments left in /dev/shm if a process dies hard.
os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"

import numpy as np  # noqa: E402 (after the environment above)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 (seeds legacy global-state users too)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        pass


@pytest.fixture
def ros_context():
    """A fresh rclpy Context per test, shut down afterwards."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_shm():
    """Remove Fast DDS shared-memory files this test session created (none expected with UDPv4)."""
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    yield
    if not os.path.isdir("/dev/shm"):
        return
    for name in set(os.listdir("/dev/shm")) - before:
        if name.startswith(("fastdds_", "fastrtps_", "sem.fastdds_", "sem.fastrtps_")):
            try:
                os.remove(os.path.join("/dev/shm", name))
            except OSError:
                pass
