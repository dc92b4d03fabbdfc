"""test/conftest.py gives each test session a DDS domain no concurrent session uses."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import claim_dds_domain

SNIPPET = """
import sys, time
sys.path.insert(0, {test_dir!r})
from conftest import claim_dds_domain
domain, fh = claim_dds_domain({lock_dir!r}, {candidates!r})
print(domain, flush=True)
time.sleep(60)
"""


def test_session_domain_is_set():
    assert os.environ["ROS_DOMAIN_ID"].isdigit()


def test_concurrent_claims_get_different_domains(tmp_path):
    candidates = (41, 42, 43)
    code = SNIPPET.format(test_dir=str(Path(__file__).parent), lock_dir=str(tmp_path), candidates=candidates)
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(other.stdout.readline())
        ours, fh = claim_dds_domain(str(tmp_path), candidates)
        assert ours != theirs and ours in candidates
        third, fh3 = claim_dds_domain(str(tmp_path), candidates)  # the last one
        assert third not in (ours, theirs)
        with pytest.raises(RuntimeError, match="no free DDS domain"):
            claim_dds_domain(str(tmp_path), candidates)
        fh.close()
        fh3.close()
    finally:
        other.kill()
        other.wait()
    again, fh = claim_dds_domain(str(tmp_path), (theirs,))  # a killed process's lock is gone with it
    assert again == theirs
    fh.close()


def test_domain_with_a_bound_discovery_port_is_skipped(tmp_path):
    """A DDS participant that does not take the lock (e.g. a demo) still holds its unicast port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", 7410 + 250 * 44))
        except OSError:
            pytest.skip("port of domain 44 already in use here")
        domain, fh = claim_dds_domain(str(tmp_path), (44, 45))
        fh.close()
    assert domain == 45
