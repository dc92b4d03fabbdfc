"""Causal multi-view, multi-frame estimation for streams (no ROS): the node's brain.

Each synchronised set of views goes through per-view regression (batched), then one refine()
call over the *free* frames of a sliding window — keypoint, multi-view and temporal guidance
together — anchored on the last published frame, which never changes again. With
``free_frames = 1`` every set is published as soon as it is refined (lowest latency); larger
values refine the newest frames jointly and publish each frame ``free_frames - 1`` sets later.

Uncalibrated (the paper's setting): each view keeps its own global orientation and translation
in its camera frame; the fused body is the body pose averaged over views, placed in the reference
view's camera frame. Calibrated (``cam_to_ref`` known for every view): views are brought into the
reference frame and averaged, and the calibrated multi-view term is added.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, replace

import roma
import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat, rotmat_to_pose6d
from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.guidance import Observations, make_terms
from scorehmr_ros.core.keypoints import get_layout
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import DEFAULT_PRESET, PRESETS, StreamingConfig
from scorehmr_ros.core.refiner import refine
from scorehmr_ros.core.regressor import RegressorOutput, solve_translation

LAYOUT = "blazepose33"
MIN_CONFIDENT_KEYPOINTS = 6
CONFIDENT = 0.3


@dataclass
class ViewInput:
    """One camera's observation in a synchronised set.

    keypoints: (K, 2) px (BlazePose-33); confidence: (K,); K: (3, 3); image_size: (2,) (w, h).
    cam_to_ref: optional (4, 4) transform from this camera's optical frame to the reference frame.
    """

    camera: str
    keypoints: torch.Tensor
    confidence: torch.Tensor
    K: torch.Tensor
    image_size: torch.Tensor
    cam_to_ref: torch.Tensor | None = None

    def usable(self) -> bool:
        finite = torch.isfinite(self.keypoints).all(-1) & torch.isfinite(self.confidence)
        return int(((self.confidence > CONFIDENT) & finite).sum()) >= MIN_CONFIDENT_KEYPOINTS


@dataclass
class ViewState:
    """A view's estimate in its own camera frame: x (144,), transl (3,), betas (nb,), cond (C,)."""

    camera: str
    x: torch.Tensor
    transl: torch.Tensor
    betas: torch.Tensor
    cond: torch.Tensor
    observation: ViewInput
    x_regressed: torch.Tensor  # (144,) the regressor's own estimate of this frame
    transl_regressed: torch.Tensor  # (3,)


@dataclass
class FusedBody:
    """The published body of one set, in the camera frame ``frame`` (the reference camera when calibrated).

    rotations (24, 3, 3): [0] global orientation in ``frame``; betas (nb,); transl (3,);
    joints (24, 3) in ``frame``; per-view 2D errors (px); fit quality in [0, 1].
    """

    stamp_ns: int
    frame: str
    rotations: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    joints: torch.Tensor
    view_errors_px: dict[str, float]
    fit_quality: float
    views: list[ViewState]
    timings_ms: dict[str, float]
    sets_in_call: int = 1  # sets refined together in the process_many() call that finalised this one


@dataclass
class _Frame:
    stamp_ns: int
    views: list[ViewState]


class StreamingEstimator:
    """Feed synchronised sets with :meth:`process`; it returns the bodies that became final."""

    def __init__(
        self, models: ScoreHMRModels, config: StreamingConfig = PRESETS[DEFAULT_PRESET], denoiser=None
    ):
        """``denoiser``: an ε̂ = f(x_t, t, c) engine (core.engines.make_denoiser); default eager torch."""
        if config.free_frames < 1:
            raise ValueError("free_frames must be >= 1")
        self.models = models
        self.denoiser = denoiser or models.denoiser
        self.config = config
        self._free: deque[_Frame] = deque()
        self._anchor: dict[str, ViewState] = {}  # last published state per camera
        self.reference: str | None = None
        self.flips_chosen = 0  # views whose left/right labels were swapped (diagnostics)

    def reset(self) -> None:
        self._free.clear()
        self._anchor.clear()

    def process(self, stamp_ns: int, views: list[ViewInput]) -> list[FusedBody]:
        """Add one set (views without enough confident keypoints are ignored) and refine the window."""
        return self.process_many([(stamp_ns, views)])

    def process_many(self, sets: list[tuple[int, list[ViewInput]]]) -> list[FusedBody]:
        """Add several consecutive sets (oldest first) and refine them in one batched call.

        A worker that fell behind hands over everything queued: one refine() over all their views
        costs little more than over one set's, so throughput grows with the backlog.
        """
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        added = 0
        for stamp_ns, views in sets:
            if self.reference is None and views:
                self.reference = views[0].camera
            usable = [v for v in views if v.usable()]
            if usable:
                self._free.append(_Frame(stamp_ns, self._regress(usable)))
                added += 1
        timings["regression_ms"] = 1000 * (time.perf_counter() - t0)
        if not added:
            return self._flush_if_full(timings, force=False)
        t0 = time.perf_counter()
        self._refine_window()
        timings["refinement_ms"] = 1000 * (time.perf_counter() - t0)
        return self._flush_if_full(timings, force=False, sets_in_call=added)

    def flush(self) -> list[FusedBody]:
        """Publish every frame still free (end of stream)."""
        return self._flush_if_full({}, force=True)

    # -- steps ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _regress(self, views: list[ViewInput]) -> list[ViewState]:
        kp = torch.stack([v.keypoints for v in views]).float()
        conf = torch.stack([v.confidence for v in views]).float()
        conf = torch.where(torch.isfinite(kp).all(-1) & torch.isfinite(conf), conf, torch.zeros_like(conf))
        kp = torch.nan_to_num(kp)
        K = torch.stack([v.K for v in views]).float()
        V = len(views)
        # Both labelings of every view: detectors often swap left/right on people seen from behind.
        flip = list(get_layout(LAYOUT).flip_permutation)
        kp2, conf2, K2 = torch.cat([kp, kp[:, flip]]), torch.cat([conf, conf[:, flip]]), torch.cat([K, K])
        out = self.models.regressor(kp2, conf2, K2)
        flipped = (
            self._choose_labeling(views, out.rotations, out.betas)
            if self.config.resolve_flips
            else [False] * V
        )
        pick = torch.tensor([V + i if f else i for i, f in enumerate(flipped)])
        rotations, betas, features = out.rotations[pick], out.betas[pick], out.features[pick]
        kp, conf = kp2[pick], conf2[pick]
        transl = solve_translation(
            self.models.body_model, RegressorOutput(features, out.pose6d[pick], rotations, betas), kp, conf, K
        )
        x = rotmat_to_pose6d(rotations).reshape(V, -1)
        self.flips_chosen += sum(flipped)
        states = []
        for i, v in enumerate(views):
            obs = replace(v, keypoints=kp[i], confidence=conf[i])
            prev = self._previous_state(v.camera) if self.config.warm_start and not flipped[i] else None
            if prev is not None:  # previous result, moved by the regressor's frame-to-frame change
                xi = prev.x + (x[i] - prev.x_regressed)
                ti = prev.transl + (transl[i] - prev.transl_regressed)
            else:
                xi, ti = x[i], transl[i]
            states.append(ViewState(v.camera, xi, ti, betas[i], features[i], obs, x[i], transl[i]))
        return states

    def _choose_labeling(
        self, views: list[ViewInput], rotations: torch.Tensor, betas: torch.Tensor
    ) -> list[bool]:
        """Per view, keep or swap the detector's left/right labels. rotations: (2V, 24, 3, 3), swapped last.

        Score of an assignment: disagreement between views of the body-frame skeleton (m) and, when
        known, of the global orientation in the reference frame (rad × 0.3 m); change of each view's
        global orientation since its previous frame (rad × 0.3 m); a small cost per swap.
        """
        V = len(views)
        bm = self.models.body_model
        eye = torch.eye(3).expand(2 * V, 3, 3)
        skel = bm.skeleton(eye, rotations[:, 1:], betas)  # (2V, 24, 3), canonical body frame
        skel = skel - skel[:, :1]
        cam_to_ref = [v.cam_to_ref for v in views]
        calibrated = all(T is not None for T in cam_to_ref)
        orient = rotations[:, 0]
        if calibrated:
            Rr = torch.stack([T[:3, :3].float() for T in cam_to_ref])
            orient_ref = torch.cat([Rr, Rr]) @ orient
        prev = [self._previous_state(v.camera) for v in views]
        best, best_cost = None, float("inf")
        for combo in itertools.product((False, True), repeat=V):
            idx = [V + i if f else i for i, f in enumerate(combo)]
            cost = 0.02 * sum(combo)
            for a, b in itertools.combinations(range(V), 2):
                ia, ib = idx[a], idx[b]
                cost += float((skel[ia] - skel[ib]).norm(dim=-1).mean())
                if calibrated:
                    cost += 0.3 * float(roma.rotmat_geodesic_distance(orient_ref[ia], orient_ref[ib]))
            for i, p in enumerate(prev):
                if p is not None:
                    r_prev = pose6d_to_rotmat(p.x.reshape(24, 6)[:1])[0]
                    cost += 0.3 * float(roma.rotmat_geodesic_distance(orient[idx[i]], r_prev))
            if cost < best_cost:
                best, best_cost = combo, cost
        return list(best)

    def _previous_state(self, camera: str) -> ViewState | None:
        for frame in reversed(self._free):
            for s in frame.views:
                if s.camera == camera:
                    return s
        return self._anchor.get(camera)

    def _refine_window(self) -> None:
        frames = list(self._free)
        states = [s for f in frames for s in f.views]
        index = {
            (fi, s.camera): i
            for i, (fi, s) in enumerate((fi, s) for fi, f in enumerate(frames) for s in f.views)
        }
        B = len(states)
        frame_id = torch.tensor([fi for fi, f in enumerate(frames) for _ in f.views])
        prev_index = torch.full((B,), -1, dtype=torch.long)
        anchor = torch.zeros(B, 144)
        has_anchor = torch.zeros(B, dtype=torch.bool)
        for (fi, cam), i in index.items():
            if fi > 0 and (fi - 1, cam) in index:
                prev_index[i] = index[(fi - 1, cam)]
            elif fi == 0 and cam in self._anchor:
                anchor[i], has_anchor[i] = self._anchor[cam].x, True
        obs_list = [s.observation for s in states]
        calibrated = all(o.cam_to_ref is not None for o in obs_list)
        obs = Observations(
            keypoints=torch.stack([o.keypoints for o in obs_list]),
            confidence=torch.stack([o.confidence for o in obs_list]),
            frame=frame_id,
            prev_index=prev_index,
            anchor_pose=anchor,
            has_anchor=has_anchor,
            cam_to_ref=torch.stack([o.cam_to_ref for o in obs_list]).float() if calibrated else None,
        )
        weights = dict(self.config.weights)
        if not calibrated:
            weights.pop("multiview_calibrated", None)
        cams = PinholeCameras(
            K=torch.stack([o.K for o in obs_list]).float(),
            R=torch.eye(3).expand(B, 3, 3),
            t=torch.zeros(B, 3),
            image_size=torch.stack([o.image_size for o in obs_list]).float(),
        )
        betas = torch.stack([s.betas for s in states]).mean(0, keepdim=True).expand(B, -1)
        res = refine(
            torch.stack([s.x for s in states]),
            torch.stack([s.cond for s in states]),
            betas,
            torch.stack([s.transl for s in states]),
            cams,
            obs,
            make_terms(weights),
            self.config.refine,
            self.denoiser,
            self.models.body_model,
            self.models.schedule,
        )
        for i, s in enumerate(states):
            s.x, s.transl, s.betas = res.x0[i], res.transl[i], betas[i]

    def _flush_if_full(
        self, timings: dict[str, float], force: bool, sets_in_call: int = 1
    ) -> list[FusedBody]:
        out = []
        while self._free and (force or len(self._free) >= self.config.free_frames):
            frame = self._free.popleft()
            for s in frame.views:
                self._anchor[s.camera] = s
            out.append(self._fuse(frame, timings, sets_in_call))
        return out

    @torch.no_grad()
    def _fuse(self, frame: _Frame, timings: dict[str, float], sets_in_call: int) -> FusedBody:
        bm = self.models.body_model
        states = frame.views
        x = torch.stack([s.x for s in states])
        rot = pose6d_to_rotmat(x.reshape(-1, 24, 6))  # (V, 24, 3, 3)
        transl = torch.stack([s.transl for s in states])
        betas = states[0].betas
        # Per-view 2D error of each view's own estimate against its keypoints.
        kp3d = bm.pose_keypoints(rot[:, 0], rot[:, 1:], betas.expand(len(states), -1), transl)
        K = torch.stack([s.observation.K for s in states]).float()
        uv = project(kp3d, K)
        errors = {}
        for i, s in enumerate(states):
            w = s.observation.confidence > CONFIDENT
            errors[s.camera] = (
                float((uv[i] - s.observation.keypoints).norm(dim=-1)[w].mean()) if w.any() else float("nan")
            )
        body_pose = roma.special_procrustes(rot[:, 1:].sum(0))  # chordal mean over views (23, 3, 3)
        calibrated = all(s.observation.cam_to_ref is not None for s in states)
        if calibrated:
            frame_name = self.reference or states[0].camera  # cam_to_ref maps into the reference camera
            T = torch.stack([s.observation.cam_to_ref for s in states]).float()
            orient = roma.special_procrustes((T[:, :3, :3] @ rot[:, 0]).sum(0))
            pelvis = bm.skeleton(rot[:, 0], rot[:, 1:], betas.expand(len(states), -1), transl)[:, 0]
            pelvis_ref = (pelvis.unsqueeze(1) @ T[:, :3, :3].transpose(-1, -2)).squeeze(1) + T[:, :3, 3]
            target_pelvis = pelvis_ref.mean(0)
        else:
            ref_i = next((i for i, s in enumerate(states) if s.camera == self.reference), 0)
            frame_name = states[ref_i].camera
            orient = rot[ref_i, 0]
            target_pelvis = bm.skeleton(
                rot[ref_i : ref_i + 1, 0], rot[ref_i : ref_i + 1, 1:], betas[None], transl[ref_i : ref_i + 1]
            )[0, 0]
        rotations = torch.cat([orient[None], body_pose], 0)
        rest = bm.skeleton(rotations[None, 0], rotations[None, 1:], betas[None])[0]
        fused_transl = target_pelvis - rest[0]
        joints = rest + fused_transl
        quality = torch.tensor([e for e in errors.values() if e == e])
        fit = float(torch.exp(-quality / 25.0).mean()) if len(quality) else 0.0
        return FusedBody(
            frame.stamp_ns,
            frame_name,
            rotations,
            betas,
            fused_transl,
            joints,
            errors,
            fit,
            states,
            dict(timings),
            sets_in_call,
        )
