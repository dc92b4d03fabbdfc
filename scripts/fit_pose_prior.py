"""Fit SMPLify's pose prior: an 8-component full-covariance GMM over the 69-D body pose (axis-angle).

    .venv/bin/python scripts/fit_pose_prior.py [--samples 20000] [--seed 0] [--out PATH.npz]

Data: the TRAINING clips only (``sim.mocap.train_clips``: their raw frames plus
``augmented_training_poses(samples, seed)``); the held-out clips are never read. The body pose is the
23 non-root joints' local rotations as axis-angle (SMPL ``body_pose`` order, 3 numbers per joint),
the representation SMPLify's GMM uses. EM in float64 (k-means++ seeding, a few Lloyd steps, then EM);
``reg_covar`` is added to every covariance diagonal, which matters here: the retargeted mocap leaves
some joints (collars, wrists, hands, feet) at identity and hinges (knees, elbows) on one axis, so
those directions have zero variance in the data.

The result (``means (8, 69)``, ``covars (8, 69, 69)``, ``weights (8,)`` + metadata) is read by
``scorehmr_ros.eval.smplify.GMMPosePrior``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import roma
import torch

from scorehmr_ros.sim.mocap import augmented_training_poses, load_mocap, train_clips

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "gmm_pose_prior.npz"


def training_body_poses(samples: int, seed: int) -> torch.Tensor:
    """(N, 69) float64 axis-angle body poses of the training clips (raw frames + augmented)."""
    clips = train_clips(load_mocap())
    raw = torch.cat([c.rotations for c in clips.values()])
    aug = augmented_training_poses(samples, seed, clips)
    rot = torch.cat([raw, aug])[:, 1:].to(torch.float64)
    return roma.rotmat_to_rotvec(rot).reshape(-1, 69)


def _log_gauss(x: torch.Tensor, means: torch.Tensor, covars: torch.Tensor) -> torch.Tensor:
    """(N, K) log N(x | mean_k, cov_k)."""
    L = torch.linalg.cholesky(covars)  # (K, D, D)
    diff = x.unsqueeze(0) - means.unsqueeze(1)  # (K, N, D)
    sol = torch.linalg.solve_triangular(L, diff.transpose(1, 2), upper=False)  # (K, D, N)
    maha = (sol**2).sum(1)  # (K, N)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)  # (K,)
    D = x.shape[1]
    return (-0.5 * (maha + logdet[:, None] + D * math.log(2 * math.pi))).T


def fit_gmm(
    x: torch.Tensor, k: int = 8, iters: int = 200, reg_covar: float = 1e-3, seed: int = 0, tol: float = 1e-7
) -> dict[str, torch.Tensor]:
    """Full-covariance GMM by EM; returns means (k, D), covars (k, D, D), weights (k,), log-likelihood."""
    g = torch.Generator().manual_seed(seed)
    N, D = x.shape
    # k-means++ seeding and a few Lloyd iterations.
    centers = [x[torch.randint(0, N, (1,), generator=g)].squeeze(0)]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centers)).min(1).values ** 2
        centers.append(x[torch.multinomial(d2 / d2.sum(), 1, generator=g)].squeeze(0))
    means = torch.stack(centers)
    for _ in range(20):
        assign = torch.cdist(x, means).argmin(1)
        means = torch.stack([x[assign == j].mean(0) if (assign == j).any() else means[j] for j in range(k)])
    resp = torch.nn.functional.one_hot(torch.cdist(x, means).argmin(1), k).to(x.dtype)
    eye = torch.eye(D, dtype=x.dtype)
    prev = -math.inf
    ll = -math.inf
    for _ in range(iters):
        # M step
        nk = resp.sum(0) + 1e-10
        weights = nk / N
        means = (resp.T @ x) / nk[:, None]
        diff = x.unsqueeze(0) - means.unsqueeze(1)  # (k, N, D)
        covars = torch.einsum("kn,knd,kne->kde", resp.T, diff, diff) / nk[:, None, None] + reg_covar * eye
        # E step
        logp = _log_gauss(x, means, covars) + weights.log()
        lse = torch.logsumexp(logp, 1, keepdim=True)
        resp = (logp - lse).exp()
        ll = lse.mean().item()
        if abs(ll - prev) < tol * abs(ll):
            break
        prev = ll
    return {"means": means, "covars": covars, "weights": weights, "log_likelihood": torch.tensor(ll)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20000, help="augmented training poses")
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--reg-covar", type=float, default=1e-3, help="rad² added to every variance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    t0 = time.time()
    x = training_body_poses(args.samples, args.seed)
    gmm = fit_gmm(x, args.components, reg_covar=args.reg_covar, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        means=gmm["means"].numpy().astype(np.float32),
        covars=gmm["covars"].numpy().astype(np.float32),
        weights=gmm["weights"].numpy().astype(np.float32),
        representation=np.asarray("axis_angle_body_pose_69"),
        reg_covar=np.asarray(args.reg_covar),
        seed=np.asarray(args.seed),
        num_samples=np.asarray(x.shape[0]),
        source=np.asarray("train_clips raw frames + augmented_training_poses"),
    )
    print(
        f"fitted {args.components}-component GMM on {x.shape[0]} training poses in {time.time() - t0:.1f} s "
        f"(mean log-likelihood {gmm['log_likelihood'].item():.2f}, weights "
        f"{np.round(gmm['weights'].numpy(), 3).tolist()}) -> {args.out}"
    )


if __name__ == "__main__":
    main()
