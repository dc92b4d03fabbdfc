"""Train the diffusion prior ε_φ(x_t, t, c) over SMPL pose on the TRAINING clips (CPU, seeded).

    .venv/bin/python scripts/train_prior.py [--steps 20000] [--width 512] [--out PATH]
        [--corruption mild|realistic] [--init PRIOR.pt] [--lr 3e-4]

x0 = the camera-frame pose (24 × 6D) of a random view of an augmented training pose; c = the
frozen regressor's features of that view's corrupted keypoints (``mild``: the mild detector model
for every view; ``realistic``: the regressor's stage-2 mix, ``CorruptionRange``). ``--init``
fine-tunes an existing prior (e.g. the shipped one on the current regressor's features).
T = 1000 cosine schedule, ε-prediction, L2 loss, Adam with gradient clipping, EMA of the weights
(the EMA is what ships).
Reports the held-out denoising loss of the EMA model at a few noise levels at the end.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from tqdm import tqdm

from scorehmr_ros.core.body_model import load_body_model, rotmat_to_pose6d
from scorehmr_ros.core.checkpoint import save_checkpoint
from scorehmr_ros.core.denoiser import DEFAULT_WEIGHTS, Denoiser, DenoiserConfig, load_denoiser
from scorehmr_ros.core.diffusion import Schedule
from scorehmr_ros.core.regressor import load_regressor
from scorehmr_ros.sim.mocap import augmented_training_poses, heldout_clips, load_mocap
from scorehmr_ros.sim.view_sampling import CorruptionRange, sample_views

CORRUPTIONS = {"mild": None, "realistic": CorruptionRange()}


def make_batch(body_model, regressor, poses, gen, corruption=None):
    views = sample_views(body_model, poses, gen, corruption)
    with torch.no_grad():
        cond = regressor(views.keypoints, views.confidence, views.cameras.K).features
    return rotmat_to_pose6d(views.rotations).reshape(len(views), -1), cond


@torch.no_grad()
def heldout_denoising_loss(model, schedule, x0, cond, levels=(10, 50, 100, 500), seed=123):
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for level in levels:
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.full((x0.shape[0],), level, dtype=torch.long)
        out[level] = ((model(schedule.add_noise(x0, noise, t), t, cond) - noise) ** 2).mean().item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--pool", type=int, default=100000, help="augmented training poses to draw from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--corruption", choices=sorted(CORRUPTIONS), default="mild")
    parser.add_argument("--init", type=Path, help="start from this prior checkpoint (same width/blocks)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    body_model = load_body_model()
    regressor = load_regressor()
    print(f"building {args.pool} augmented training poses ...", flush=True)
    pool = augmented_training_poses(args.pool, seed=args.seed + 1)
    cfg = DenoiserConfig(cond_dim=regressor.cfg.feature_dim, width=args.width, num_blocks=args.blocks)
    model = Denoiser(cfg)
    if args.init is not None:
        model.load_state_dict(load_denoiser(args.init).state_dict())
    corruption = CORRUPTIONS[args.corruption]
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    schedule = Schedule.cosine(1000)
    print(f"denoiser: {model.num_parameters() / 1e6:.2f} M parameters ({cfg})", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.02)

    held = torch.cat([c.rotations for c in heldout_clips(load_mocap()).values()])
    held_x0, held_c = make_batch(body_model, regressor, held, torch.Generator().manual_seed(99))

    t0 = time.time()
    bar = tqdm(range(args.steps), desc="prior", mininterval=5)
    for step in bar:
        idx = torch.randint(0, pool.shape[0], (args.batch,), generator=gen)
        x0, cond = make_batch(body_model, regressor, pool[idx], gen, corruption)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, schedule.num_steps, (args.batch,), generator=gen)
        loss = ((model(schedule.add_noise(x0, noise, t), t, cond) - noise) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1 - args.ema)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    held_loss = heldout_denoising_loss(ema, schedule, held_x0, held_c)
    print("held-out ε-MSE of the EMA model by timestep:", {k: round(v, 4) for k, v in held_loss.items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    extra = {
        "steps": args.steps,
        "seed": args.seed,
        "corruption": args.corruption,
        "init": None if args.init is None else str(args.init),
        "lr": args.lr,
        "train_seconds": time.time() - t0,
        "heldout_eps_mse": held_loss,
    }
    save_checkpoint(args.out, ema, cfg, extra)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) after {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
