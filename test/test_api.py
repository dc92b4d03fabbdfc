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


def _detect(image, limbs: bool):
    """The estimator's detection by hand: BlazePose, then (``limbs``: a calibrated set, where the
    default limb_model "auto" uses it) MoveNet's limbs."""
    from scorehmr_ros.core.limb_model import MoveNetLimbs

    with BlazePoseDetector(static_image_mode=True) as det:
        found = det.detect(image)
    if not limbs:
        return found
    limbs = MoveNetLimbs()
    try:
        found.xy, found.confidence = limbs.refine(image, found.xy, found.confidence)
    finally:
        limbs.close()
    return found


def test_one_image_matches_the_hand_wired_path(estimator):
    image = data.astronaut()  # (512, 512, 3) a real photo, upper body
    h, w = image.shape[:2]
    bodies = estimator.estimate_image(image, vertices=True)
    assert len(bodies) == 1
    body = bodies[0]
    K = intrinsics_matrix(default_focal(w, h), w, h)
    found = _detect(image, limbs=False)  # one uncalibrated view: BlazePose's landmarks
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
        found = _detect(seq.images[t, v], limbs=True)  # a calibrated set: MoveNet's limbs
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


def _two_people_views(seq, bm, offset=(1.2, 0.0, 0.0)):
    """Per frame and camera, the exact BlazePose-33 projections of the sequence's person and of a
    copy of it ``offset`` m to the side, as ``View.people`` lists (rig frame: the world)."""
    T = seq.num_frames
    rot = torch.as_tensor(seq.rotations, dtype=torch.float32)
    betas = torch.as_tensor(seq.betas, dtype=torch.float32)[None].expand(T, -1)
    kp = []
    for off in (np.zeros(3), np.asarray(offset)):
        with torch.no_grad():
            tr = torch.as_tensor(seq.transl + off, dtype=torch.float32)
            kp.append(bm.pose_keypoints(rot[:, 0], rot[:, 1:], betas, tr).numpy())
    cam_to_world = []
    for v in range(seq.num_views):
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = seq.R[v].T, -seq.R[v].T @ seq.t[v]
        cam_to_world.append(M)

    def people(t, v, who):
        out = []
        for p in who:
            c = kp[p][t] @ seq.R[v].T + seq.t[v]
            uv = c @ seq.K[v].T
            out.append((uv[:, :2] / uv[:, 2:], np.ones(33)))
        return out

    def views(t, who=(1, 0)):
        return [
            View(seq.K[v], people=people(t, v, who), image_size=seq.image_size,
                 camera=seq.camera_names[v], cam_to_ref=cam_to_world[v])
            for v in range(seq.num_views)
        ]  # fmt: skip

    return views, kp


def test_multi_person_calibrated_stream_ids_and_removal(estimator):
    """Two people in a calibrated 3-view rig: associated, born after 2 frames as b0/b1, each with its
    own body near its own ground truth; one leaves: its id is removed after the timeout, the other
    keeps its id. One-shot calls return both at once."""
    seq = load_or_build("humanoid3d_dance_b", num_views=3, seed=0, num_frames=6, frame_stride=4)
    multi = Estimator(estimator.models, PRESET, max_people=3, person_birth_frames=2, person_timeout_s=0.15)
    views, kp = _two_people_views(seq, estimator.models.body_model)
    stream = multi.stream()
    reports = []
    for t in range(6):
        who = (1, 0) if t < 3 else (1,)  # person 0 leaves after frame 2
        reports.append(stream.push_many([(int(t * 1e8), views(t, who))]))
    assert reports[0].tracked_ids == [] and reports[0].bodies == []  # tentative: not born yet
    assert reports[1].tracked_ids == ["b0", "b1"] and reports[1].people_per_set == [2]
    # Which id is which person: the body's pelvis (cam1 frame) nearest to each ground truth.
    to_cam1 = lambda X: X @ seq.R[0].T + seq.t[0]  # noqa: E731
    ids = {}
    for body in reports[2].bodies:
        d = [np.linalg.norm(body.joints[0] - to_cam1(kp[p][2][23:25].mean(0))) for p in (0, 1)]
        assert min(d) < 0.25, d
        ids[int(np.argmin(d))] = body.id
    assert sorted(ids.values()) == ["b0", "b1"]
    assert all(b.id == ids[1] for r in reports[3:] for b in r.bodies)
    assert reports[4].removed_ids == [ids[0]] or reports[5].removed_ids == [ids[0]]
    assert reports[5].tracked_ids == [ids[1]]
    one_shot = multi.estimate_views(views(0, (0, 1)))
    assert sorted(b.id for b in one_shot) == ["b0", "b1"]


@pytest.mark.parametrize("max_people", [1, 2])
@pytest.mark.parametrize("bad", ["nan_translation", "zero_rotation", "nan_K"])
def test_a_view_with_unusable_geometry_is_dropped_and_the_others_give_the_body(estimator, max_people, bad):
    """One view's extrinsics (NaN, a collapsed rotation) or intrinsics unusable: that view is
    reported dropped and the other two views still give the calibrated body (before: an SVD error
    that lost the whole set)."""
    scene = heldout_scenes(estimator.models.body_model, num_views=3, seed=5, frame_stride=3, max_frames=1)[1]
    views = []
    for v in range(3):
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = scene.cameras.R[v].numpy(), scene.cameras.t[v].numpy()
        cam_to_ref, K = np.linalg.inv(E), scene.cameras.K[v].double().numpy()
        if v == 2:
            if bad == "nan_translation":
                cam_to_ref[0, 3] = np.nan
            elif bad == "zero_rotation":
                cam_to_ref[:3, :3] = 0.0
            else:
                K[0, 0] = np.nan
        views.append(
            View(
                K,
                keypoints=scene.keypoints2d[0, v].numpy(),
                confidence=scene.confidence[0, v].numpy(),
                image_size=(640, 480),
                camera=f"cam{v + 1}",
                cam_to_ref=cam_to_ref,
                reference="world",
            )
        )
    est = estimator if max_people == 1 else Estimator(estimator.models, PRESET, max_people=2)
    report = est._one_shot_stream().push_many([(0, views)])
    reason = "bad_intrinsics" if bad == "nan_K" else "bad_extrinsics"
    assert [(c, r) for c, r, _ in report.view_drops] == [("cam3", reason)]
    (body,) = report.bodies
    assert body.frame == "world" and set(body.views) == {"cam1", "cam2"}
    assert np.linalg.norm(body.joints - scene.joints_world[0].numpy(), axis=-1).mean() < 0.3


def test_a_body_no_keypoints_explain_is_not_published(estimator):
    """One view of points on a ring visited out of order: the sample diverges (its fit is off by
    many image sizes) and the uncalibrated guard (``max_view_error_rel``) keeps it unpublished;
    with the guard off the same input gives that body. A held-out frame is still published."""
    import dataclasses

    K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    a = np.linspace(0.0, 2.0 * np.pi, 33, endpoint=False) * 7
    ring = np.stack([320 + 150 * np.cos(a), 240 + 150 * np.sin(a)], 1)
    stream = estimator._one_shot_stream()
    report = stream.push_many([(5, [View(K, keypoints=ring, confidence=np.ones(33), image_size=(640, 480))])])
    assert report.bodies == [] and report.rejected_stamps == [5]
    unguarded = Estimator(estimator.models, dataclasses.replace(estimator.config, max_view_error_rel=None))
    (body,) = unguarded.estimate_keypoints(ring, np.ones(33), K, (640, 480))
    assert body.views["camera"].error_px > 0.5 * np.linalg.norm(ring.max(0) - ring.min(0))
    scene = heldout_scenes(estimator.models.body_model, num_views=1, seed=7, frame_stride=4, max_frames=1)[0]
    size = tuple(int(x) for x in scene.cameras.image_size[0])
    kp, conf = scene.keypoints2d[0, 0].numpy(), scene.confidence[0, 0].numpy()
    assert len(estimator.estimate_keypoints(kp, conf, scene.cameras.K[0].numpy(), size)) == 1


def test_with_preset_keeps_every_other_setting(estimator):
    """``with_preset`` (the node's preset switch) changes the preset only: every keyword setting
    of the constructor, given a non-default value here, survives it."""
    import inspect

    changed = {
        "min_detection_confidence": 0.3,
        "min_tracking_confidence": 0.4,
        "max_people": 3,
        "min_person_confidence": 0.6,
        "person_tile_fraction": 0.25,
        "person_mask_others": False,
        "person_birth_frames": 5,
        "person_timeout_s": 2.5,
        "min_person_views": 3,
        "model_complexity": 0,
        "tile_fallback": False,
        "person_redetect_every": 4,
        "limb_model": "none",
        "person_track_gap_s": 0.3,
    }
    settings = [
        name
        for name in inspect.signature(Estimator.__init__).parameters
        if name not in ("self", "models", "preset", "denoiser")
    ]
    assert sorted(settings) == sorted(changed)  # a new setting must be added here (and to with_preset)
    est = Estimator(estimator.models, PRESET, **changed)
    other = est.with_preset("quality")
    assert other.preset_name == "quality"
    assert {name: getattr(other, name) for name in changed} == changed


@pytest.mark.parametrize("max_people", [1, 2])
def test_bodies_are_in_the_rig_frame_while_its_camera_sees_nobody(estimator, max_people):
    """cam_to_ref maps into cam1's optical frame (cam1's own is the identity) and no ``reference``
    is given. cam1 finds nobody in the first sets: the bodies of those sets are still in cam1's
    frame and labelled so (before: in another camera's frame until cam1 saw the person)."""
    seq = load_or_build("humanoid3d_dance_b", num_views=3, seed=0, num_frames=6, frame_stride=4)
    _, kp = _two_people_views(seq, estimator.models.body_model)
    world_to_cam1 = np.eye(4)
    world_to_cam1[:3, :3], world_to_cam1[:3, 3] = seq.R[0], seq.t[0]

    def view(t, v):
        cam_to_world = np.eye(4)
        cam_to_world[:3, :3], cam_to_world[:3, 3] = seq.R[v].T, -seq.R[v].T @ seq.t[v]
        uv = (kp[0][t] @ seq.R[v].T + seq.t[v]) @ seq.K[v].T
        seen = [(uv[:, :2] / uv[:, 2:], np.ones(33))] if (v > 0 or t >= 3) else []
        return View(seq.K[v], people=seen, image_size=seq.image_size, camera=seq.camera_names[v],
                    cam_to_ref=world_to_cam1 @ cam_to_world)  # fmt: skip

    est = Estimator(estimator.models, PRESET, max_people=max_people, person_birth_frames=1)
    stream = est.stream()
    bodies = [b for t in range(6) for b in stream.push_many([(t, [view(t, v) for v in range(3)])]).bodies]
    bodies += stream.flush()
    assert sorted({b.stamp_ns for b in bodies}) == list(range(6))
    pelvis_cam1 = kp[0][:, 23:25].mean(1) @ seq.R[0].T + seq.t[0]  # hip midpoint, cam1 frame
    for b in bodies:
        assert b.frame == "cam1", (b.stamp_ns, b.frame)
        assert np.linalg.norm(b.joints[0] - pelvis_cam1[b.stamp_ns]) < 0.25, b.stamp_ns
