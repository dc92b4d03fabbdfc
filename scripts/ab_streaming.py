"""A/B timing of the streaming estimator (a benchmark): run it once per checkout and compare.

    .venv/bin/python scripts/ab_streaming.py LABEL [--calibrated]              # this working tree
    cd /path/to/other/worktree && /repo/.venv/bin/python -c "import runpy, sys; \
        sys.argv = ['ab', 'OTHER', '--calibrated']; \
        runpy.run_path('/repo/scripts/ab_streaming.py', run_name='__main__')"

The second form imports the other worktree's package: ``python -c`` puts the current directory
first on ``sys.path``. ``PYTHONPATH`` does not: the venv's editable install of this checkout wins.

One held-out 3-camera scene (30 frames, keypoints with the default corruption), the ``realtime``
preset, uncalibrated (``--calibrated``: the cameras' extrinsics given, one body per set in the
world frame), ONNX Runtime denoiser, one thread: median ms per ``process()`` call after 5 warm-up
sets. Prints one line; nothing is written.
"""

import statistics
import sys
import time

import torch

from scorehmr_ros.core.engines import make_denoiser
from scorehmr_ros.core.models import ScoreHMRModels
from scorehmr_ros.core.streaming import StreamingEstimator, ViewInput
from scorehmr_ros.eval.heldout import heldout_scenes

try:  # the presets moved to core.presets
    from scorehmr_ros.core.presets import PRESETS
except ImportError:
    from scorehmr_ros.core.streaming import PRESETS


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--calibrated"]
    calibrated = "--calibrated" in sys.argv[1:]
    label = args[0] if args else "tree"
    torch.set_num_threads(1)
    models = ScoreHMRModels.load()
    engine = make_denoiser(models.denoiser, backend="onnxruntime")
    scene = heldout_scenes(models.body_model, num_views=3, seed=3, frame_stride=1, max_frames=30)[0]
    est = StreamingEstimator(models, PRESETS["realtime"], engine)
    world_to_cam = torch.eye(4).repeat(scene.num_views, 1, 1)
    world_to_cam[:, :3, :3], world_to_cam[:, :3, 3] = scene.cameras.R.float(), scene.cameras.t.float()
    cam_to_world = torch.linalg.inv(world_to_cam)
    seconds = []
    for t in range(scene.num_frames):
        views = [
            ViewInput(f"cam{v + 1}", scene.keypoints2d[t, v].float(), scene.confidence[t, v].float(),
                      scene.cameras.K[v].float(), scene.cameras.image_size[v].float(),
                      cam_to_world[v] if calibrated else None, "world" if calibrated else None)
            for v in range(scene.num_views)
        ]  # fmt: skip
        t0 = time.perf_counter()
        est.process(t * 33_000_000, views)
        seconds.append(time.perf_counter() - t0)
    mode = "calibrated" if calibrated else "uncalibrated"
    p50 = 1000 * statistics.median(seconds[5:])
    print(f"{label} ({mode}): ms per set p50 {p50:.1f} over {len(seconds) - 5} sets")


if __name__ == "__main__":
    main()
