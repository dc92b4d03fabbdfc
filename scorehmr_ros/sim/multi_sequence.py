"""Rendered scenes with several people (held-out clips), for multi-person tests and measurements.

:func:`build_multi_sequence` places ``P`` people, each performing a held-out clip
(:data:`scorehmr_ros.sim.mocap.HELDOUT_CLIPS` by default, one clip per person, cycling) with its
own random shape, side by side ``spacing`` m apart along the world x axis (each clip's path is
re-centred as in :func:`scorehmr_ros.sim.scene.make_scene`, so close neighbours occlude each other
in the side cameras), and renders them together (one mesh, painter's algorithm: nearer people hide
farther ones) by ``V`` random cameras that frame the whole group. With ``solo=True`` every person is
also rendered alone by the same cameras, for "the same person rendered alone" comparisons.

The single-person modules (:mod:`scorehmr_ros.sim.sequence`, :mod:`scorehmr_ros.sim.scene`) are
used as they are; nothing here changes their behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class PersonTrack:
    """One person of a multi-person sequence: clip, joints_world (T, 24, 3), rotations
    (T, 24, 3, 3), betas (10,), transl (T, 3) (world frame, metres)."""

    clip_name: str
    joints_world: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    transl: np.ndarray


@dataclass
class MultiSequence:
    """``T`` frames of ``P`` people seen by ``V`` cameras.

    images (T, V, H, W, 3) uint8 with everybody; solo_images (P, T, V, H, W, 3) each person alone
    (None unless asked for); K (V, 3, 3); R (V, 3, 3), t (V, 3) world -> camera; people: P tracks.
    """

    images: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]
    fps: float
    camera_names: list[str]
    people: list[PersonTrack] = field(default_factory=list)
    solo_images: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.images.shape[1])

    def cam_to_ref(self, view: int, ref: int = 0) -> np.ndarray:
        """(4, 4) transform from camera ``view``'s optical frame to camera ``ref``'s."""
        T_world_cam = np.eye(4)
        T_world_cam[:3, :3], T_world_cam[:3, 3] = self.R[view].T, -self.R[view].T @ self.t[view]
        T_ref_world = np.eye(4)
        T_ref_world[:3, :3], T_ref_world[:3, 3] = self.R[ref], self.t[ref]
        return T_ref_world @ T_world_cam

    def joints_in_camera(self, person: int, view: int) -> np.ndarray:
        """(T, 24, 3) ground-truth joints of ``person`` in camera ``view``'s optical frame."""
        return self.people[person].joints_world @ self.R[view].T + self.t[view]


def clips_with(first: str, clips=None) -> tuple[str, ...]:
    """``first``, then the other held-out clips longest first (so a looped replay of several
    people does not restart every fraction of a second with the shortest clip)."""
    from scorehmr_ros.sim.mocap import HELDOUT_CLIPS, load_mocap

    clips = load_mocap() if clips is None else clips
    seconds = {c: clips[c].num_frames / clips[c].fps for c in HELDOUT_CLIPS}
    others = sorted((c for c in HELDOUT_CLIPS if c != first), key=lambda c: -seconds[c])
    return (first, *others)


def build_multi_sequence(
    num_people: int = 2,
    num_views: int = 3,
    seed: int = 0,
    num_frames: int | None = 12,
    frame_stride: int = 2,
    image_size: tuple[int, int] = (640, 480),
    *,
    clip_names: tuple[str, ...] | None = None,
    spacing: float = 1.0,
    solo: bool = False,
    body_model=None,
    clips=None,
) -> MultiSequence:
    """Render ``num_people`` people side by side (see the module docstring); reproducible from ``seed``."""
    from scorehmr_ros.core.body_model import load_body_model
    from scorehmr_ros.core.camera import world_to_camera
    from scorehmr_ros.sim.mocap import HELDOUT_CLIPS, load_mocap
    from scorehmr_ros.sim.scene import CLEAN, make_scene, random_cameras, scene_vertices
    from scorehmr_ros.sim.sequence import _frame_slice
    from scorehmr_ros.viz.render import HAIR, body_face_colors, render_mesh

    body_model = load_body_model() if body_model is None else body_model
    clips = load_mocap() if clips is None else clips
    names = clip_names or HELDOUT_CLIPS
    w, h = (int(v) for v in image_size)
    scenes, verts = [], []
    for p in range(num_people):
        clip = clips[names[p % len(names)]]
        frames = _frame_slice(clip.num_frames, num_frames, frame_stride)
        scene = make_scene(
            body_model, clip, 1, seed * 101 + p, frames=frames, corruption=CLEAN, occlusion=False
        )
        offset = torch.tensor([(p - (num_people - 1) / 2) * spacing, 0.0, 0.0])
        scene.transl = scene.transl + offset
        scene.joints_world = scene.joints_world + offset
        scenes.append(scene)
    T = min(s.num_frames for s in scenes)
    for s in scenes:
        verts.append(scene_vertices(body_model, s)[:T])  # (T, N, 3)
    joints = torch.cat([s.joints_world[:T].reshape(-1, 3) for s in scenes])
    lo, hi = joints.min(0).values, joints.max(0).values
    span = hi - lo
    gen = torch.Generator().manual_seed(int(seed))
    cams = random_cameras(
        num_views,
        gen,
        tuple(joints.mean(0).tolist()),
        image_size=(w, h),
        distance_range=(3.0, 8.0),
        subject_extent=(float(span[[0, 2]].norm()) + 0.5, float(span[1]) + 0.5),
    )
    colors = body_face_colors(body_model, hair=HAIR)
    faces = np.asarray(body_model.faces, np.int64)
    nv = verts[0].shape[1]
    all_faces = np.concatenate([faces + p * nv for p in range(num_people)])
    all_colors = np.concatenate([np.asarray(colors)] * num_people) if np.ndim(colors) == 2 else colors
    images = np.empty((T, num_views, h, w, 3), np.uint8)
    solo_images = np.empty((num_people, T, num_views, h, w, 3), np.uint8) if solo else None
    with torch.no_grad():
        for i in range(T):
            everyone = torch.cat([v[i] for v in verts])  # (P * N, 3)
            for v in range(num_views):
                R, tv = cams.R[v : v + 1], cams.t[v : v + 1]
                cam_verts = world_to_camera(everyone[None], R, tv)[0]
                images[i, v] = render_mesh(cam_verts, all_faces, cams.K[v], (w, h), color=all_colors)
                if solo:
                    for p in range(num_people):
                        own = cam_verts[p * nv : (p + 1) * nv]
                        solo_images[p, i, v] = render_mesh(own, faces, cams.K[v], (w, h), color=colors)

    def np64(x) -> np.ndarray:
        return torch.as_tensor(x).detach().cpu().numpy().astype(np.float64)

    people = [
        PersonTrack(
            s.clip_name, np64(s.joints_world[:T]), np64(s.rotations[:T]), np64(s.betas), np64(s.transl[:T])
        )
        for s in scenes
    ]
    return MultiSequence(
        images=images,
        K=np64(cams.K),
        R=np64(cams.R),
        t=np64(cams.t),
        image_size=(w, h),
        fps=float(scenes[0].fps) / frame_stride,
        camera_names=[f"cam{v + 1}" for v in range(num_views)],
        people=people,
        solo_images=solo_images,
    )


def projected_landmarks(seq: MultiSequence, body_model) -> list[np.ndarray]:
    """Per person (T, V, 33, 2): the body model's ``blazepose33`` landmarks of the ground truth
    projected into every view (pixels), the 2D truth a detector's keypoints are compared with."""
    import torch

    out = []
    for person in seq.people:
        rot = torch.as_tensor(person.rotations).float()
        betas = torch.as_tensor(person.betas).float()[None].expand(len(rot), -1)
        transl = torch.as_tensor(person.transl).float()
        with torch.no_grad():
            kp = body_model.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl).numpy()
        uv = np.stack([(kp @ seq.R[v].T + seq.t[v]) @ seq.K[v].T for v in range(seq.num_views)], 1)
        out.append(uv[..., :2] / uv[..., 2:])
    return out
