"""Every preset, schedule and guidance weight in the project, defined once.

The node (``preset`` parameter), :class:`scorehmr_ros.Estimator`, the benchmark and the scripts
all read from here. ``docs/eval/tuning.json`` records how the schedules were chosen
(``scripts/tune_guidance.py`` on training-clip scenes); it is a record, not a second source.

Guidance weights and how their normalisation differs from the official ScoreHMR code
(github.com/statho/ScoreHMR, ``score_hmr/utils/guidance_losses.py``), so that the numbers here
are not mistaken for the paper's:

- ``keypoints`` (:func:`core.guidance.keypoint_reprojection`): Σ conf² · GMoF(σ = 100 px) as in
  the official code, but scaled by ``1000 / max(H, W)`` once; the official code multiplies by the
  *square* of that factor. At 640×480 ours is 1.56× the residual, theirs 2.44×: our 0.003 equals
  ≈ 0.0019 with their scaling.
- ``multiview`` (:func:`core.guidance.multiview_pose_consistency`): the official term is
  300² · Σ over views and the 23 body joints of ‖6D − mean‖²; ours is the same per sample divided
  by 23 (a mean over joints), so our 0.005 equals ≈ 0.0002 of theirs. The official multi-view
  evaluation runs this consistency term *alone* (no keypoint term); every multi-view schedule
  here keeps the keypoint term as well.
- ``temporal`` (:func:`core.guidance.temporal_smoothness`): ‖x̂0ⁿ − x̂0ⁿ⁻¹‖² on the 144-D pose,
  as the official ``smoothness_loss``; one previous-frame link per sample.
- ``multiview_calibrated``: not in the paper (3D keypoints of the views agree in a shared frame).
- ``keypoints_views`` (:func:`core.guidance.multiview_keypoint_reprojection`): calibrated rigs, one
  sample per frame: the ``keypoints`` term of the sample's keypoints projected into every view,
  summed over the views (same per-view normalisation, so one view with an identity transform is
  exactly ``keypoints``).
- ``temporal`` in units of time: the weight above is per frame at
  :data:`TEMPORAL_REFERENCE_INTERVAL_S`; the streaming estimator multiplies it by
  ``TEMPORAL_REFERENCE_INTERVAL_S / dt`` with dt the stamps' interval to the linked frame (a random
  walk prior: ‖Δx‖² / dt), so a frame at twice the rate is pulled twice as hard toward a
  predecessor half as far away, and the lag of the causal estimate in seconds does not depend on
  the frame rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from scorehmr_ros.core.calibrated_fit import FitConfig
from scorehmr_ros.core.refiner import RefineConfig

# -- guidance weights --------------------------------------------------------------------------
GUIDANCE_WEIGHTS: dict[str, float] = {
    "keypoints": 0.003,
    "multiview": 0.005,
    "multiview_calibrated": 1.0,
    "temporal": 30.0,
    "keypoints_views": 0.003,
}
# Frame interval (s) at which GUIDANCE_WEIGHTS["temporal"] is the per-frame weight (the held-out
# and training scenes were tuned with one frame per step at about 30 fps).
TEMPORAL_REFERENCE_INTERVAL_S = 1.0 / 30.0

# -- refinement schedules (τ, step, K on the 1000-step cosine schedule) ------------------------
# The paper's multi-view schedule; with our weights it diverges above guidance scale 0.3
# (docs/eval/tuning.json), so it is used only by the speed benchmark.
PAPER_MULTI_VIEW = RefineConfig(tau=100, step=10, iterations=2)
# The paper's single-view schedule: chosen by scripts/tune_guidance.py for every offline variant.
TUNED = RefineConfig(tau=50, step=2, iterations=10, guidance_scale=1.0)

# Offline variants (scorehmr_ros.eval.variants): which terms guide each, and its schedule.
VARIANT_TERMS: dict[str, tuple[str, ...]] = {
    "single": ("keypoints",),
    "multiview": ("keypoints", "multiview"),
    "temporal": ("keypoints", "temporal"),
    "combined": ("keypoints", "multiview", "temporal"),
}
# Multi-view variants share one body pose per instant inside the sampling loop (uncalibrated, the
# paper's setting; scripts/eval_shared_pose.py compares it with the pull toward the mean alone).
# K (a cap: samples stop early once their guidance loss settles) is 30 for single view and 20 for
# multi-view: the lowest training-clip MPJPE of scripts/tune_guidance.py with K 10 / 20 / 30
# (docs/eval/tuning_iterations.json; the gain there is <= 1 mm, on the held-out bench 2-8 mm,
# docs/eval/experiments/more_iterations/), at about 3.6x / 2.3x the time of K 10. The tuned scales
# are kept (single: 1.0; the training tuning's 0.3 at K 30 was 0.5 mm better and is unmeasured
# on held-out).
MAX_ITERATIONS_SINGLE = 30
MAX_ITERATIONS_MULTIVIEW = 20
VARIANT_SCHEDULES: dict[str, RefineConfig] = {
    "single": dataclasses.replace(TUNED, iterations=MAX_ITERATIONS_SINGLE),
    "multiview": dataclasses.replace(
        TUNED, guidance_scale=3.0, share_body_pose=True, iterations=MAX_ITERATIONS_MULTIVIEW
    ),
    "temporal": TUNED,
    "combined": dataclasses.replace(TUNED, share_body_pose=True),
}


def variant_weights(variant: str, weights: dict[str, float] | None = None) -> dict[str, float]:
    """``{term: weight}`` of an offline variant (from :data:`GUIDANCE_WEIGHTS` unless given)."""
    source = weights or GUIDANCE_WEIGHTS
    return {name: source[name] for name in VARIANT_TERMS[variant]}


# -- streaming presets (the node and Estimator) ------------------------------------------------
def _streaming_weights() -> dict[str, float]:
    return {
        "keypoints": GUIDANCE_WEIGHTS["keypoints"],
        "multiview": GUIDANCE_WEIGHTS["multiview"],
        "temporal": GUIDANCE_WEIGHTS["temporal"],
        "multiview_calibrated": 0.0,
        "keypoints_views": GUIDANCE_WEIGHTS["keypoints_views"],
    }


@dataclass(frozen=True)
class StreamingConfig:
    """How :class:`core.streaming.StreamingEstimator` refines a sliding window.

    free_frames: frames refined jointly; each is published ``free_frames - 1`` sets later.
    warm_start: start from the previous result plus the regressor's change since then.
    resolve_flips: choose each view's left/right labelling by agreement with the others (calibrated
        sets: by the triangulation residual of each labelling; uncalibrated: body-frame agreement).
    calibrated_fusion: calibrated sets with >= 2 usable views give ONE sample per frame (triangulated
        start, keypoints projected into every view); False: the older per-view refinement averaged
        in the reference frame (kept for comparison).
    body_pose_start: calibrated start's body pose: ``"fit"`` (the multi-view fit of
        :mod:`core.calibrated_fit` from the torso start: pose, orientation, position and shape fitted
        to every view's keypoints), ``"mean"`` (chordal mean of the views' regressions, no fit) or
        ``"pivot"`` (the conditioning view's regression).
    reject_outlier_views: calibrated sets: a view the robust triangulation rejected for a keypoint
        (reprojection residual) does not guide that keypoint, in the fit nor in the refinement.
    limb_length_tolerance: calibrated sets: triangulated keypoints whose bones (limbs, torso) are
        longer or shorter than the regressed shape's by more than this fraction (and 8 cm)
        (``core.triangulation.implausible_limbs``) are not triangulated, and the views that agreed
        on them do not guide them (e.g. two views holding someone else's legs); views the
        triangulation had rejected there still do. None (default): no check - on ordinary
        detector noise it flags right limbs next to a wrong root, with the regressed shape's
        lengths, and made the calibrated held-out error worse (docs/DEVELOPMENT.md).
    fit: the multi-view fit's settings (core.calibrated_fit.FitConfig).
    fit_memory_s: in a stream, the fit starts from the last fit's body pose when it is at most this
        old, and from the running mean of the fitted shapes (one person, one shape); 0: every set
        starts from the regressions.
    reference_camera: uncalibrated rigs publish in this camera's frame when it has a view in the set
        (else the set's first view, in the order the caller lists them, e.g. the node's ``cameras``).
    output_frame: name of the frame the views' ``cam_to_ref`` map into (calibrated rigs), unless a
        view names it (``ViewInput.reference``). With neither, the camera whose ``cam_to_ref`` is the
        identity names it once seen; before that, bodies are published in a camera's own frame.
    temporal_interval_s: frame interval at which ``weights["temporal"]`` is the per-frame weight.
    cold_start_guard: a sample with no previous frame keeps its start (the regressor's, or the
        triangulated one) when refinement made its 2D error worse.
    max_body_error_rel: calibrated sets: the one body is not published (nor kept as the next
        frame's anchor) when its keypoints' mean reprojection error in the median view exceeds this
        fraction of that view's keypoint bounding-box diagonal, or it lies behind a camera that
        sees it (``core.streaming.body_agrees``): the views contradict it. None: publish every body.
        Uncalibrated views are each refined on their own keypoints, so reprojection cannot show a
        contradiction there: they get the looser ``max_view_error_rel`` instead.
    max_view_error_rel: uncalibrated sets (one view, or views each refined on their own keypoints):
        the body is not published when its own fit's mean reprojection error in the median view
        exceeds this fraction of that view's keypoint bounding-box diagonal, or it is not finite or
        lies behind a camera (``core.streaming.body_agrees``): keypoints no body explains, e.g. a
        sample that diverged on garbage input (errors of tens of image sizes). Looser than the
        calibrated check: a single view cannot tell a wrong body from wrong keypoints, and on the
        held-out ``hard`` corruption the fits reach 0.31 (scripts/eval_fit_error_guard.py). None: off.
    view_weight_tolerance: calibrated sets: the multi-view fit weighs each view by how well it
        agrees with the triangulation (``core.triangulation.view_weights``; a view whose median
        residual relative to the person's size there is this many times the views' median counts
        half); None: every view counts fully. An occluded view holding parts of a neighbour keeps
        placing keypoints a little elsewhere, within the triangulation's limit.
    triangulation_residual_px / _rel / _min_px: the robust triangulation's reprojection limit per
        view: ``_rel`` times the person's size there (diagonal of its confident keypoints' box),
        clamped to [``_min_px``, ``_px``]; ``_rel`` None: ``_px`` in every view. Probes (three- and
        five-camera MediaPipe renders, a three-person scene, synthetic noise; DEVELOPMENT.md):
        0.04 with the view weights, against neither, about kept the synthetic limb error (28.9 ->
        29.4 mm), lowered the MediaPipe one (38.3 -> 37.9 mm with 3 cameras, 32.7 -> 30.2 with 5)
        and the occluded middle person's MPJPE (40.4 -> 30.6 mm).
    calibrated_refine: the schedule of windows holding calibrated one-sample frames (None: ``refine``).
        Those samples start from the multi-view fit and are guided by every view at once: a shallow
        inversion with small steps (τ 10, step 1; ``realtime``: τ 5) keeps the fit's accuracy and
        adds the prior and the temporal term; deeper or coarser schedules let the summed keypoint
        guidance overshoot (see DEVELOPMENT.md, "Calibrated rigs: the multi-view fit").
    """

    refine: RefineConfig = field(default_factory=lambda: PAPER_MULTI_VIEW)
    weights: dict = field(default_factory=_streaming_weights)
    free_frames: int = 1
    warm_start: bool = True
    resolve_flips: bool = True
    calibrated_fusion: bool = True
    body_pose_start: str = "fit"
    reference_camera: str | None = None
    output_frame: str | None = None
    temporal_interval_s: float = TEMPORAL_REFERENCE_INTERVAL_S
    cold_start_guard: bool = True
    calibrated_refine: RefineConfig | None = None
    reject_outlier_views: bool = True
    limb_length_tolerance: float | None = None
    fit: FitConfig = field(default_factory=FitConfig)
    fit_memory_s: float = 0.5
    max_body_error_rel: float | None = 0.1
    max_view_error_rel: float | None = 0.5
    view_weight_tolerance: float | None = 2.0
    triangulation_residual_px: float = 20.0
    triangulation_residual_rel: float | None = 0.04
    triangulation_residual_min_px: float = 4.0


PRESETS: dict[str, StreamingConfig] = {
    # Camera rate on a CPU: τ = 50 with step 10, K = 2, warm-started from the previous result moved
    # by the regressor's frame-to-frame change; each set published as soon as it is refined.
    # Calibrated rigs refine one sample per frame with five small steps (calibrated_refine; τ 10
    # costs more time for a small gain on synthetic noise, DEVELOPMENT.md).
    # Uncalibrated multi-view sets share one body pose per set inside the sampling loop.
    "realtime": StreamingConfig(
        RefineConfig(tau=50, step=10, iterations=2, share_body_pose=True),
        free_frames=1,
        warm_start=True,
        calibrated_refine=RefineConfig(tau=5, step=1, iterations=1),
    ),
    # The tuned single-view schedule (τ = 50, step 2, K = 10) with two free frames refined jointly.
    "quality": StreamingConfig(
        dataclasses.replace(TUNED, share_body_pose=True),
        free_frames=2,
        warm_start=False,
        calibrated_refine=RefineConfig(tau=10, step=1, iterations=2),
    ),
}
DEFAULT_PRESET = "realtime"


def get_preset(name: str) -> StreamingConfig:
    """The streaming preset ``name``; KeyError naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def one_shot(config: StreamingConfig) -> StreamingConfig:
    """``config`` for one image or one set with no history: published at once, no warm start."""
    return dataclasses.replace(config, free_frames=1, warm_start=False)
