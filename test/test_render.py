"""CPU mesh renderer, keypoint overlays, and MediaPipe BlazePose on a synthetic render."""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import pytest
import torch

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.camera import intrinsics, look_at, project, world_to_camera
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.viz.render import (
    BACKGROUND,
    HAIR,
    LEFT_COLOR,
    RIGHT_COLOR,
    SKIN,
    body_face_colors,
    draw_keypoints,
    render_mesh,
)

KP = {n: i for i, n in enumerate(get_layout("blazepose33").keypoint_names)}
W, H = 640, 480


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def tpose(body):
    eye3 = torch.eye(3)
    out = body(eye3[None], eye3.expand(1, 23, 3, 3))
    return out.vertices[0], body.keypoints(out, "blazepose33")[0]


def _view(points, eye, target=(0.0, 0.1, 0.0), f=500.0):
    R, t = look_at(torch.tensor([eye]), torch.tensor([target]))
    K = intrinsics(f, f, W / 2, H / 2)
    cam = world_to_camera(points[None], R, t)
    return cam[0], K[0], R, t


def _uv(points, R, t, K):
    return project(world_to_camera(points[None], R, t), K[None])[0]


def _is_background(px) -> bool:
    return bool(np.all(px == np.array(BACKGROUND, np.uint8)))


def test_render_front_person_where_joints_project(body, tpose):
    verts, kp = tpose
    vc, K, R, t = _view(verts, (0.0, 0.1, 3.0))
    img = render_mesh(vc, body.faces, K, (W, H))
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    uv = _uv(kp, R, t, K).round().long().numpy()
    skin = np.array(SKIN, np.float64)
    for name in ("left_hip", "right_hip", "left_shoulder", "nose", "left_knee", "right_elbow"):
        u, v = uv[KP[name]]
        px = img[v, u].astype(np.float64)
        assert not _is_background(img[v, u]), name
        # skin colour times a Lambert shade in [ambient, 1]: same hue, darker or equal
        ratio = px / skin
        assert 0.3 < ratio.mean() <= 1.01 and ratio.std() < 0.05, (name, px)
    pelvis = _uv(body(torch.eye(3)[None], torch.eye(3).expand(1, 23, 3, 3)).joints[0, :1], R, t, K)[0]
    assert not _is_background(img[int(pelvis[1]), int(pelvis[0])])
    for corner in ((0, 0), (H - 1, W - 1), (0, W - 1), (H - 1, 0)):
        assert _is_background(img[corner])
    # front-lit surfaces facing the camera are bright (torso centre close to full skin tone)
    u, v = ((uv[KP["left_shoulder"]] + uv[KP["right_hip"]]) / 2).round().astype(int)
    assert img[v, u].astype(float).mean() > 0.85 * skin.mean()


def test_render_silhouette_matches_projection(body, tpose):
    verts, _ = tpose
    vc, K, R, t = _view(verts, (1.5, 1.0, 2.5))
    img = render_mesh(vc, body.faces, K, (W, H), background=(0, 0, 0), color=(255, 255, 255))
    mask = img.max(-1) > 0
    uv = _uv(verts, R, t, K).numpy()
    # every painted pixel lies within the projected vertex bounding box, which is mostly covered
    ys, xs = np.nonzero(mask)
    lo, hi = uv.min(0), uv.max(0)
    assert xs.min() >= lo[0] - 2 and xs.max() <= hi[0] + 2 and ys.min() >= lo[1] - 2 and ys.max() <= hi[1] + 2
    # most projected vertices fall on painted pixels
    ui = np.clip(uv.round().astype(int), 0, [W - 1, H - 1])
    assert mask[ui[:, 1], ui[:, 0]].mean() > 0.97


def test_render_nearest_surface_wins(body, tpose):
    """Per-face colours: seen from the subject's left, the left arm hides the right arm."""
    verts, kp = tpose
    colors = np.zeros((len(body.faces), 3))
    x = verts.numpy()[body.faces].mean(1)[:, 0]
    colors[x > 0.3] = (255, 0, 0)  # left arm red
    colors[x < -0.3] = (0, 0, 255)  # right arm blue
    colors[(x >= -0.3) & (x <= 0.3)] = (0, 255, 0)
    vc, K, R, t = _view(verts, (3.0, 0.6, 0.4))
    img = render_mesh(vc, body.faces, K, (W, H), background=(0, 0, 0), color=colors)
    uv = _uv(kp, R, t, K).round().long()
    u, v = uv[KP["left_wrist"]].tolist()
    assert img[v, u, 0] > 0 and img[v, u, 1] == 0 and img[v, u, 2] == 0, img[v, u]  # left arm, in front
    u, v = uv[KP["right_wrist"]].tolist()
    assert img[v, u].any() and img[v, u, 2] == 0, img[v, u]  # hidden by the torso / left arm
    assert (img[..., 2] > 0).mean() < 0.002  # the right arm is (almost) entirely hidden
    # without culling the result is the same (painter's order handles back faces)
    img2 = render_mesh(vc, body.faces, K, (W, H), background=(0, 0, 0), color=colors, cull_backfaces=False)
    assert (img2 != img).any(-1).mean() < 0.01


def test_render_background_image_and_errors(body, tpose):
    verts, _ = tpose
    vc, K, _, _ = _view(verts, (0.0, 0.1, 3.0))
    bg = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    img = render_mesh(vc.numpy(), body.faces, K.numpy(), np.array([W, H]), background=bg)
    assert np.array_equal(img[0, 0], bg[0, 0]) and not np.array_equal(img, bg)
    assert not np.array_equal(bg, np.zeros_like(bg))  # background not modified in place
    with pytest.raises(ValueError):
        render_mesh(vc, body.faces, K, (W, H), color=np.zeros((3, 3)))
    with pytest.raises(ValueError):
        render_mesh(vc, body.faces, K, (W, H), background=bg[:100])
    # everything behind the camera: background only
    behind = vc * torch.tensor([1.0, 1.0, -1.0])
    assert _is_background(render_mesh(behind, body.faces, K, (W, H))[::10, ::10].reshape(-1, 3)[0])
    assert (render_mesh(behind, body.faces, K, (W, H)) == np.array(BACKGROUND, np.uint8)).all()


def test_render_speed(body, tpose):
    verts, _ = tpose
    vc, K, _, _ = _view(verts, (0.5, 0.5, 2.5), f=900)
    colors = body_face_colors(body, hair=HAIR)
    render_mesh(vc, body.faces, K, (W, H), color=colors)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        render_mesh(vc, body.faces, K, (W, H), color=colors)
        times.append(time.perf_counter() - t0)
    # budget 150 ms for ~7k faces at 640x480 (measured ~8-12 ms on a shared 2-core CPU)
    assert min(times) < 0.15, times


def test_body_face_colors(body):
    cols = body_face_colors(body, hair=HAIR)
    assert cols.shape == (len(body.faces), 3)
    assert cols.min() >= 0 and cols.max() <= 255
    assert len(np.unique(cols, axis=0)) >= 4


def test_draw_keypoints(tpose, body):
    verts, kp = tpose
    _, K, R, t = _view(verts, (0.0, 0.1, 3.0))
    uv = _uv(kp, R, t, K)
    img = np.full((H, W, 3), 255, np.uint8)
    conf = torch.ones(33)
    conf[KP["right_knee"]] = 0.0
    out = draw_keypoints(img, uv, conf, "blazepose33")
    assert np.array_equal(img, np.full((H, W, 3), 255, np.uint8))  # copy by default
    u, v = uv[KP["left_knee"]].round().long().tolist()
    assert tuple(out[v, u]) == LEFT_COLOR
    u, v = uv[KP["right_elbow"]].round().long().tolist()
    assert tuple(out[v, u]) == RIGHT_COLOR
    u, v = uv[KP["right_knee"]].round().long().tolist()
    assert tuple(out[v, u]) == (255, 255, 255)  # zero confidence: not drawn
    # other layouts and a single colour
    out = draw_keypoints(img, uv[:25], None, "openpose_body25", color=(1, 2, 3))
    assert (out == np.array([1, 2, 3], np.uint8)).all(-1).any()


def test_mediapipe_finds_front_render(body):
    mp = pytest.importorskip("mediapipe")
    eye3 = torch.eye(3)
    # a relaxed pose: arms lowered 60 degrees from the T-pose
    pose = eye3.expand(1, 23, 3, 3).clone()
    ang = np.radians(60.0)
    c, s = float(np.cos(ang)), float(np.sin(ang))
    rz = lambda a: torch.tensor([[c, -a * s, 0.0], [a * s, c, 0.0], [0.0, 0.0, 1.0]])  # noqa: E731
    pose[0, 16 - 1] = rz(-1.0)  # left shoulder (joint 16): arm along +x, rotate down
    pose[0, 17 - 1] = rz(1.0)  # right shoulder
    out = body(eye3[None], pose)
    kp = body.keypoints(out, "blazepose33")[0]
    vc, K, R, t = _view(out.vertices[0], (0.0, 0.3, 3.2), target=(0.0, -0.1, 0.0), f=550)
    img = render_mesh(vc, body.faces, K, (W, H), color=body_face_colors(body, hair=HAIR))
    gt = _uv(kp, R, t, K).numpy()
    assert gt[KP["left_wrist"], 1] > gt[KP["left_shoulder"], 1] + 50  # arms really lowered
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        detector = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    try:
        res = detector.process(img)
    finally:
        detector.close()
    assert res.pose_landmarks is not None
    lm = np.array([[p.x * W, p.y * H] for p in res.pose_landmarks.landmark])
    err = np.linalg.norm(lm - gt, axis=1)
    body_ids = [KP[n] for n in KP if n.endswith(("shoulder", "elbow", "wrist", "hip", "knee", "ankle"))]
    height = np.ptp(gt[:, 1])
    assert np.median(err) < 0.04 * height, err
    assert err[body_ids].max() < 0.12 * height, err[body_ids]
    # left is the subject's left (image right in a front view), as in MediaPipe
    assert lm[KP["left_shoulder"], 0] > lm[KP["right_shoulder"], 0]


def test_overlay_skeleton_connects_named_body_parts():
    """The overlay's BlazePose connections join the parts their names say, colour by side."""
    from scorehmr_ros.core.keypoints import get_layout
    from scorehmr_ros.ros.overlays import BLAZEPOSE_EDGES, CENTRE, LEFT, RIGHT, _side

    names = get_layout("blazepose33").keypoint_names
    edges = {frozenset((names[a], names[b])) for a, b in BLAZEPOSE_EDGES}
    assert len(edges) == len(BLAZEPOSE_EDGES) == 35
    for side in ("left", "right"):
        for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
            assert frozenset((f"{side}_{a}", f"{side}_{b}")) in edges
    assert frozenset(("left_knee", "right_knee")) not in edges
    assert _side(names.index("left_wrist")) == LEFT
    assert _side(names.index("right_ankle")) == RIGHT
    assert _side(names.index("nose")) == CENTRE
