"""Causal multi-view, multi-frame estimation for streams (no ROS): the node's brain.

Each synchronised set of views goes through per-view regression (batched), then one refine()
call over the *free* frames of a sliding window — keypoint, multi-view and temporal guidance
together — anchored on the last published frame, which never changes again. With
``free_frames = 1`` every set is published as soon as it is refined (lowest latency); larger
values refine the newest frames jointly and publish each frame ``free_frames - 1`` sets later.

Uncalibrated (the paper's setting): each view keeps its own global orientation and translation
in its camera frame; the fused body is the body pose averaged over views, placed in the reference
camera's frame (``StreamingConfig.reference_camera`` when it has a view in the set, else the set's
first view in the caller's order; never the first camera that happened to arrive).

Calibrated (``cam_to_ref`` known for every usable view, at least two of them): ONE sample per
frame. Left/right labels are chosen per view by the triangulation residual of each labelling
(:func:`core.triangulation.resolve_swaps`); the keypoints are triangulated (robust weighted DLT);
the start takes its global orientation and translation from a rigid fit of the body's torso
keypoints (hips, shoulders) to the triangulated ones (every triangulated keypoint when fewer than
three of those are), its body pose from the views' regressions, then the multi-view fit.
The sample lives in a *pivot* camera's frame (the conditioning view: the diffusion prior knows
camera-frame orientations only) and is refined with its keypoints projected into every view, the
keypoint term summed over views (``keypoints_views``), plus the temporal term. The body is
published in the frame the ``cam_to_ref`` transforms map into (``ViewInput.reference`` /
``StreamingConfig.output_frame`` / the identity camera), each view's ViewState holding the same
body expressed in that view's camera frame. A body its views contradict (:func:`body_agrees`) is
not published. One usable view: the single-view path.

The temporal term is weighted per second: ``weights["temporal"] · temporal_interval_s / dt`` with
dt from the stamps. A sample with no previous frame keeps its start when refinement made its 2D
error worse (``cold_start_guard``).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, replace

import roma
import torch

from scorehmr_ros.core.body_model import pose6d_to_rotmat, rotmat_to_pose6d
from scorehmr_ros.core.calibrated_fit import BodyFit, FitJob, fit_bodies
from scorehmr_ros.core.camera import PinholeCameras, project
from scorehmr_ros.core.distortion import Distortion
from scorehmr_ros.core.guidance import Observations
from scorehmr_ros.core.keypoints import TORSO_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.presets import DEFAULT_PRESET, PRESETS, StreamingConfig
from scorehmr_ros.core.regressor import RegressorOutput, solve_translation
from scorehmr_ros.core.triangulation import (
    MIRROR_MARGIN,
    Triangulation,
    body_left,
    implausible_limbs,
    is_mirrored,
    projection_matrices,
    resolve_swaps,
    rigid_fit,
    triangulate,
    view_weights,
)
from scorehmr_ros.core.window_batch import WindowBatch, refine_windows

LAYOUT = "blazepose33"
FUSED = "<calibrated>"  # key of the one sample per frame of a calibrated set
FLIP_33 = list(get_layout(LAYOUT).flip_permutation)
# A stream that took the mirror labelling keeps it while the knees bend forward at all, for this long.
MIRROR_MEMORY_S = 0.5
# Sets at most this far apart keep the body's left direction where the knees decide nothing.
CONTINUITY_S = 0.25
TORSO = tuple(get_layout(LAYOUT).keypoint_names.index(n) for n in TORSO_KEYPOINT_NAMES)
MIN_SPREAD_M = 0.05  # keypoints spanning less than this in two directions cannot fix an orientation
MIN_INTERVAL_S = 1e-4  # stamps closer than this are treated as carrying no timing
MIN_CONFIDENT_KEYPOINTS = 6
CONFIDENT = 0.3


@dataclass
class ViewInput:
    """One camera's observation in a synchronised set.

    keypoints: (K, 2) px (BlazePose-33); confidence: (K,); K: (3, 3); image_size: (2,) (w, h).
    cam_to_ref: optional (4, 4) transform from this camera's optical frame to the reference frame.
    reference: optional name of that reference frame (calibrated rigs); bodies are published in it.
    distortion: the lens distortion of the image the keypoints came from (``core.distortion``),
    carried for output only: ``keypoints`` are already undistorted (ideal pinhole pixels of ``K``).
    """

    camera: str
    keypoints: torch.Tensor
    confidence: torch.Tensor
    K: torch.Tensor
    image_size: torch.Tensor
    cam_to_ref: torch.Tensor | None = None
    reference: str | None = None
    distortion: Distortion | None = None

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
    to_ref: torch.Tensor | None = None  # (4, 4) this state's frame → reference frame, when known
    pivot: str | None = None  # calibrated sample: the camera whose frame x/transl are in


@dataclass
class FusedBody:
    """The published body of one set, in ``frame`` (calibrated: the frame ``cam_to_ref`` maps into).

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
    triangulated: torch.Tensor | None = None  # (33, 3) in ``frame`` (NaN: not triangulated), calibrated


@dataclass
class _Calib:
    """A calibrated set: the views as used (labels resolved), their regressions, the transforms from
    the pivot camera into each view (V, 4, 4) and into the reference frame (4, 4)."""

    pivot: str
    reference: str | None
    views: list[ViewInput]
    regressed: list[ViewState]
    pivot_to_view: torch.Tensor
    pivot_to_ref: torch.Tensor
    triangulation: Triangulation


def _place_on_triangulation(
    body_keypoints: torch.Tensor, tri: Triangulation, torso_only: bool = False
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Rigid placement (R (3, 3), t (3,)) of a body's keypoints (33, 3; body frame) on the
    triangulated ones: the torso (shoulders, hips) when at least three of it were triangulated, else
    every triangulated keypoint (unless ``torso_only``); None when those do not span two directions
    (fewer than three points, or nearly collinear)."""
    torso = torch.zeros_like(tri.valid)
    torso[list(TORSO)] = True
    for use in (tri.valid & torso,) if torso_only else (tri.valid & torso, tri.valid):
        src = body_keypoints[use]
        if len(src) >= 3 and float(torch.linalg.svdvals(src - src.mean(0))[1]) >= MIN_SPREAD_M:
            return rigid_fit(src, tri.points[use], torch.ones(len(src)))
    return None


def body_agrees(body: FusedBody, max_error_rel: float) -> bool:
    """Whether a body may be published: finite, in front of every camera that sees it, and its
    keypoints' mean reprojection error in a view, relative to the diagonal of that view's confident
    keypoints' bounding box, at most ``max_error_rel`` in the median view (the mean of the two
    middle ones for an even count; views with fewer than three confident keypoints do not count).
    A body that fails was computed from keypoints it does not explain (a view holding someone else,
    a start the fit could not recover from)."""
    if not bool(torch.isfinite(body.joints).all()):
        return False
    rest_pelvis = body.joints[0] - body.transl  # pelvis = rest pelvis + transl, in every frame
    rel = []
    for state in body.views:
        obs = state.observation
        seen = obs.confidence > CONFIDENT
        if int(seen.sum()) < 3:
            continue
        if float(state.transl[2] + rest_pelvis[2]) <= 0:  # pelvis behind this camera
            return False
        pts = obs.keypoints[seen]
        diagonal = float((pts.max(0).values - pts.min(0).values).norm())
        rel.append(body.view_errors_px.get(obs.camera, float("nan")) / max(diagonal, 1.0))
    rel = torch.tensor(rel, dtype=torch.float64)
    return len(rel) > 0 and not bool(rel.isnan().any()) and float(rel.quantile(0.5)) <= max_error_rel


@dataclass
class _CalibStart:
    """A calibrated sample waiting for its multi-view fit (process_people batches the fits of every
    person of a call). job: the fit (None: none to run). body_pose (23, 3, 3), betas (nb,): the
    regressions'; orient (3, 3), pelvis (3,): placed on the triangulated keypoints, reference frame
    (None when none was triangulated); fallback_*: the pivot view's own regression."""

    job: FitJob | None
    body_pose: torch.Tensor
    betas: torch.Tensor
    orient: torch.Tensor | None
    pelvis: torch.Tensor | None
    fallback_orient: torch.Tensor
    fallback_transl: torch.Tensor
    cond: torch.Tensor
    view: ViewInput


@dataclass
class _Frame:
    stamp_ns: int
    views: list[ViewState]
    calib: _Calib | None = None
    pending: _CalibStart | None = None


class StreamingEstimator:
    """Feed synchronised sets with :meth:`process`; it returns the bodies that became final."""

    def __init__(
        self, models: ScoreHMRModels, config: StreamingConfig = PRESETS[DEFAULT_PRESET], denoiser=None
    ):
        """``denoiser``: an ε̂ = f(x_t, t, c) engine (core.engines.make_denoiser); default eager torch."""
        if config.free_frames < 1:
            raise ValueError("free_frames must be >= 1")
        if config.body_pose_start not in ("mean", "pivot", "fit"):
            raise ValueError(f"body_pose_start: 'mean', 'pivot' or 'fit', not {config.body_pose_start!r}")
        self.models = models
        self.denoiser = denoiser or models.denoiser
        self.config = config
        self._free: deque[_Frame] = deque()
        self._anchor: dict[str, ViewState] = {}  # last published state per camera (FUSED: calibrated)
        self._anchor_stamp: dict[str, int] = {}
        self.reference: str | None = config.reference_camera  # configured, never by arrival order
        self._identity_camera: str | None = None  # calibrated: camera whose cam_to_ref is the identity
        self._pivot: str | None = None
        self._last_fit = None  # (stamp_ns, BodyFit) of the last calibrated multi-view fit
        self._fit_betas, self._fit_count = None, 0  # running sum of the fitted shapes
        self._last_mirror: int | None = None  # stamp (ns) of the last set that took the mirror labels
        self._last_left = None  # (stamp_ns, (3,) body's left) of the last set the knees decided
        self.flips_chosen = 0  # views whose left/right labels were swapped (diagnostics)
        self.mirrors_chosen = 0  # calibrated sets whose knees chose the mirror labelling (diagnostics)
        self.limb_keypoints_rejected = 0  # limb keypoints dropped for an impossible bone length (diagnostics)
        self.cold_starts_kept = 0  # cold samples that kept their start (diagnostics)
        self.bodies_rejected = 0  # bodies not published: they disagree with their keypoints (diagnostics)
        self.rejected_stamps: list[int] = []  # their stamps, for a caller to take (and clear)

    def reset(self) -> None:
        self._free.clear()
        self._anchor.clear()
        self._anchor_stamp.clear()
        self._pivot = None
        self._last_fit = None
        self._fit_betas, self._fit_count = None, 0
        self._last_mirror = None
        self._last_left = None

    def process(self, stamp_ns: int, views: list[ViewInput]) -> list[FusedBody]:
        """Add one set (views without enough confident keypoints are ignored) and refine the window."""
        return self.process_many([(stamp_ns, views)])

    def process_many(self, sets: list[tuple[int, list[ViewInput]]]) -> list[FusedBody]:
        """Add several consecutive sets (oldest first) and refine them in one batched call.

        A worker that fell behind hands over everything queued: one refine() over all their views
        costs little more than over one set's, so throughput grows with the backlog.
        """
        return process_people([(self, sets)])[0]

    def _add_sets(self, sets: list[tuple[int, list[ViewInput]]], timings: dict[str, float]) -> int:
        """Regress the sets' usable views into new free frames; returns how many frames were added."""
        t0 = time.perf_counter()
        added = 0
        for stamp_ns, views in sets:
            usable = [v for v in views if v.usable()]
            if not usable:
                continue
            calibrated = all(v.cam_to_ref is not None for v in usable)
            if calibrated and self.config.calibrated_fusion and len(usable) >= 2:
                self._free.append(self._regress_calibrated(stamp_ns, usable))
            else:
                self._free.append(_Frame(stamp_ns, self._regress(usable)))
            added += 1
        timings["regression_ms"] = 1000 * (time.perf_counter() - t0)
        return added

    def flush(self) -> list[FusedBody]:
        """Publish every frame still free (end of stream)."""
        return self._flush_if_full({}, force=True)

    # -- frames ----------------------------------------------------------------------------------
    def _reference_name(self, views: list[ViewInput]) -> str | None:
        """Name of the frame the views' cam_to_ref map into; None when it cannot be known yet."""
        for v in views:
            if v.reference:
                return v.reference
        if self.config.output_frame:
            return self.config.output_frame
        for v in views:
            if torch.allclose(v.cam_to_ref.float(), torch.eye(4), atol=1e-5):
                self._identity_camera = v.camera
        return self._identity_camera

    def _choose_pivot(self, views: list[ViewInput]) -> int:
        names = [v.camera for v in views]
        for name in (self.config.reference_camera, self._pivot):
            if name in names:
                return names.index(name)
        score = [float(v.confidence.clamp(0, 1).nan_to_num().sum()) for v in views]
        return max(range(len(views)), key=score.__getitem__)

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
        flip = FLIP_33
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
            T = None if v.cam_to_ref is None else v.cam_to_ref.float()
            states.append(ViewState(v.camera, xi, ti, betas[i], features[i], obs, x[i], transl[i], T))
        return states

    @torch.no_grad()
    def _regress_calibrated(self, stamp_ns: int, views: list[ViewInput]) -> _Frame:
        """One sample for a calibrated set (>= 2 usable views): see the module docstring."""
        bm = self.models.body_model
        kp = torch.stack([v.keypoints for v in views]).float()
        conf = torch.stack([v.confidence for v in views]).float()
        conf = torch.where(torch.isfinite(kp).all(-1) & torch.isfinite(conf), conf, torch.zeros_like(conf))
        kp = torch.nan_to_num(kp)
        K = torch.stack([v.K for v in views]).float()
        cam_to_ref = torch.stack([v.cam_to_ref for v in views]).float()
        V = len(views)
        P = projection_matrices(K, cam_to_ref)
        flip = FLIP_33
        flipped = resolve_swaps(P, kp, conf, flip) if self.config.resolve_flips else [False] * V
        for i, f in enumerate(flipped):
            if f:
                kp[i], conf[i] = kp[i, flip], conf[i, flip]
        tri = triangulate(P, kp, conf, max_residual_px=self._residual_limits(kp, conf))
        if self.config.resolve_flips and self._mirrored(stamp_ns, tri):
            # most views swapped alike: the knees say the mirror labelling is the body
            kp, conf = kp[:, flip], conf[:, flip]
            flipped = [not f for f in flipped]
            tri = triangulate(P, kp, conf, max_residual_px=self._residual_limits(kp, conf))
            self.mirrors_chosen += 1
            self._last_mirror = stamp_ns
        self.flips_chosen += sum(flipped)
        views = [replace(v, keypoints=kp[i], confidence=conf[i]) for i, v in enumerate(views)]
        out = self.models.regressor(kp, conf, K)
        transl = solve_translation(bm, out, kp, conf, K)
        x_views = rotmat_to_pose6d(out.rotations).reshape(V, -1)
        regressed = [
            ViewState(
                v.camera,
                x_views[i],
                transl[i],
                out.betas[i],
                out.features[i],
                v,
                x_views[i],
                transl[i],
                cam_to_ref[i],
            )
            for i, v in enumerate(views)
        ]
        betas = out.betas.mean(0)
        eye = torch.eye(3)
        mean_pose = roma.special_procrustes(out.rotations[:, 1:].sum(0))
        kp0 = bm.pose_keypoints(eye[None], mean_pose[None], betas[None], None, LAYOUT)[0]  # (33, 3)
        if self.config.limb_length_tolerance is not None:  # limbs no body of this shape can have
            names = get_layout(LAYOUT).keypoint_names
            bad = implausible_limbs(tri.points, kp0, names, tolerance=self.config.limb_length_tolerance)
            if bool(bad.any()):  # the views that agreed on it are wrong there; the others may be right
                self.limb_keypoints_rejected += int(bad.sum())
                conf = conf * ~(tri.used & bad)
                points = tri.points.masked_fill(bad[:, None], float("nan"))
                tri = replace(tri, points=points, used=tri.used & ~bad)
                views = [replace(v, confidence=conf[i]) for i, v in enumerate(views)]
        # Views the triangulation rejected for a keypoint do not guide it (fit or refinement).
        if self.config.reject_outlier_views:
            conf = conf * torch.where(tri.valid[None], tri.used, conf > CONFIDENT)
            views = [replace(v, confidence=conf[i]) for i, v in enumerate(views)]
        p = self._choose_pivot(views)
        self._pivot = views[p].camera
        pivot_to_ref = cam_to_ref[p]
        pivot_to_view = torch.linalg.inv(cam_to_ref) @ pivot_to_ref
        body_pose = mean_pose if self.config.body_pose_start in ("mean", "fit") else out.rotations[p, 1:]
        # Start: orientation and position from the triangulated keypoints (reference frame).
        orient, pelvis, job = None, None, None
        placed = _place_on_triangulation(kp0, tri)
        if placed is None and bool(tri.valid.any()):  # too few points to orient: the pivot's view
            R_pr = cam_to_ref[p, :3, :3]
            orient = R_pr @ out.rotations[p, 0]
            ok = tri.valid
            placed = orient, tri.points[ok].mean(0) - orient @ kp0[ok].mean(0)
        if placed is not None:
            if body_pose is not mean_pose:
                kp0 = bm.pose_keypoints(eye[None], body_pose[None], betas[None], None, LAYOUT)[0]
                placed = _place_on_triangulation(kp0, tri) or placed
            orient, t = placed
            J0 = bm.skeleton(eye[None], body_pose[None], betas[None])[0, 0]  # pelvis, any orientation
            pelvis = orient @ J0 + t
            if self.config.body_pose_start == "fit":  # conf: without the rejected views if configured
                w = conf
                if self.config.view_weight_tolerance is not None:  # views the others contradict count less
                    w = (
                        conf
                        * view_weights(tri, kp, conf, tolerance=self.config.view_weight_tolerance)[:, None]
                    )
                job = self._fit_job(stamp_ns, P, kp, w, orient, body_pose, betas, pelvis, tri)
        calib = _Calib(
            self._pivot, self._reference_name(views), views, regressed, pivot_to_view, pivot_to_ref, tri
        )
        pending = _CalibStart(
            job, body_pose, betas, orient, pelvis, out.rotations[p, 0], transl[p], out.features[p], views[p]
        )
        frame = _Frame(stamp_ns, [], calib, pending)
        if job is None:
            self._complete_calibrated(frame, None)
        return frame

    def _residual_limits(self, kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor | float:
        """Triangulation's reprojection limit per view (V,): ``triangulation_residual_rel`` of the
        person's size there (diagonal of the confident keypoints' box), within
        [``triangulation_residual_min_px``, ``triangulation_residual_px``]."""
        c = self.config
        if c.triangulation_residual_rel is None:
            return c.triangulation_residual_px
        limits = []
        for k, w in zip(kp, conf, strict=True):
            pts = k[w > CONFIDENT]
            diagonal = (
                float((pts.max(0).values - pts.min(0).values).norm()) if len(pts) >= 2 else float("inf")
            )
            limits.append(min(max(c.triangulation_residual_rel * diagonal, c.triangulation_residual_min_px),
                              c.triangulation_residual_px))  # fmt: skip
        return torch.tensor(limits)

    def _mirrored(self, stamp_ns: int, tri: Triangulation) -> bool:
        """Whether the knees of the triangulated labels bend forward (``core.triangulation.
        is_mirrored``): by more than ``MIRROR_MARGIN``, or at all when the stream took the mirror
        labels at most ``MIRROR_MEMORY_S`` ago (a detector that sees a person from behind as facing
        it keeps doing so while the legs straighten, where the margin alone would drop it). Where
        the knees decide nothing either way (a straight leg), the body's left must keep its
        direction from the last set the knees decided, at most ``CONTINUITY_S`` earlier
        (``core.triangulation.body_left``)."""
        names = get_layout(LAYOUT).keypoint_names
        last = self._last_mirror
        recent = last is not None and 0 <= (stamp_ns - last) * 1e-9 <= MIRROR_MEMORY_S
        left = body_left(tri.points, names)
        if is_mirrored(tri.points, names, margin=0.0 if recent else MIRROR_MARGIN):
            self._last_left = None if left is None else (stamp_ns, -left)  # decided: the mirror's left
            return True
        if is_mirrored(tri.points[FLIP_33], names):  # each knee bends the right way: decided
            self._last_left = None if left is None else (stamp_ns, left)
            return False
        # Undecided (a straight leg): the body's left keeps its direction from the last set the
        # knees decided (a turn of more than 90 degrees in CONTINUITY_S is not a body's; a detector
        # switching to the mirror labelling in most views is).
        previous = self._last_left
        if left is None or previous is None or not 0 <= (stamp_ns - previous[0]) * 1e-9 <= CONTINUITY_S:
            return False
        return float(left @ previous[1]) < 0.0

    def _fit_job(self, stamp_ns, P, kp, weights, orient, body_pose, betas, pelvis, tri) -> FitJob:
        """The multi-view fit's problem (core.calibrated_fit) from the torso start; in a stream, the
        body pose starts from the last fit when it is recent and the shape from the running mean of
        the fits, placed on the triangulation with them (the pull stays toward the regressions' pose)."""
        prior = body_pose
        last = self._last_fit
        if last is not None and 0 <= (stamp_ns - last[0]) * 1e-9 <= self.config.fit_memory_s:
            body_pose = last[1].body_pose
            betas = self._fit_betas / self._fit_count
            # Placed again with that pose and shape when the torso was triangulated: its torso matches
            # better than the mean pose's (without the torso, the mean pose is the steadier guide).
            bm, eye = self.models.body_model, torch.eye(3)
            keypoints = bm.pose_keypoints(eye[None], body_pose[None], betas[None])[0]
            placed = _place_on_triangulation(keypoints, tri, torso_only=True)
            if placed is not None:
                orient, t = placed
                pelvis = orient @ bm.skeleton(eye[None], body_pose[None], betas[None])[0, 0] + t
        else:  # memory lapsed (or a new stream): the shape average starts again, maybe another person
            self._fit_betas, self._fit_count = None, 0
        return FitJob(P, kp, weights, orient, body_pose, betas, pelvis, prior)

    @torch.no_grad()
    def _complete_calibrated(self, frame: _Frame, fit: BodyFit | None) -> None:
        """Give a calibrated frame its one sample (in the pivot camera's frame) from the fit, else
        from the torso start, else from the pivot view's regression."""
        bm = self.models.body_model
        pend, calib = frame.pending, frame.calib
        frame.pending = None
        eye = torch.eye(3)
        R, body_pose, betas, pelvis_ref = pend.orient, pend.body_pose, pend.betas, pend.pelvis
        if fit is not None and fit.residual_px == fit.residual_px:  # fitted
            self._last_fit = (frame.stamp_ns, fit)
            self._fit_betas = fit.betas if self._fit_betas is None else self._fit_betas + fit.betas
            self._fit_count += 1
            R, body_pose, betas, pelvis_ref = fit.orient, fit.body_pose, fit.betas, fit.pelvis
        R_pr, t_pr = calib.pivot_to_ref[:3, :3], calib.pivot_to_ref[:3, 3]
        if R is not None:
            J0 = bm.skeleton(eye[None], body_pose[None], betas[None])[0, 0]
            orient_piv = R_pr.T @ R
            transl_piv = R_pr.T @ (pelvis_ref - t_pr) - J0
        else:  # nothing triangulated: the pivot view's own regression
            orient_piv, transl_piv = pend.fallback_orient, pend.fallback_transl
        x_start = rotmat_to_pose6d(torch.cat([orient_piv[None], body_pose])).reshape(-1)
        prev = self._previous_state(FUSED) if self.config.warm_start else None
        if prev is not None and prev.pivot == calib.pivot:
            x0 = prev.x + (x_start - prev.x_regressed)
            t0 = prev.transl + (transl_piv - prev.transl_regressed)
        else:
            x0, t0 = x_start, transl_piv
        frame.views = [ViewState(FUSED, x0, t0, betas, pend.cond, pend.view, x_start, transl_piv,
                                 calib.pivot_to_ref, calib.pivot)]  # fmt: skip

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

    def _temporal_weight(self, stamp_ns: int, prev_stamp_ns: int | None) -> float:
        """Multiplier of the temporal term for a link over ``stamp - prev_stamp`` (see presets)."""
        if prev_stamp_ns is None:
            return 1.0
        dt = (stamp_ns - prev_stamp_ns) * 1e-9
        if not dt >= MIN_INTERVAL_S:  # no timing in the stamps (equal, reversed, frame counters)
            return 1.0
        return min(self.config.temporal_interval_s / dt, 10.0)

    def _window_batch(self) -> WindowBatch:
        """The free frames laid out for refine() (see core.window_batch); applied by _apply_window."""
        frames = list(self._free)
        samples = [(fi, s) for fi, f in enumerate(frames) for s in f.views]
        index = {(fi, s.camera): i for i, (fi, s) in enumerate(samples)}
        B = len(samples)
        states = [s for _, s in samples]
        frame_id = torch.tensor([fi for fi, _ in samples])
        prev_index = torch.full((B,), -1, dtype=torch.long)
        anchor = torch.zeros(B, 144)
        has_anchor = torch.zeros(B, dtype=torch.bool)
        tweight = torch.ones(B)
        for i, (fi, s) in enumerate(samples):
            stamp = frames[fi].stamp_ns
            j = index.get((fi - 1, s.camera)) if fi > 0 else None
            if j is not None and states[j].pivot == s.pivot:
                prev_index[i] = j
                tweight[i] = self._temporal_weight(stamp, frames[fi - 1].stamp_ns)
            elif fi == 0 and s.camera in self._anchor:
                a = self._anchor[s.camera]
                anchor[i], has_anchor[i] = self._moved_to(a, s), True
                tweight[i] = self._temporal_weight(stamp, self._anchor_stamp.get(s.camera))
        cold = (prev_index < 0) & ~has_anchor
        obs_list = [s.observation for s in states]
        calibrated = all(o.cam_to_ref is not None for o in obs_list)
        any_fused = any(f.calib is not None for f in frames)
        view_fields = self._view_fields(frames, samples)
        obs = Observations(
            keypoints=torch.stack([o.keypoints for o in obs_list]),
            confidence=torch.stack([o.confidence for o in obs_list]),
            frame=frame_id,
            prev_index=prev_index,
            anchor_pose=anchor,
            has_anchor=has_anchor,
            cam_to_ref=torch.stack([o.cam_to_ref for o in obs_list]).float() if calibrated else None,
            temporal_weight=tweight,
            **view_fields,
        )
        weights = dict(self.config.weights)
        kp_weight = weights.pop("keypoints", 0.0)
        views_weight = weights.pop("keypoints_views", kp_weight)
        if any_fused:  # every sample through its views (a single view: exactly the keypoints term)
            weights["keypoints_views"] = views_weight
            weights.pop("multiview_calibrated", None)
        else:
            weights["keypoints"] = kp_weight
        if not calibrated or any_fused:
            weights.pop("multiview_calibrated", None)
        cams = PinholeCameras(
            K=torch.stack([o.K for o in obs_list]).float(),
            R=torch.eye(3).expand(B, 3, 3),
            t=torch.zeros(B, 3),
            image_size=torch.stack([o.image_size for o in obs_list]).float(),
        )
        betas = torch.stack(
            [s.betas if f.calib is not None else self._window_betas(frames) for f in frames for s in f.views]
        )
        x_start = torch.stack([s.x for s in states])
        t_start = torch.stack([s.transl for s in states])
        steps = self.config.refine
        if any_fused and self.config.calibrated_refine is not None:
            steps = self.config.calibrated_refine  # one sample guided by every view: smaller steps
        return WindowBatch(
            x_start,
            torch.stack([s.cond for s in states]),
            betas,
            t_start,
            cams,
            obs,
            weights,
            steps,
            self.models,
            self.denoiser,
            context={"states": states, "cold": cold, "view_fields": view_fields},
        )

    def _apply_window(self, batch: WindowBatch) -> None:
        """Take the refined window back: the cold-start guard, then every sample's new state."""
        states, cold, view_fields = (batch.context[k] for k in ("states", "cold", "view_fields"))
        x_start, t_start, betas = batch.x, batch.transl, batch.betas
        x_new, t_new = batch.x0, batch.transl0
        if self.config.cold_start_guard and bool(cold.any()):
            before = self._errors_px(x_start, t_start, betas, view_fields)
            after = self._errors_px(x_new, t_new, betas, view_fields)
            keep = cold & (before < after)
            self.cold_starts_kept += int(keep.sum())
            x_new = torch.where(keep[:, None], x_start, x_new)
            t_new = torch.where(keep[:, None], t_start, t_new)
        for i, s in enumerate(states):
            s.x, s.transl, s.betas = x_new[i], t_new[i], betas[i]

    def _window_betas(self, frames: list[_Frame]) -> torch.Tensor:
        """Shape shared by the per-view samples of the window (mean of their regressions)."""
        per_view = [s.betas for f in frames if f.calib is None for s in f.views]
        return torch.stack(per_view).mean(0)

    @staticmethod
    def _moved_to(anchor: ViewState, state: ViewState) -> torch.Tensor:
        """The anchor's pose (144,) with its global orientation expressed in ``state``'s frame."""
        if anchor.pivot == state.pivot or anchor.to_ref is None or state.to_ref is None:
            return anchor.x
        rot = pose6d_to_rotmat(anchor.x.reshape(24, 6))
        R = state.to_ref[:3, :3].T @ anchor.to_ref[:3, :3]
        return rotmat_to_pose6d(torch.cat([(R @ rot[0])[None], rot[1:]])).reshape(-1)

    @staticmethod
    def _view_fields(frames: list[_Frame], samples) -> dict[str, torch.Tensor]:
        """Observations.view_* of every sample: a calibrated sample's views, else its own view alone."""
        Vmax = max(len(f.calib.views) if f.calib is not None else 1 for f in frames)
        B = len(samples)
        nk = samples[0][1].observation.keypoints.shape[0]
        T = torch.eye(4).repeat(B, Vmax, 1, 1)
        kp = torch.zeros(B, Vmax, nk, 2)
        conf = torch.zeros(B, Vmax, nk)
        K = torch.eye(3).repeat(B, Vmax, 1, 1)
        size = torch.ones(B, Vmax, 2)
        for i, (fi, s) in enumerate(samples):
            calib = frames[fi].calib
            views = calib.views if calib is not None else [s.observation]
            for v, o in enumerate(views):
                kp[i, v], conf[i, v] = o.keypoints, o.confidence
                K[i, v], size[i, v] = o.K.float(), o.image_size.float()
                if calib is not None:
                    T[i, v] = calib.pivot_to_view[v]
        return dict(
            view_transforms=T, view_keypoints=kp, view_confidence=conf, view_K=K, view_image_size=size
        )

    @torch.no_grad()
    def _errors_px(self, x, transl, betas, view_fields) -> torch.Tensor:
        """(B,) mean 2D error (px) over each sample's views and confident keypoints (the definition of
        the published per-view errors, ``FusedBody.view_errors_px``)."""
        rot = pose6d_to_rotmat(x.reshape(-1, 24, 6))
        kp3d = self.models.body_model.pose_keypoints(rot[:, 0], rot[:, 1:], betas, transl, LAYOUT)
        T = view_fields["view_transforms"]
        pts = torch.einsum("bvij,bkj->bvki", T[..., :3, :3], kp3d) + T[..., :3, 3].unsqueeze(2)
        B, V, K, _ = pts.shape
        uv = project(pts.reshape(B * V, K, 3), view_fields["view_K"].reshape(B * V, 3, 3)).reshape(B, V, K, 2)
        conf = view_fields["view_confidence"]
        w = (conf > CONFIDENT).to(uv.dtype)
        err = (uv - view_fields["view_keypoints"]).norm(dim=-1)
        return (err * w).sum((1, 2)) / w.sum((1, 2)).clamp(min=1e-9)

    def _flush_if_full(
        self, timings: dict[str, float], force: bool, sets_in_call: int = 1
    ) -> list[FusedBody]:
        out = []
        while self._free and (force or len(self._free) >= self.config.free_frames):
            frame = self._free.popleft()
            fused = self._publish_calibrated(frame, timings, sets_in_call) if frame.calib else None
            fused = fused or self._fuse(frame, timings, sets_in_call)
            c = self.config
            limit = c.max_body_error_rel if frame.calib is not None else c.max_view_error_rel
            if limit is not None and not body_agrees(fused, limit):
                self.bodies_rejected += 1  # not published, nor kept as the next frames' anchor
                self.rejected_stamps.append(frame.stamp_ns)
                continue
            for s in frame.views:
                self._anchor[s.camera] = s
                self._anchor_stamp[s.camera] = frame.stamp_ns
            out.append(fused)
        return out

    @torch.no_grad()
    def _publish_calibrated(self, frame: _Frame, timings: dict[str, float], sets_in_call: int) -> FusedBody:
        """The one sample of a calibrated set: in the reference frame, and per view in its camera."""
        bm = self.models.body_model
        calib = frame.calib
        s = frame.views[0]
        rot = pose6d_to_rotmat(s.x.reshape(24, 6))
        betas = s.betas
        eye = torch.eye(3)
        J0 = bm.skeleton(eye[None], rot[None, 1:], betas[None])[0, 0]
        pelvis_piv = s.transl + J0
        per_view = []
        errors = {}
        for v, (o, reg) in enumerate(zip(calib.views, calib.regressed, strict=True)):
            T = calib.pivot_to_view[v]
            orient_v = T[:3, :3] @ rot[0]
            transl_v = T[:3, :3] @ pelvis_piv + T[:3, 3] - J0
            x_v = rotmat_to_pose6d(torch.cat([orient_v[None], rot[1:]])).reshape(-1)
            kp = bm.pose_keypoints(orient_v[None], rot[None, 1:], betas[None], transl_v[None], LAYOUT)
            uv = project(kp, o.K[None].float())[0]
            w = o.confidence > CONFIDENT
            errors[o.camera] = float((uv - o.keypoints).norm(dim=-1)[w].mean()) if w.any() else float("nan")
            per_view.append(
                ViewState(
                    o.camera,
                    x_v,
                    transl_v,
                    betas,
                    reg.cond,
                    o,
                    reg.x_regressed,
                    reg.transl_regressed,
                    o.cam_to_ref.float(),
                )
            )
        if calib.reference is not None:
            name, to_out = calib.reference, calib.pivot_to_ref
        else:  # the reference frame has no known name yet: the pivot camera's own frame
            name, to_out = calib.pivot, torch.eye(4)
        orient = to_out[:3, :3] @ rot[0]
        rotations = torch.cat([orient[None], rot[1:]])
        pelvis = to_out[:3, :3] @ pelvis_piv + to_out[:3, 3]
        transl = pelvis - J0
        joints = bm.skeleton(rotations[None, 0], rotations[None, 1:], betas[None], transl[None])[0]
        out_from_ref = to_out @ torch.linalg.inv(calib.pivot_to_ref)
        tri = calib.triangulation.points @ out_from_ref[:3, :3].T + out_from_ref[:3, 3]
        quality = torch.tensor([e for e in errors.values() if e == e])
        fit = float(torch.exp(-quality / 25.0).mean()) if len(quality) else 0.0
        return FusedBody(frame.stamp_ns, name, rotations, betas, transl, joints, errors, fit, per_view,
                         dict(timings), sets_in_call, tri)  # fmt: skip

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
            T = torch.stack([s.observation.cam_to_ref for s in states]).float()
            frame_name = self._reference_name([s.observation for s in states])
            if frame_name is None:  # reference frame not known by name: the first view's camera frame
                frame_name = states[0].camera
                T = torch.linalg.inv(T[0]) @ T
            orient = roma.special_procrustes((T[:, :3, :3] @ rot[:, 0]).sum(0))
            pelvis = bm.skeleton(rot[:, 0], rot[:, 1:], betas.expand(len(states), -1), transl)[:, 0]
            pelvis_ref = (pelvis.unsqueeze(1) @ T[:, :3, :3].transpose(-1, -2)).squeeze(1) + T[:, :3, 3]
            target_pelvis = pelvis_ref.mean(0)
        else:
            # The configured reference camera when it has a view, else the first view (caller's order).
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


def _complete_fits(estimators: list[StreamingEstimator]) -> float:
    """Run the multi-view fits every estimator's new calibrated frames wait for, batched (one
    core.calibrated_fit.fit_bodies call per FitConfig), and complete those frames in order.
    Returns the seconds spent. A frame's fit starts from the last fit completed before the call."""
    t0 = time.perf_counter()
    waiting = [(est, f) for est in estimators for f in est._free if f.pending is not None]
    groups: dict = {}
    for est, f in waiting:
        groups.setdefault(est.config.fit, []).append((est, f))
    fits = {}
    for config, members in groups.items():
        bm = members[0][0].models.body_model
        for (_, f), fit in zip(
            members, fit_bodies(bm, [f.pending.job for _, f in members], config), strict=True
        ):
            fits[id(f)] = fit
    for est, f in waiting:
        est._complete_calibrated(f, fits[id(f)])
    return time.perf_counter() - t0


def process_people(
    jobs: list[tuple[StreamingEstimator, list[tuple[int, list[ViewInput]]]]],
) -> list[list[FusedBody]]:
    """Several estimators (one per tracked person), each with its consecutive sets (oldest first):
    every window is refined in ONE batched refine() call (one per distinct schedule / guidance,
    normally one; core.window_batch). Returns each estimator's bodies that became final, in order.
    ``timings['refinement_ms']`` of each body is the shared call's time."""
    prepared = []
    for est, sets in jobs:
        timings: dict[str, float] = {}
        prepared.append((est, timings, est._add_sets(sets, timings)))
    fit_s = _complete_fits([est for est, _, _ in prepared])
    for i, (est, timings, added) in enumerate(prepared):
        timings["fit_ms"] = 1000 * fit_s
        prepared[i] = (est, timings, added, est._window_batch() if added else None)
    refine_windows([batch for *_, batch in prepared if batch is not None])
    out = []
    for est, timings, added, batch in prepared:
        if batch is None:
            out.append(est._flush_if_full(timings, force=False))
            continue
        est._apply_window(batch)
        timings["refinement_ms"] = 1000 * batch.seconds
        out.append(est._flush_if_full(timings, force=False, sets_in_call=added))
    return out
