"""SMPLify baseline (SPIN's variant) on the same inputs as ScoreHMR, with single / multi-view / temporal
/ combined flavours, vectorised over a whole scene (all frames × views at once). No ROS.

What it optimises (SPIN, ``smplify/smplify.py``, adapted to full-perspective camera-frame bodies):

* Stage 1 (``camera_iters`` Adam steps, lr 1e-2): global orientation + camera-frame translation, body
  pose and betas fixed; loss = conf² · ‖π(torso keypoints) − detections‖² over the BlazePose shoulders
  and hips + ``depth_weight``² · (t_z − t_z,init)² (keeps the depth near the initial estimate).
* Stage 2 (``body_iters`` Adam steps, lr 1e-2): body pose, betas, global orientation, translation;
  loss = Σ_k conf_k² · GMoF_σ=100px(π(X_k) − x_k) over the 33 keypoints
  + 4.78² · GMM pose prior (max-mixture negative log-likelihood, SMPLify's) of the 69-D body pose
  + 15.2² · Σ exp(−flexion)² over knees and elbows (SMPLify's bending prior: flexion along
  ``sim.mocap.HINGE_AXES``, so only bending the wrong way is penalised) + 5² · ‖β‖²
  (+ temporal smoothness, below). SPIN freezes the (weak-perspective) camera in stage 2; here the
  camera is fixed and the body's translation is optimised instead, as the brief asks.

Rotations are optimised as **axis-angle** (SMPLify's parameterisation; the GMM and the bending prior
read it directly) and turned into matrices with ``roma.rotvec_to_rotmat`` for the body model; the
joints-only ``BodyModel.pose_keypoints`` is evaluated once per Adam step, never the mesh.

Variants (sample b = t * V + v, frame-major, as ``eval.variants``):

* ``single``: every view-frame has its own body pose, orientation, translation and betas.
* ``multiview``: per-view global orientation + translation; ONE body pose per frame shared by all its
  views (initialised to the chordal mean of the views' regressed body poses) and betas per frame.
* ``temporal``: per-sample parameters, betas shared by a view's frames, plus
  ``temporal_weight`` · ‖6D(R_n) − 6D(R_{n−1})‖² over consecutive frames of a view (all 24 joints,
  global orientation included, the same quantity as ScoreHMR's temporal term).
* ``combined``: shared body pose per frame + one set of betas + the temporal term.
* ``calibrated`` (:func:`run_smplify_calibrated`): the cameras' extrinsics are known, so ONE body per
  frame lives in the fixed (world) frame - orientation, body pose and translation - and its keypoints
  are projected into every view (the data term is summed over views); one set of betas per scene.
  No depth term (calibrated views fix the depth). The start is the node's calibrated start
  (:func:`calibrated_start`: the regressions' mean body, placed by a rigid fit to the triangulated
  torso).

The starting betas follow ScoreHMR's policy (``eval.variants.shared_betas``), and the betas are
optimised per group of that policy. Inputs are never modified.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import roma
import torch

from scorehmr_ros.core.body_model import rotmat_to_pose6d
from scorehmr_ros.core.camera import project
from scorehmr_ros.core.guidance import gmof
from scorehmr_ros.core.keypoints import TORSO_KEYPOINT_NAMES, get_layout
from scorehmr_ros.core.presets import TEMPORAL_REFERENCE_INTERVAL_S
from scorehmr_ros.core.skeleton import JOINT_INDEX
from scorehmr_ros.eval.variants import VariantResult, flat_cameras, shared_betas
from scorehmr_ros.sim.mocap import HINGE_AXES
from scorehmr_ros.sim.scene import Scene

SMPLIFY_VARIANTS = ("single", "multiview", "temporal", "combined")
TORSO_KEYPOINTS = TORSO_KEYPOINT_NAMES
_PRIOR_FILE = "gmm_pose_prior.npz"


# --------------------------------------------------------------------------------------------
# Priors
# --------------------------------------------------------------------------------------------
def default_prior_path() -> Path:
    try:
        p = Path(str(resources.files("scorehmr_ros") / "data" / _PRIOR_FILE))
        if p.exists():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[1] / "data" / _PRIOR_FILE


class GMMPosePrior(torch.nn.Module):
    """Gaussian mixture over the 69-D axis-angle body pose (fitted by ``scripts/fit_pose_prior.py``)."""

    def __init__(self, means: torch.Tensor, covars: torch.Tensor, weights: torch.Tensor):
        super().__init__()
        means, covars, weights = (torch.as_tensor(a, dtype=torch.float64) for a in (means, covars, weights))
        chol = torch.linalg.cholesky(covars)
        precisions = torch.cholesky_inverse(chol)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        D = means.shape[-1]
        # SMPLify's per-component constant: −log(w_k / ((2π)^{D/2} √det Σ_k)).
        const = -torch.log(weights) + 0.5 * logdet + 0.5 * D * np.log(2 * np.pi)
        self.register_buffer("means", means.float())
        self.register_buffer("precisions", precisions.float())
        self.register_buffer("const", const.float())

    @classmethod
    def load(cls, path: str | Path | None = None) -> GMMPosePrior:
        with np.load(default_prior_path() if path is None else path, allow_pickle=False) as z:
            return cls(
                torch.from_numpy(z["means"]), torch.from_numpy(z["covars"]), torch.from_numpy(z["weights"])
            )

    @property
    def num_components(self) -> int:
        return int(self.means.shape[0])

    def component_nll(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, K): 0.5 (θ−μ_k)ᵀ Σ_k⁻¹ (θ−μ_k) − log(w_k N_k-normaliser) for pose (B, 69)."""
        diff = pose.unsqueeze(1) - self.means  # (B, K, D)
        quad = torch.einsum("bki,kij,bkj->bk", diff, self.precisions, diff)
        return 0.5 * quad + self.const

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """(B,) SMPLify's max-mixture negative log-likelihood: min over components."""
        return self.component_nll(pose).min(dim=1).values

    def nll(self, pose: torch.Tensor) -> torch.Tensor:
        """(B,) exact negative log-likelihood −log Σ_k w_k N(θ | μ_k, Σ_k)."""
        return -torch.logsumexp(-self.component_nll(pose), dim=1)


def bending_prior(body_pose_aa: torch.Tensor) -> torch.Tensor:
    """(B,) SMPLify's angle prior Σ exp(−flexion)² over knees and elbows; body_pose_aa (B, 69)."""
    aa = body_pose_aa.reshape(-1, 23, 3)
    idx = [JOINT_INDEX[n] - 1 for n in HINGE_AXES]
    axes = torch.tensor(list(HINGE_AXES.values()), dtype=aa.dtype, device=aa.device)
    flexion = (aa[:, idx] * axes).sum(-1)  # positive = anatomical flexion
    return torch.exp(-flexion).pow(2).sum(-1)


# --------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SMPLifyConfig:
    camera_iters: int = 100
    body_iters: int = 100
    lr: float = 1e-2
    sigma: float = 100.0  # GMoF scale (px)
    pose_prior_weight: float = 4.78
    angle_prior_weight: float = 15.2
    shape_prior_weight: float = 5.0
    depth_weight: float = 100.0  # SPIN's depth_loss_weight (squared in the loss)
    # Weight of Σ‖6D(R_n) − 6D(R_{n−1})‖² in px² units: ScoreHMR's temporal / keypoint weight ratio
    # (30 / (0.003 · 1000 / 640) ≈ 6.4e3) for the 640-px images of the held-out scenes.
    temporal_weight: float = 6.4e3
    layout: str = "blazepose33"


@dataclass
class SMPLifyResult(VariantResult):
    """``VariantResult`` + optimisation counters. body_calls: batched body-model evaluations;
    body_evals: per-sample evaluations; loss: (B,) final stage-2 data term (conf²·GMoF, px²)."""

    body_calls: int = 0
    body_evals: int = 0
    loss: torch.Tensor | None = None
    history: list[float] = field(default_factory=list)


def project_views(points: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) points seen by V cameras each (K, R (B, V, 3, 3), t (B, V, 3)) -> (B, V, N, 2) px."""
    B, V = R.shape[:2]
    cam = torch.einsum("bvij,bnj->bvni", R, points) + t.unsqueeze(2)
    return project(cam.reshape(B * V, -1, 3), K.reshape(B * V, 3, 3)).reshape(B, V, -1, 2)


def _group_mean_rotation(rot: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Chordal mean (G, ..., 3, 3) of rotations (B, ..., 3, 3) sharing ``group`` (B,)."""
    flat = rot.reshape(rot.shape[0], -1)
    sums = torch.zeros(num_groups, flat.shape[1], dtype=rot.dtype).index_add(0, group, flat)
    return roma.special_procrustes(sums.reshape(num_groups, *rot.shape[1:]))


def _dense(group: torch.Tensor) -> tuple[torch.Tensor, int]:
    uniq, inverse = torch.unique(group, return_inverse=True)
    return inverse, len(uniq)


def smplify(
    body_model,
    rotations: torch.Tensor,
    betas: torch.Tensor,
    transl: torch.Tensor,
    keypoints: torch.Tensor,
    confidence: torch.Tensor,
    K: torch.Tensor,
    *,
    pose_group: torch.Tensor | None = None,
    beta_group: torch.Tensor | None = None,
    prev_index: torch.Tensor | None = None,
    config: SMPLifyConfig | None = None,
    prior: GMMPosePrior | None = None,
    extrinsics: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> SMPLifyResult:
    """Fit B bodies to keypoints (two stages, see the module docstring).

    rotations (B, 24, 3, 3), betas (B, nb), transl (B, 3): the initial estimate (camera frame).
    keypoints (B, 33, 2) px, confidence (B, 33), K (B, 3, 3).
    extrinsics: ``(R (B, V, 3, 3), t (B, V, 3))`` world -> camera of V calibrated views per body; the
    bodies (and the initial estimate) are then in the world frame and keypoints (B, V, 33, 2),
    confidence (B, V, 33), K (B, V, 3, 3); the data terms sum over the views; no depth term.
    pose_group (B,): samples with the same id share ONE body pose (default: all distinct).
    beta_group (B,): samples with the same id share betas (default: all distinct); the initial betas
    of a group are their mean. prev_index (B,): batch index of the same view's previous frame, −1 if
    none; enables the temporal term. Returns an ``SMPLifyResult`` (rotations/betas/transl per sample).
    """
    cfg = config or SMPLifyConfig()
    prior = prior or GMMPosePrior.load()
    t0 = time.perf_counter()
    B = rotations.shape[0]
    ar = torch.arange(B)
    pg, n_pose = _dense(ar if pose_group is None else pose_group)
    bg, n_beta = _dense(ar if beta_group is None else beta_group)
    kp, conf, K = keypoints.detach(), confidence.detach().clamp(min=0), K.detach()
    if extrinsics is None:  # one view per body, in its camera frame
        kp, conf, K = kp.unsqueeze(1), conf.unsqueeze(1), K.unsqueeze(1)
        R_ext = torch.eye(3).expand(B, 1, 3, 3)
        t_ext = torch.zeros(B, 1, 3)
        depth_weight = cfg.depth_weight
    else:
        R_ext, t_ext = (e.detach().float() for e in extrinsics)
        depth_weight = 0.0
    layout = get_layout(cfg.layout)
    torso = torch.tensor([layout.keypoint_names.index(n) for n in TORSO_KEYPOINTS])

    rot0 = rotations.detach().to(torch.float32)
    go = roma.rotmat_to_rotvec(rot0[:, 0]).clone().requires_grad_(True)
    body0 = _group_mean_rotation(rot0[:, 1:], pg, n_pose)  # (G, 23, 3, 3)
    bp = roma.rotmat_to_rotvec(body0).reshape(n_pose, 69).clone()
    b0 = torch.zeros(n_beta, betas.shape[1]).index_add(0, bg, betas.detach().float())
    b0 = b0 / torch.zeros(n_beta).index_add(0, bg, torch.ones(B)).unsqueeze(-1)
    bt = b0.clone()
    tr = transl.detach().float().clone().requires_grad_(True)
    tz0 = tr[:, 2].detach().clone()
    linked = None if prev_index is None else prev_index >= 0
    counts = {"calls": 0, "evals": 0}

    def keypoints3d(go_, bp_, bt_, tr_):
        counts["calls"] += 1
        counts["evals"] += B
        R_go = roma.rotvec_to_rotmat(go_)
        R_bp = roma.rotvec_to_rotmat(bp_.reshape(-1, 23, 3))[pg]
        kp3d = body_model.pose_keypoints(R_go, R_bp, bt_[bg], tr_, cfg.layout)
        return kp3d, R_go, R_bp

    def pixels(kp3d):  # (B, N, 3) -> (B, V, N, 2)
        return project_views(kp3d, K, R_ext, t_ext)

    # Stage 1: orientation + translation on the torso keypoints, depth kept near the init.
    opt = torch.optim.Adam([go, tr], lr=cfg.lr)
    for _ in range(cfg.camera_iters):
        kp3d, _, _ = keypoints3d(go, bp, bt, tr)
        uv = pixels(kp3d[:, torso])
        reproj = (conf[..., torso] ** 2 * ((uv - kp[..., torso, :]) ** 2).sum(-1)).sum((1, 2))
        loss = (reproj + depth_weight**2 * (tr[:, 2] - tz0) ** 2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # Stage 2: everything, full data term + priors (+ temporal smoothness).
    bp.requires_grad_(True)
    bt.requires_grad_(True)
    opt = torch.optim.Adam([bp, bt, go, tr], lr=cfg.lr)
    history: list[float] = []
    data = torch.zeros(B)
    for _ in range(cfg.body_iters):
        kp3d, R_go, R_bp = keypoints3d(go, bp, bt, tr)
        uv = pixels(kp3d)
        data = (conf**2 * gmof(uv - kp, cfg.sigma).sum(-1)).sum((1, 2))  # (B,)
        loss = data.sum()
        loss = loss + cfg.pose_prior_weight**2 * prior(bp).sum()
        loss = loss + cfg.angle_prior_weight**2 * bending_prior(bp).sum()
        loss = loss + cfg.shape_prior_weight**2 * (bt**2).sum()
        if linked is not None and linked.any() and cfg.temporal_weight > 0:
            x6 = rotmat_to_pose6d(torch.cat([R_go.unsqueeze(1), R_bp], 1)).reshape(B, -1)
            diff = (x6 - x6[prev_index.clamp(min=0)]) ** 2
            loss = loss + cfg.temporal_weight * (diff.sum(-1) * linked).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))

    with torch.no_grad():
        R_go = roma.rotvec_to_rotmat(go)
        R_bp = roma.rotvec_to_rotmat(bp.reshape(-1, 23, 3))[pg]
        rot = torch.cat([R_go.unsqueeze(1), R_bp], 1)
        res_betas = bt[bg].detach().clone()
        res_transl = tr.detach().clone()
    seconds = time.perf_counter() - t0
    return SMPLifyResult(
        rotations=rot,
        betas=res_betas,
        transl=res_transl,
        seconds=seconds,
        denoiser_calls=0,
        body_calls=counts["calls"],
        body_evals=counts["evals"],
        loss=data.detach(),
        history=history,
    )


def variant_groups(scene: Scene, variant: str) -> dict[str, torch.Tensor | None]:
    """pose_group / beta_group / prev_index of ``variant`` for a scene's frame-major batch."""
    if variant not in SMPLIFY_VARIANTS:
        raise KeyError(f"unknown SMPLify variant {variant!r}; known: {SMPLIFY_VARIANTS}")
    T, V = scene.num_frames, scene.num_views
    t_idx = torch.arange(T).repeat_interleave(V)
    v_idx = torch.arange(V).repeat(T)
    shared_pose = variant in ("multiview", "combined")
    temporal = variant in ("temporal", "combined")
    beta_group = {
        "single": torch.arange(T * V),
        "multiview": t_idx,
        "temporal": v_idx,
        "combined": torch.zeros(T * V, dtype=torch.long),
    }[variant]
    prev = torch.where(t_idx > 0, (t_idx - 1) * V + v_idx, torch.full_like(t_idx, -1)) if temporal else None
    return {"pose_group": t_idx if shared_pose else None, "beta_group": beta_group, "prev_index": prev}


def run_smplify(
    body_model,
    scene: Scene,
    reg,
    variant: str = "single",
    config: SMPLifyConfig | None = None,
    prior: GMMPosePrior | None = None,
) -> SMPLifyResult:
    """SMPLify ``variant`` on a scene from the regressor's estimate ``reg`` (``eval.heldout.Regressed``).

    Same starting point as ScoreHMR (rotations, ``shared_betas`` betas, translation), same keypoints,
    confidences and intrinsics. ``seconds`` includes the regression time, like ``run_variant``.
    The temporal weight is per second like ScoreHMR's (``TEMPORAL_REFERENCE_INTERVAL_S /
    scene.frame_interval_s`` times ``config.temporal_weight``).
    """
    T, V = scene.num_frames, scene.num_views
    groups = variant_groups(scene, variant)
    config = config or SMPLifyConfig()
    if groups["prev_index"] is not None and scene.frame_interval_s:
        per_second = TEMPORAL_REFERENCE_INTERVAL_S / scene.frame_interval_s
        config = dataclasses.replace(config, temporal_weight=config.temporal_weight * per_second)
    res = smplify(
        body_model,
        reg.rotations,
        shared_betas(reg.betas, scene, variant),
        reg.transl,
        scene.keypoints2d.reshape(T * V, -1, 2),
        scene.confidence.reshape(T * V, -1),
        flat_cameras(scene).K,
        config=config,
        prior=prior,
        **groups,
    )
    res.seconds += reg.seconds
    return res


@torch.no_grad()
def calibrated_start(body_model, scene: Scene, reg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One world-frame body per frame, started as the node starts a calibrated set:
    (rotations (T, 24, 3, 3), betas (T, nb), transl (T, 3)).

    Body pose = chordal mean of the views' regressions and betas = their mean over the scene, each
    view weighted by its mean keypoint confidence (an undetected view weighs nothing). Orientation
    and pelvis = the rigid fit of that body's torso keypoints to the robust DLT of the torso
    (``core.triangulation``); a frame with fewer than 3 torso keypoints triangulated falls back to
    the weighted chordal mean of the views' orientations ``R_v^T R_orient`` and mean pelvis."""
    from scorehmr_ros.core.triangulation import rigid_fit
    from scorehmr_ros.eval.streaming import triangulate_frame

    T, V = scene.num_frames, scene.num_views
    R, t = scene.cameras.R.float(), scene.cameras.t.float()
    rot = reg.rotations.float().reshape(T, V, 24, 3, 3)
    w = scene.confidence.float().mean(-1).clamp(min=1e-6)  # (T, V)
    orient = roma.special_procrustes((w[..., None, None] * (R.transpose(-1, -2) @ rot[:, :, 0])).sum(1))
    body = roma.special_procrustes((w[..., None, None, None] * rot[:, :, 1:]).sum(1))
    wf = w.reshape(-1, 1)
    betas = ((wf * reg.betas.float()).sum(0) / wf.sum()).expand(T, -1).clone()
    pelvis_cam = body_model.skeleton(reg.rotations[:, 0], reg.rotations[:, 1:], reg.betas, reg.transl)[:, 0]
    pelvis_world = torch.einsum("vji,tvj->tvi", R, pelvis_cam.reshape(T, V, 3) - t)
    pelvis = (w.unsqueeze(-1) * pelvis_world).sum(1) / w.sum(1, keepdim=True)
    names = get_layout("blazepose33").keypoint_names
    torso = torch.tensor([names.index(n) for n in TORSO_KEYPOINTS])
    eye = torch.eye(3).expand(T, 3, 3)
    kp0 = body_model.pose_keypoints(eye, body, betas, None, "blazepose33")[:, torso]  # (T, 4, 3)
    j0 = body_model.skeleton(eye, body, betas)[:, 0]  # rest pelvis (any orientation)
    for f in range(T):
        tri = triangulate_frame(scene, f)[torso]
        ok = torch.isfinite(tri).all(-1)
        if int(ok.sum()) >= 3:
            orient[f], shift = rigid_fit(kp0[f][ok], tri[ok], torch.ones(int(ok.sum())))
            pelvis[f] = orient[f] @ j0[f] + shift
    transl = pelvis - j0
    return torch.cat([orient.unsqueeze(1), body], 1), betas, transl


def run_smplify_calibrated(
    body_model,
    scene: Scene,
    reg,
    config: SMPLifyConfig | None = None,
    prior: GMMPosePrior | None = None,
) -> SMPLifyResult:
    """SMPLify with known extrinsics: one WORLD-frame body per frame fitted to all its views (see the
    module docstring); betas shared by the scene. Returns (T,)-batched world-frame parameters;
    ``seconds`` includes the regression time."""
    T, V = scene.num_frames, scene.num_views
    rotations, betas, transl = calibrated_start(body_model, scene, reg)
    cams = scene.cameras
    res = smplify(
        body_model,
        rotations,
        betas,
        transl,
        scene.keypoints2d.float(),
        scene.confidence.float(),
        cams.K.float().expand(T, V, 3, 3),
        beta_group=torch.zeros(T, dtype=torch.long),
        config=config,
        prior=prior,
        extrinsics=(cams.R.float().expand(T, V, 3, 3), cams.t.float().expand(T, V, 3)),
    )
    res.seconds += reg.seconds
    return res
