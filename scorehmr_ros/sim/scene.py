"""Synthetic multi-camera scenes: one SMPL body driven by a mocap clip, seen by a random rig.

Conventions: world = SMPL's (y up, metres); cameras are ROS optical frames (``core.camera``:
``X_cam = R @ X_world + t``, x right, y down, z forward). Keypoints use the ``blazepose33`` layout.

Contents
--------
* :class:`KeypointCorruption` / :data:`CLEAN` / :func:`corrupt_keypoints`: detector-like noise on
  projected keypoints (Gaussian pixel noise, outliers, dropped keypoints, low confidence on
  self-occluded keypoints, confidence 0 outside the image or behind the camera).
* :func:`random_cameras`: a random rig around a target (2-6 m, consecutive azimuths 40-90 deg apart).
* :func:`self_occlusion`: cheap self-occlusion test of keypoints against the body's vertices.
* :class:`Scene` / :func:`make_scene`: ground truth for every frame + noisy 2D keypoints per view.
* :func:`scene_views`: per-view camera-frame ground truth of one frame (for a per-view regressor).
* :func:`scene_vertices`: the posed vertices of a scene (not stored in the scene to keep it small).

This module never imports ROS.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from scorehmr_ros.core.camera import PinholeCameras, intrinsics, look_at, project, world_to_camera

KEYPOINT_LAYOUT = "blazepose33"
NUM_BODY_JOINTS = 24
MIN_DEPTH = 0.05  # metres: keypoints closer to (or behind) the camera plane are "not visible"


# --------------------------------------------------------------------------------------------
# Keypoint corruption
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeypointCorruption:
    """Detector-like corruption of projected keypoints (see :func:`corrupt_keypoints`).

    Attributes:
        pixel_noise_std: Gaussian pixel noise (per coordinate) on visible keypoints.
        outlier_prob: probability that a keypoint is replaced by a random point within
            ``outlier_radius`` px of its true position; its confidence stays fairly high
            (uniform in [0.5, 0.9] minus confidence noise).
        missing_prob: probability that a keypoint is dropped (confidence 0, position kept noisy).
        occluded_conf: mean confidence of self-occluded keypoints (whose position noise is doubled).
        conf_noise: std of the Gaussian confidence noise (visible keypoints get ``1 - |n|``).
        outlier_radius: radius (px) of the outlier disc.
        swap_prob: probability that a whole keypoint set has its left and right labels swapped
            (positions and confidences exchanged between mirrored keypoints, as a detector that
            takes a back view for a front view does).
        lower_body_drop_prob: probability that a whole set loses hips, legs and feet (confidence
            0: out of frame, or hidden by furniture).
    The last two need the keypoint layout (:func:`corrupt_keypoints` ``layout``) and draw their
    random numbers only when non-zero, so the other settings keep their random sequences.
    """

    pixel_noise_std: float = 3.0
    outlier_prob: float = 0.03
    missing_prob: float = 0.05
    occluded_conf: float = 0.3
    conf_noise: float = 0.1
    outlier_radius: float = 150.0
    swap_prob: float = 0.0
    lower_body_drop_prob: float = 0.0


# No corruption at all: exact projections, confidence 1 inside the image (0 outside / behind).
CLEAN = KeypointCorruption(0.0, 0.0, 0.0, 1.0, 0.0)
# A poor detector on hard footage: heavy noise, many outliers and missing keypoints, whole-set
# left/right swaps and lower bodies out of frame (the "hard" setting of scorehmr-bench accuracy).
HARD = KeypointCorruption(
    pixel_noise_std=10.0,
    outlier_prob=0.15,
    missing_prob=0.25,
    occluded_conf=0.3,
    conf_noise=0.15,
    outlier_radius=150.0,
    swap_prob=0.1,
    lower_body_drop_prob=0.15,
)
# The heavy end of the regressor's training corruption (``scripts/train_regressor.py --corruption
# realistic``): each chunk of a training batch is corrupted at a random level between the default
# (mild) detector and this one (:func:`interpolate_corruption`). A little heavier than ``HARD`` so
# that the evaluation setting lies inside the training range, not at its edge.
HEAVY_TRAINING = KeypointCorruption(
    pixel_noise_std=12.0,
    outlier_prob=0.18,
    missing_prob=0.3,
    occluded_conf=0.3,
    conf_noise=0.15,
    outlier_radius=150.0,
    swap_prob=0.12,
    lower_body_drop_prob=0.2,
)


def interpolate_corruption(a: KeypointCorruption, b: KeypointCorruption, level: float) -> KeypointCorruption:
    """The corruption ``level`` of the way from ``a`` (0) to ``b`` (1), field by field."""
    names = [f.name for f in dataclasses.fields(KeypointCorruption)]
    return KeypointCorruption(**{n: (1.0 - level) * getattr(a, n) + level * getattr(b, n) for n in names})


LOWER_BODY_PREFIXES = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                       "left_heel", "right_heel", "left_foot", "right_foot")  # fmt: skip


def corrupt_keypoints(
    uv: torch.Tensor,
    depth: torch.Tensor,
    image_size: torch.Tensor,
    generator: torch.Generator | None,
    cfg: KeypointCorruption = KeypointCorruption(),
    occluded: torch.Tensor | None = None,
    layout: str = "blazepose33",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Detector-like noisy keypoints and confidences.

    Args:
        uv: ``(B, K, 2)`` exact projections (pixels).
        depth: ``(B, K)`` camera-frame depth (z) of the keypoints (metres).
        image_size: ``(B, 2)`` or ``(2,)`` (width, height) of each keypoint set's image.
        generator: torch generator (``None`` = global RNG).
        cfg: corruption parameters.
        occluded: ``(B, K)`` bool self-occlusion flags (``None`` = nothing occluded).
        layout: keypoint layout of the K keypoints (left/right pairs, lower body), used by
            ``swap_prob`` and ``lower_body_drop_prob`` only.
    Returns:
        ``(uv_noisy (B, K, 2), confidence (B, K))``, confidence in [0, 1]. Keypoints whose exact
        projection lies outside the image, or with depth < ``MIN_DEPTH``, get confidence 0;
        dropped (missing) keypoints too. Positions are always finite.
    """
    B, K, _ = uv.shape
    dt, dev = uv.dtype, uv.device
    size = torch.as_tensor(image_size, dtype=dt, device=dev).reshape(-1, 2).expand(B, 2)
    if occluded is None:
        occluded = torch.zeros(B, K, dtype=torch.bool, device=dev)
    occluded = occluded.to(torch.bool)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=dt, device=dev)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=dt, device=dev)

    # Draw every random stream unconditionally so that results do not depend on cfg branches.
    n_pix, n_conf = randn(B, K, 2), randn(B, K)
    u_outlier, u_missing = rand(B, K), rand(B, K)
    out_r, out_a, out_c = rand(B, K), rand(B, K), rand(B, K)

    std = cfg.pixel_noise_std * torch.where(occluded, 2.0, 1.0).to(dt)
    noisy = uv + n_pix * std.unsqueeze(-1)
    conf = torch.where(
        occluded,
        (cfg.occluded_conf + cfg.conf_noise * n_conf).clamp(0.05, 1.0),
        (1.0 - (cfg.conf_noise * n_conf).abs()).clamp(0.0, 1.0),
    )

    is_outlier = u_outlier < cfg.outlier_prob
    radius = cfg.outlier_radius * out_r.sqrt()  # uniform in the disc
    angle = 2.0 * math.pi * out_a
    offset = torch.stack([radius * angle.cos(), radius * angle.sin()], -1)
    noisy = torch.where(is_outlier.unsqueeze(-1), uv + offset, noisy)
    out_conf = (0.5 + 0.4 * out_c - (cfg.conf_noise * n_conf).abs()).clamp(0.05, 1.0)
    conf = torch.where(is_outlier, out_conf, conf)

    missing = u_missing < cfg.missing_prob
    inside = (
        (uv[..., 0] >= 0)
        & (uv[..., 1] >= 0)
        & (uv[..., 0] < size[:, None, 0])
        & (uv[..., 1] < size[:, None, 1])
        & (depth >= MIN_DEPTH)
    )
    conf = torch.where(missing | ~inside, torch.zeros_like(conf), conf)
    if cfg.swap_prob > 0 or cfg.lower_body_drop_prob > 0:
        from scorehmr_ros.core.keypoints import get_layout

        lay = get_layout(layout)
        if len(lay.keypoint_names) != K:
            raise ValueError(f"layout {layout} has {len(lay.keypoint_names)} keypoints, got {K}")
        u_swap, u_lower = rand(B), rand(B)
        swapped = (u_swap < cfg.swap_prob)[:, None]
        perm = torch.as_tensor(lay.flip_permutation, device=dev)
        noisy = torch.where(swapped.unsqueeze(-1), noisy[:, perm], noisy)
        conf = torch.where(swapped, conf[:, perm], conf)
        lower = torch.tensor([n.startswith(LOWER_BODY_PREFIXES) for n in lay.keypoint_names], device=dev)
        dropped = (u_lower < cfg.lower_body_drop_prob)[:, None] & lower[None]
        conf = torch.where(dropped, torch.zeros_like(conf), conf)
    return noisy, conf


# --------------------------------------------------------------------------------------------
# Cameras
# --------------------------------------------------------------------------------------------
def _uniform(generator, lo: float, hi: float, n: int = 1) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def random_cameras(
    num_views: int,
    generator: torch.Generator | None = None,
    target=(0.0, 0.9, 0.0),
    *,
    image_size: tuple[int, int] = (640, 480),
    distance_range: tuple[float, float] = (2.0, 6.0),
    height_range: tuple[float, float] = (0.5, 2.5),
    focal_range: tuple[float, float] = (500.0, 1500.0),
    azimuth_step_deg: tuple[float, float] = (40.0, 90.0),
    principal_jitter: float = 0.02,
    subject_extent: float | tuple[float, float] | None = (1.2, 2.1),
    fill: float = 0.9,
    framing: float = 0.6,
) -> PinholeCameras:
    """A random rig of ``num_views`` optical cameras looking at ``target`` (world, y up).

    Each camera sits at a 3D distance in ``distance_range`` from ``target`` and at a world height in
    ``height_range``; the first azimuth (about the world y axis) is uniform, each next camera is
    ``azimuth_step_deg`` further (uniform, same turning direction). Focal length (fx = fy) is
    uniform in ``focal_range``; principal point = image centre +- ``principal_jitter`` x size.

    ``subject_extent`` (metres, ``None`` = ignore): ``(horizontal, vertical)`` size of what must fit
    in the image (a float = the same both ways), e.g. the horizontal diameter of the motion and the
    body's height. The focal length is capped at ``f_max`` so that the subject covers at most
    ``fill`` of the image width / height at the camera's distance, and is drawn uniformly in
    ``[max(f_lo, framing * f_max), f_max]`` (a rig frames its subject: the person is neither tiny
    nor cut off). The distance is drawn from above the minimum that lets the smallest focal length
    fit the subject.

    Returns:
        ``PinholeCameras`` with ``V = num_views`` cameras (float32).
    """
    w, h = image_size
    target_t = torch.as_tensor(target, dtype=torch.float64).reshape(3)
    d_lo, d_hi = distance_range
    f_lo, f_hi = focal_range
    px_per_m = None  # focal / distance that makes the subject fill the image
    if subject_extent is not None:
        ext = torch.as_tensor(subject_extent, dtype=torch.float64).reshape(-1).expand(2)
        px_per_m = fill * min(w / float(ext[0]), h / float(ext[1]))
        d_lo = min(max(d_lo, f_lo / px_per_m), d_hi)
    az0 = _uniform(generator, 0.0, 2.0 * math.pi)
    steps = _uniform(
        generator, math.radians(azimuth_step_deg[0]), math.radians(azimuth_step_deg[1]), num_views
    )
    steps[0] = 0.0
    azimuth = az0 + torch.cumsum(steps, 0)
    dist = _uniform(generator, d_lo, d_hi, num_views)
    height = _uniform(generator, *height_range, num_views)
    dy = height - target_t[1]
    # Keep the 3D distance in range: the height offset cannot exceed the distance.
    dy = torch.maximum(torch.minimum(dy, 0.95 * dist), -0.95 * dist)
    radius = (dist**2 - dy**2).clamp(min=1e-6).sqrt()
    eye = torch.stack(
        [target_t[0] + radius * azimuth.sin(), target_t[1] + dy, target_t[2] + radius * azimuth.cos()], -1
    )
    f_max = torch.full((num_views,), f_hi, dtype=torch.float64)
    f_min = torch.full((num_views,), f_lo, dtype=torch.float64)
    if px_per_m is not None:
        f_max = torch.minimum(f_max, px_per_m * dist).clamp(min=f_lo)
        f_min = torch.maximum(f_min, framing * f_max)
    u = torch.rand(num_views, generator=generator, dtype=torch.float64)
    focal = f_min + (f_max - f_min) * u
    jit = (torch.rand(num_views, 2, generator=generator, dtype=torch.float64) * 2 - 1) * principal_jitter
    cx, cy = w / 2 + jit[:, 0] * w, h / 2 + jit[:, 1] * h
    R, t = look_at(eye.float(), target_t.float().expand(num_views, 3))
    K = intrinsics(focal.float(), focal.float(), cx.float(), cy.float())
    size = torch.tensor([[float(w), float(h)]]).expand(num_views, 2).clone()
    return PinholeCameras(K=K, R=R, t=t, image_size=size)


# --------------------------------------------------------------------------------------------
# Self-occlusion
# --------------------------------------------------------------------------------------------
def self_occlusion(
    keypoints_cam: torch.Tensor,
    vertices_cam: torch.Tensor | None,
    *,
    radius: float = 0.03,
    depth_margin: float = 0.12,
    chunk: int = 64,
) -> torch.Tensor:
    """Cheap self-occlusion flags of keypoints, in the camera frame.

    A keypoint ``k`` (depth ``z_k``) is occluded when some occluder point ``p`` lies near its line of
    sight and clearly in front of it: the lateral distance between ``p``'s ray and ``k``, measured
    in the keypoint's depth plane (``|p_xy / p_z - k_xy / z_k| * z_k``), is below ``radius`` metres
    and ``p_z < z_k - depth_margin``. Occluders are the mesh vertices (or, with
    ``vertices_cam=None``, the other keypoints, a coarser test). Joints lie inside the body, up to
    ~10 cm below the skin, so ``depth_margin`` (12 cm) keeps a keypoint's own surface from hiding
    it; the price is that thin occluders (a forearm just in front of the torso) are missed and a
    keypoint right behind a thick body part (the far hip seen from the side) is caught.

    Args:
        keypoints_cam: ``(B, K, 3)`` camera-frame keypoints.
        vertices_cam: ``(B, V, 3)`` camera-frame vertices or ``None``.
    Returns:
        ``(B, K)`` bool.
    """
    occ = keypoints_cam if vertices_cam is None else vertices_cam
    out = torch.zeros(keypoints_cam.shape[:2], dtype=torch.bool, device=keypoints_cam.device)
    for s in range(0, keypoints_cam.shape[0], chunk):
        kp, pts = keypoints_cam[s : s + chunk], occ[s : s + chunk]
        kz = kp[..., 2].clamp(min=1e-3)
        pz = pts[..., 2].clamp(min=1e-3)
        k_n = kp[..., :2] / kz.unsqueeze(-1)  # (b, K, 2) normalised image coordinates
        p_n = pts[..., :2] / pz.unsqueeze(-1)  # (b, P, 2)
        lateral = torch.cdist(k_n, p_n) * kz.unsqueeze(-1)  # (b, K, P) metres at keypoint depth
        closer = pz.unsqueeze(1) < (kz.unsqueeze(-1) - depth_margin)
        out[s : s + chunk] = ((lateral < radius) & closer & (pz.unsqueeze(1) > MIN_DEPTH)).any(-1)
    return out


# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------
@dataclass
class Scene:
    """One person, one multi-camera rig, ``T`` frames; ground truth for every frame.

    Attributes:
        clip_name, fps: source clip.
        rotations: ``(T, 24, 3, 3)`` local joint rotations (pelvis = global orientation, world).
        betas: ``(10,)`` shape.
        transl: ``(T, 3)`` smplx ``transl`` in the world frame.
        joints_world: ``(T, 24, 3)`` SMPL joints; keypoints3d_world: ``(T, 33, 3)`` blazepose33.
        cameras: ``V`` cameras (``PinholeCameras``).
        keypoints2d: ``(T, V, 33, 2)`` corrupted detections; confidence: ``(T, V, 33)`` in [0, 1].
        keypoints2d_clean: ``(T, V, 33, 2)`` exact projections of ``keypoints3d_world``.
        occluded: ``(T, V, 33)`` bool self-occlusion flags used by the corruption (or ``None``).
        rest_pelvis: ``(3,)`` pelvis joint of the rest pose with ``betas`` and zero ``transl``
            (pelvis world position = ``transl + rest_pelvis``).
        frame_interval_s: seconds between consecutive frames of the scene (the clip's frame
            interval times the frame stride; None when unknown).
    """

    clip_name: str
    fps: float
    rotations: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    joints_world: torch.Tensor
    keypoints3d_world: torch.Tensor
    cameras: PinholeCameras
    keypoints2d: torch.Tensor
    confidence: torch.Tensor
    keypoints2d_clean: torch.Tensor
    occluded: torch.Tensor | None = None
    rest_pelvis: torch.Tensor | None = None
    frame_interval_s: float | None = None

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def num_views(self) -> int:
        return len(self.cameras)


def rest_pelvis(body_model, betas: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` pelvis joint of the rest pose for ``betas (B, 10)`` (zero ``transl``)."""
    B = betas.shape[0]
    eye = torch.eye(3, dtype=betas.dtype, device=betas.device)
    return body_model.skeleton(eye.expand(B, 3, 3), eye.expand(B, 23, 3, 3), betas)[:, 0]


def _project_views(points_world: torch.Tensor, cameras: PinholeCameras):
    """(T, K, 3) world points -> (T, V, K, 3) camera points and (T, V, K, 2) pixels."""
    T, K, _ = points_world.shape
    V = len(cameras)
    pts = points_world.reshape(1, T * K, 3).expand(V, T * K, 3)
    cam = world_to_camera(pts, cameras.R, cameras.t)  # (V, T*K, 3)
    uv = project(cam, cameras.K)
    return cam.reshape(V, T, K, 3).transpose(0, 1), uv.reshape(V, T, K, 2).transpose(0, 1)


def make_scene(
    body_model,
    clip,
    num_views: int,
    seed: int,
    frames: slice | None = None,
    corruption: KeypointCorruption = KeypointCorruption(),
    betas_std: float = 1.0,
    *,
    occlusion: bool = True,
    camera_kwargs: dict | None = None,
    rig=None,
) -> Scene:
    """A scene of ``clip`` (``sim.mocap.Clip``) seen by ``num_views`` random cameras.

    The pelvis follows the clip's path, re-centred so that the first frame's pelvis is at x = z = 0
    (height kept). Betas ~ N(0, betas_std^2) clipped to +-2.5. The cameras (:func:`random_cameras`,
    extra arguments in ``camera_kwargs``) look at the mean of all joints over the sequence, with
    ``subject_extent`` = (horizontal diagonal, height) of the joints' bounding box over the
    sequence, each plus 0.5 m (head top, hands, feet, margin).
    Self-occlusion (:func:`self_occlusion` against the mesh vertices) drives the low-confidence
    corruption when ``occlusion`` is true. Everything is reproducible from ``seed``.
    ``rig``: the camera generator (default :func:`random_cameras`; e.g. ``sim.rigs.unusual_rig``),
    called as ``rig(num_views, generator, target, **kwargs)``.
    """
    gen = torch.Generator().manual_seed(int(seed))
    frames = slice(None) if frames is None else frames
    dev = body_model.layer.v_template.device
    rotations = clip.rotations[frames].to(dev, torch.float32)
    pelvis = clip.root_translation[frames].to(dev, torch.float32).clone()
    T = rotations.shape[0]
    if T == 0:
        raise ValueError(f"empty frame selection {frames} of clip {clip.name}")
    pelvis[:, [0, 2]] -= pelvis[0, [0, 2]].clone()

    betas = (torch.randn(body_model.num_betas, generator=gen) * betas_std).clamp(-2.5, 2.5).to(dev)
    rp = rest_pelvis(body_model, betas[None])[0]
    transl = pelvis - rp
    with torch.no_grad():
        out = body_model(rotations[:, 0], rotations[:, 1:], betas.expand(T, -1), transl)
        joints = out.joints[:, :NUM_BODY_JOINTS]
        kp3d = body_model.keypoints(out, KEYPOINT_LAYOUT)
        verts = out.vertices

    lo, hi = joints.reshape(-1, 3).min(0).values, joints.reshape(-1, 3).max(0).values
    span = hi - lo
    extent = (float(span[[0, 2]].norm()) + 0.5, float(span[1]) + 0.5)
    kwargs = {"subject_extent": extent}
    kwargs.update(camera_kwargs or {})
    target = joints.reshape(-1, 3).mean(0)
    cameras = (rig or random_cameras)(num_views, gen, tuple(target.tolist()), **kwargs)
    cameras = PinholeCameras(*(x.to(dev) for x in (cameras.K, cameras.R, cameras.t, cameras.image_size)))

    kp_cam, uv = _project_views(kp3d, cameras)  # (T, V, 33, 3), (T, V, 33, 2)
    K = kp3d.shape[1]
    occluded = None
    if occlusion:
        occluded = torch.zeros(T, num_views, K, dtype=torch.bool, device=dev)
        for v in range(num_views):
            v_cam = world_to_camera(verts, cameras.R[v : v + 1], cameras.t[v : v + 1])
            occluded[:, v] = self_occlusion(kp_cam[:, v], v_cam)
    size = cameras.image_size.unsqueeze(0).expand(T, num_views, 2).reshape(T * num_views, 2)
    noisy, conf = corrupt_keypoints(
        uv.reshape(T * num_views, K, 2),
        kp_cam[..., 2].reshape(T * num_views, K),
        size,
        gen,
        corruption,
        None if occluded is None else occluded.reshape(T * num_views, K),
    )
    return Scene(
        clip_name=clip.name,
        fps=float(clip.fps),
        rotations=rotations,
        betas=betas,
        transl=transl,
        joints_world=joints,
        keypoints3d_world=kp3d,
        cameras=cameras,
        keypoints2d=noisy.reshape(T, num_views, K, 2),
        confidence=conf.reshape(T, num_views, K),
        keypoints2d_clean=uv,
        occluded=occluded,
        rest_pelvis=rp,
        frame_interval_s=((frames.step or 1) if frames is not None else 1) / float(clip.fps),
    )


def scene_vertices(body_model, scene: Scene, frames=None) -> torch.Tensor:
    """``(T', V, 3)`` world-frame vertices of ``scene`` (all frames, or ``frames`` index/slice)."""
    sel = slice(None) if frames is None else frames
    rot = scene.rotations[sel]
    transl = scene.transl[sel]
    if rot.dim() == 3:
        rot, transl = rot[None], transl[None]
    with torch.no_grad():
        out = body_model(rot[:, 0], rot[:, 1:], scene.betas.expand(rot.shape[0], -1), transl)
    return out.vertices


def scene_views(scene: Scene, t: int) -> dict[str, torch.Tensor]:
    """Per-view camera-frame ground truth of frame ``t`` (``V`` views).

    Returns a dict of:
        ``global_orient_cam (V, 3, 3)``: ``R_cam @ R_global`` (body orientation in each camera);
        ``body_pose (V, 23, 3, 3)``: local rotations (view independent, repeated);
        ``betas (V, 10)``;
        ``pelvis_cam (V, 3)``: pelvis joint in each camera frame;
        ``transl_cam (V, 3)``: smplx ``transl`` that places the body (posed with
        ``global_orient_cam``) in each camera frame: ``R_cam (transl + p0) + t_cam - p0`` with
        ``p0 = scene.rest_pelvis``;
        ``keypoints2d``, ``confidence``, ``keypoints2d_clean``: ``(V, 33, 2)`` / ``(V, 33)``;
        ``keypoints3d_cam (V, 33, 3)``, ``joints_cam (V, 24, 3)``;
        ``K (V, 3, 3)``, ``image_size (V, 2)``.
    """
    cams = scene.cameras
    V = len(cams)
    R_glob = scene.rotations[t, 0]
    p0 = scene.rest_pelvis if scene.rest_pelvis is not None else torch.zeros(3)
    pelvis_world = scene.transl[t] + p0
    pelvis_cam = (cams.R @ pelvis_world) + cams.t
    kp_cam = world_to_camera(scene.keypoints3d_world[t].expand(V, -1, -1), cams.R, cams.t)
    j_cam = world_to_camera(scene.joints_world[t].expand(V, -1, -1), cams.R, cams.t)
    return {
        "global_orient_cam": cams.R @ R_glob,
        "body_pose": scene.rotations[t, 1:].expand(V, -1, -1, -1),
        "betas": scene.betas.expand(V, -1),
        "pelvis_cam": pelvis_cam,
        "transl_cam": pelvis_cam - p0,
        "keypoints2d": scene.keypoints2d[t],
        "confidence": scene.confidence[t],
        "keypoints2d_clean": scene.keypoints2d_clean[t],
        "keypoints3d_cam": kp_cam,
        "joints_cam": j_cam,
        "K": cams.K,
        "image_size": cams.image_size,
    }
