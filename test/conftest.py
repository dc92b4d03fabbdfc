"""Test-wide setup: keep DDS traffic on this machine, in a domain of its own, and seed everything."""

import os
import random

# Must be set before rclpy (and Fast DDS) initialise in this process or in any child process.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
# UDP over loopback only: no shared-memory segments left in /dev/shm if a process dies hard.
os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"

import numpy as np
import pytest


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
    rclpy.shutdown(context=context)


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
