"""The public API (scorehmr_ros.Estimator) against the lower-level path it wraps.

Each test runs the same input through the API and through the core pieces wired by hand
(BlazePoseDetector -> ViewInput -> StreamingEstimator) and requires the same bodies, so a
broken conversion (intrinsics, keypoint order, image size, frames, stamps) fails here.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from scorehmr_ros import Body, Estimator, View
from scorehmr_ros.api import default_focal, intrinsics_matrix
from scorehmr_ros.core.detector import BlazePoseDetector
from scorehmr_ros.core.presets import get_preset, one_shot
from scorehmr_ros.core.streaming import StreamingEstimator, ViewInput
from scorehmr_ros.eval.heldout import camera_joints, heldout_scenes
from scorehmr_ros.eval.metrics import mpjpe
from scorehmr_ros.sim.sequence import load_or_build

ROOT = Path(__file__).resolve().parents[1]
PRESET = "realtime"  # the cheapest schedule; the wiring is the same for every preset


@pytest.fixture(scope="module")
def estimator():
    est = Estimator.from_pretrained(preset=PRESET)
    yield est
    est.close()


def _view_input(camera, kp, conf, K, size, cam_to_ref=None) -> ViewInput:
    f = torch.float32
    return ViewInput(
        camera,
        torch.as_tensor(kp, dtype=f),
        torch.as_tensor(conf, dtype=f),
        torch.as_tensor(K, dtype=f),
        torch.tensor(size, dtype=f),
        None if cam_to_ref is None else torch.as_tensor(cam_to_ref, dtype=f),
    )


def _same_body(body: Body, fused) -> None:
    assert body.frame == fused.frame and body.stamp_ns == fused.stamp_ns
    np.testing.assert_allclose(body.joints, fused.joints.numpy(), atol=1e-5)
    np.testing.assert_allclose(body.rotations, fused.rotations.numpy(), atol=1e-5)
    np.testing.assert_allclose(body.transl, fused.transl.numpy(), atol=1e-5)


def test_one_image_matches_the_hand_wired_path(estimator):
    image = data.astronaut()  # (512, 512, 3) a real photo, upper body
    h, w = image.shape[:2]
    bodies = estimator.estimate_image(image, vertices=True)
    assert len(bodies) == 1
    body = bodies[0]
    K = intrinsics_matrix(default_focal(w, h), w, h)
    with BlazePoseDetector(static_image_mode=True) as det:
        found = det.detect(image)
    est = StreamingEstimator(estimator.models, one_shot(get_preset(PRESET)))
    (fused,) = est.process(0, [_view_input("camera", found.xy, found.confidence, K, (w, h))])
    _same_body(body, fused)
    assert body.frame == "camera"
    assert body.vertices.shape == (estimator.models.body_model.num_vertices, 3)
    assert body.body_pose.shape == (23, 3) and body.global_orient.shape == (3,)
    # The body projects near the detected keypoints (how near depends on the preset: benchmark).
    fit = body.views["camera"]
    assert fit.error_px < 0.15 * max(w, h), fit.error_px
    assert body.to_dict()["views"]["camera"]["error_px"] == pytest.approx(fit.error_px)


def test_one_calibrated_three_view_set_matches_the_hand_wired_path(estimator):
    seq = load_or_build("humanoid3d_dance_b", num_views=3, seed=0, num_frames=6, frame_stride=4)
    t = 2
    cam_to_ref = []  # each camera's optical frame -> cam1's optical frame
    for v in range(3):
        T_world_cam = np.eye(4)
        T_world_cam[:3, :3], T_world_cam[:3, 3] = seq.R[v].T, -seq.R[v].T @ seq.t[v]
        T_ref_world = np.eye(4)
        T_ref_world[:3, :3], T_ref_world[:3, 3] = seq.R[0], seq.t[0]
        cam_to_ref.append(T_ref_world @ T_world_cam)
    views = [
        View(seq.K[v], image=seq.images[t, v], camera=seq.camera_names[v], cam_to_ref=cam_to_ref[v])
        for v in range(3)
    ]
    (body,) = estimator.estimate_views(views)
    inputs = []
    for v in range(3):
        with BlazePoseDetector(static_image_mode=True) as det:
            found = det.detect(seq.images[t, v])
        inputs.append(
            _view_input(
                seq.camera_names[v], found.xy, found.confidence, seq.K[v], seq.image_size, cam_to_ref[v]
            )
        )
    est = StreamingEstimator(estimator.models, one_shot(get_preset(PRESET)))
    (fused,) = est.process(0, inputs)
    _same_body(body, fused)
    assert set(body.views) == {"cam1", "cam2", "cam3"}
    gt = seq.joints_in_camera(0)[t]
    err = np.linalg.norm((body.joints - body.joints[:1]) - (gt - gt[:1]), axis=-1).mean()
    assert err < 0.3, err  # a body, not noise (accuracy itself is measured by the benchmark)


def test_ten_frame_stream_matches_the_streaming_estimator(estimator):
    scene = heldout_scenes(estimator.models.body_model, num_views=3, seed=3, frame_stride=2, max_frames=10)[0]
    assert scene.num_frames == 10
    names = [f"cam{v + 1}" for v in range(3)]
    stream = estimator.stream()
    core = StreamingEstimator(estimator.models, get_preset(PRESET))
    api_bodies, core_bodies = [], []
    for t in range(scene.num_frames):
        views = [
            View(
                scene.cameras.K[v].numpy(),
                keypoints=scene.keypoints2d[t, v].numpy(),
                confidence=scene.confidence[t, v].numpy(),
                image_size=tuple(int(x) for x in scene.cameras.image_size[v]),
                camera=names[v],
            )
            for v in range(3)
        ]
        api_bodies += stream.push(views, stamp_ns=t)
        inputs = [
            _view_input(names[v], scene.keypoints2d[t, v], scene.confidence[t, v], scene.cameras.K[v],
                        scene.cameras.image_size[v].tolist())
            for v in range(3)
        ]  # fmt: skip
        core_bodies += core.process(t, inputs)
    api_bodies += stream.flush()
    core_bodies += core.flush()
    assert [b.stamp_ns for b in api_bodies] == list(range(10))
    assert len(core_bodies) == len(api_bodies)
    for body, fused in zip(api_bodies, core_bodies, strict=True):
        _same_body(body, fused)
    pred = torch.as_tensor(np.stack([b.joints for b in api_bodies]))
    gt = camera_joints(scene)[:, 0]
    assert float(mpjpe(pred, gt).mean()) < 0.2


def test_readme_python_example_runs():
    """The README's "Use it from Python" block, executed as written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    bodies = namespace["bodies"]
    assert len(bodies) == 1 and bodies[0].joints.shape == (24, 3)
