"""Train the per-view keypoint regressor on synthetic views of the TRAINING clips (CPU, seeded).

    .venv/bin/python scripts/train_regressor.py [--steps 10000] [--corruption mild|realistic]
        [--lying-weight 1] [--init STAGE1.pt] [--lr 1e-3] [--seed 0] [--out scorehmr_ros/data/regressor.pt]

Each step samples augmented training poses (held-out clips never enter; frames lying more than
60 degrees from upright weighted ``--lying-weight``), random betas, a random camera and
detector-like keypoint corruption (scorehmr_ros.sim.view_sampling): ``mild`` = the default
detector model for every view; ``realistic`` = each eighth of a batch at a random level from mild
to ``HEAVY_TRAINING`` (noise, outliers, missing keypoints, lower body dropped, left/right swaps;
half the chunks mild). ``--init`` fine-tunes a checkpoint instead of starting fresh (the shipped
regressor: stage 1 mild, stage 2 realistic from it; README, "Trained weights"). Losses: rotation
matrices (MSE), root-relative camera-frame joints (L1, m), betas (MSE). Held-out accuracy:
scripts/eval_regressor.py, scripts/compare_regressors.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.body_model import load_body_model
from scorehmr_ros.core.checkpoint import build_from_checkpoint, save_checkpoint
from scorehmr_ros.core.regressor import DEFAULT_WEIGHTS, KeypointRegressor, RegressorConfig
from scorehmr_ros.sim.mocap import augmented_training_poses
from scorehmr_ros.sim.view_sampling import CorruptionRange, sample_views

CORRUPTIONS = {"mild": None, "realistic": CorruptionRange()}


def regressor_loss(body_model, model, views):
    pred = model(views.keypoints, views.confidence, views.cameras.K)
    rot = ((pred.rotations - views.rotations) ** 2).sum((-1, -2)).mean()
    j_pred = body_model.skeleton(pred.rotations[:, 0], pred.rotations[:, 1:], pred.betas)
    j_gt = body_model.skeleton(views.rotations[:, 0], views.rotations[:, 1:], views.betas)
    j_pred, j_gt = j_pred - j_pred[:, :1], j_gt - j_gt[:, :1]
    joints = (j_pred - j_gt).abs().sum(-1).mean()
    betas = ((pred.betas - views.betas) ** 2).mean()
    total = rot + 5.0 * joints + 0.05 * betas
    return total, {"rot": rot.item(), "joints_m": joints.item(), "betas": betas.item()}


def train_regressor(
    body_model,
    pool,
    steps: int,
    batch: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    desc="regressor",
    corruption: CorruptionRange | None = None,
    init: Path | None = None,
):
    """Train a KeypointRegressor on views of ``pool`` (N, 24, 3, 3) poses; returns it in eval mode.
    ``corruption``: None = the mild default detector model. ``init``: start from this checkpoint
    (fine-tuning) instead of a fresh model."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if init is None:
        model = KeypointRegressor(RegressorConfig())
    else:
        model, _ = build_from_checkpoint(init, KeypointRegressor, RegressorConfig)
        model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    bar = tqdm(range(steps), desc=desc, mininterval=5)
    for _ in bar:
        idx = torch.randint(0, pool.shape[0], (batch,), generator=gen)
        views = sample_views(body_model, pool[idx], gen, corruption)
        loss, parts = regressor_loss(body_model, model, views)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", joint_l1_mm=f"{parts['joints_m'] * 1000:.0f}")
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--pool", type=int, default=60000, help="augmented training poses to draw from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corruption", choices=sorted(CORRUPTIONS), default="realistic")
    parser.add_argument("--lying-weight", type=float, default=1.0)
    parser.add_argument("--init", type=Path, default=None, help="fine-tune this checkpoint (stage 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args()

    body_model = load_body_model()
    print(f"building {args.pool} augmented training poses ...", flush=True)
    pool = augmented_training_poses(args.pool, seed=args.seed, lying_weight=args.lying_weight)
    t0 = time.time()
    model = train_regressor(
        body_model, pool, args.steps, args.batch, args.lr, args.seed,
        corruption=CORRUPTIONS[args.corruption],
        init=args.init,
    )  # fmt: skip
    print(f"regressor: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        args.out,
        model,
        model.cfg,
        {
            "steps": args.steps,
            "batch": args.batch,
            "seed": args.seed,
            "corruption": args.corruption,
            "lying_weight": args.lying_weight,
            "init": None if args.init is None else str(args.init),
            "lr": args.lr,
            "train_seconds": time.time() - t0,
        },
    )
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) after {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
