"""The node's compute process (spawned child): start-up errors, jobs, a bad job, no ROS involved."""

import numpy as np
import pytest

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.eval.heldout import heldout_scenes
from scorehmr_ros.ros.compute import ComputeConfig, ComputeProcess, Job, SetJob, ViewJob

CAMS = ("cam1", "cam2", "cam3")


@pytest.fixture(scope="module")
def scene():
    return heldout_scenes(load_body_model(), num_views=3, seed=5, frame_stride=3, max_frames=4)[0]


@pytest.fixture(scope="module")
def compute():
    proc = ComputeProcess(ComputeConfig(cameras=CAMS, detector="topic", preset="realtime"))
    proc.start()
    yield proc
    proc.stop()


def _set(scene, t):
    views = [
        ViewJob(
            cam,
            scene.cameras.K[v].double().numpy(),
            (640, 480),
            keypoints=scene.keypoints2d[t, v].numpy(),
            confidence=scene.confidence[t, v].numpy(),
        )
        for v, cam in enumerate(CAMS)
    ]
    return SetJob(1000 + t, views)


def test_start_reports_why_it_failed(tmp_path):
    corrupt = tmp_path / "regressor.pt"
    corrupt.write_bytes(b"not a checkpoint")
    proc = ComputeProcess(
        ComputeConfig(cameras=CAMS, detector="topic", preset="realtime", regressor_path=str(corrupt))
    )
    with pytest.raises(RuntimeError, match=r"regressor\.pt"):  # names the file it could not load
        proc.start(timeout_s=120)
    assert not proc.alive()


def test_backlog_job_returns_bodies_in_order(compute, scene):
    assert compute.ready.backend == "onnxruntime" and compute.ready.faces.shape[1] == 3
    res = compute.run(Job([_set(scene, 0), _set(scene, 1)], "realtime", reset=True, mesh=True, overlay=True))
    assert res.error is None
    assert [b.stamp_ns for b in res.bodies] == [1000, 1001]
    newest = res.bodies[-1]
    assert newest.rotations.shape == (24, 3, 3) and newest.joints.shape == (24, 3)
    assert newest.vertices is not None and res.bodies[0].vertices is None  # mesh only for the newest
    assert set(newest.overlay_uv) == set(CAMS) and newest.overlay_uv["cam1"].shape == (33, 2)
    assert res.sets_refined == 2


def test_a_bad_job_is_reported_and_the_process_carries_on(compute, scene):
    bad = _set(scene, 2)
    bad.views[0].keypoints = np.zeros((5, 2))  # wrong keypoint count slipped through
    res = compute.run(Job([bad], "realtime"))
    assert res.error is not None and res.bodies == []
    assert compute.alive()
    res = compute.run(Job([_set(scene, 3)], "quality"))  # preset switch on the fly
    assert res.error is None and res.bodies == []  # quality: two free frames, nothing final yet
    res = compute.run(Job([_set(scene, 0)], "quality", reset=False))
    assert [b.stamp_ns for b in res.bodies] == [1003]


def test_a_job_without_reply_in_time_ends_the_child(scene):
    """Otherwise its late reply would be read as the answer to the next job."""
    proc = ComputeProcess(ComputeConfig(cameras=CAMS, detector="topic", preset="quality"))
    proc.start()
    try:
        with pytest.raises(RuntimeError, match="no reply"):
            proc.run(Job([_set(scene, 0), _set(scene, 1)], "quality"), timeout_s=0.001)
        assert not proc.alive()
    finally:
        proc.stop()


def test_submitted_jobs_come_back_in_order_like_jobs_run_one_at_a_time(compute, scene):
    """Pipelining (the child detects job n + 1 while refining job n) changes nothing in the results;
    a job that fails in between is reported as its own result and the ones after it still match."""
    jobs = [Job([_set(scene, 0)], "realtime", reset=True)] + [
        Job([_set(scene, t)], "realtime") for t in (1, 2, 3)
    ]
    serial = [compute.run(job) for job in jobs]
    bad = _set(scene, 2)
    bad.views[0].keypoints = np.zeros((5, 2))
    piped_jobs = [*jobs[:2], Job([bad], "realtime"), *jobs[2:]]
    for job in piped_jobs:
        compute.submit(job)
    assert compute.in_flight == len(piped_jobs)
    piped = [compute.collect(timeout_s=60) for _ in piped_jobs]
    assert compute.in_flight == 0 and compute.alive()
    assert piped[2].error is not None and piped[2].bodies == []
    del piped[2]
    for one, other in zip(serial, piped, strict=True):
        assert one.error is None and other.error is None
        assert [b.stamp_ns for b in one.bodies] == [b.stamp_ns for b in other.bodies]
        for a, b in zip(one.bodies, other.bodies, strict=True):
            np.testing.assert_allclose(a.joints, b.joints, atol=1e-5)
    with pytest.raises(RuntimeError, match="no job in flight"):
        compute.collect(timeout_s=1)
