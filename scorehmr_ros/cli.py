"""``scorehmr-estimate IMAGE [IMAGE ...] [--focal F] [--preset P] --out DIR``.

Per image: ``<stem>_overlay.png`` (the estimated mesh over the photo, detected and fitted keypoints,
a legend) and ``<stem>.json`` (the bodies: pose, shape, translation, joints in the camera frame,
per-view fit error, and the intrinsics used). Without ``--focal`` the focal length is the image
diagonal in pixels (≈ 53° diagonal field of view), the principal point the image centre.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from scorehmr_ros.core.presets import PRESETS


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read an image from {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scorehmr-estimate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--focal", type=float, default=None, help="focal length in pixels")
    parser.add_argument("--preset", default="quality", choices=sorted(PRESETS))
    parser.add_argument("--body-model", default=None, help="SMPL .pkl/.npz (default: the synthetic model)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from scorehmr_ros.api import Estimator, default_focal, intrinsics_matrix
    from scorehmr_ros.viz.overlay import body_overlay

    args.out.mkdir(parents=True, exist_ok=True)
    estimator = Estimator.from_pretrained(preset=args.preset, body_model_path=args.body_model)
    faces = np.asarray(estimator.models.body_model.faces)
    failures = 0
    for path in tqdm(args.images, desc="images", disable=len(args.images) < 2):
        try:
            image = _read_rgb(path)
        except ValueError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        h, w = image.shape[:2]
        K = intrinsics_matrix(args.focal or default_focal(w, h), w, h)
        bodies = estimator.estimate_image(image, K, vertices=True)
        overlay = image
        for body in bodies:
            fit = body.views["camera"]
            overlay = body_overlay(
                overlay, body.vertices, faces, K, fit.keypoints, fit.confidence, fit.projected
            )
        if not bodies:
            overlay = body_overlay(image, None, faces, K, legend=False)
            cv2.putText(overlay, "no person found", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
        png = args.out / f"{path.stem}_overlay.png"
        cv2.imwrite(str(png), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        record = {
            "image": str(path),
            "image_size": [w, h],
            "K": K.tolist(),
            "preset": args.preset,
            "body_model": estimator.models.body_model.source,
            "bodies": [{k: v for k, v in b.to_dict().items() if k != "vertices"} for b in bodies],
        }
        (args.out / f"{path.stem}.json").write_text(json.dumps(record, indent=1))
        errors = ", ".join(f"{b.views['camera'].error_px:.1f} px" for b in bodies) or "no person"
        print(f"{path}: {len(bodies)} body(ies), fit {errors} -> {png}")
    estimator.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
