"""Experiment: a real photo (scikit-image's astronaut) estimated with and without MoveNet's limbs.

One image, `Estimator.estimate_image` with the `quality` preset and `limb_model` "none" or
"movenet_thunder": the body's mean 2D error to the keypoints it was fitted to (px). There is no
3D truth for the photo; the figure says how consistent each keypoint set is with the body model.

    .venv/bin/python docs/eval/experiments/movenet/photo_fit.py
"""

from __future__ import annotations

from pathlib import Path

from scorehmr_ros.provenance import write_artefact

ROOT = Path(__file__).resolve().parents[4]


def main() -> int:
    import skimage.data

    from scorehmr_ros import Estimator

    image = skimage.data.astronaut()
    fit_px = {}
    for limb_model in ("none", "movenet_thunder"):
        est = Estimator.from_pretrained(preset="quality", limb_model=limb_model)
        bodies = est.estimate_image(image)
        fit_px[limb_model] = [float(b.views["camera"].error_px) for b in bodies]
        print(limb_model, fit_px[limb_model], flush=True)
    write_artefact(
        ROOT / "docs/eval/experiments/movenet/photo_fit.json",
        "astronaut photo: fit error (px) of the estimated body to its keypoints, BlazePose's vs "
        "MoveNet's limbs (docs/eval/experiments/movenet/photo_fit.py)",
        {"preset": "quality"},
        fit_px=fit_px,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
