"""Camera rigs unlike the training rigs, for end-to-end evaluation (no ROS).

The regressor and the prior were trained on :func:`scorehmr_ros.sim.scene.random_cameras` rigs:
640x480 images, upright cameras, 0.5-2.5 m high. :func:`unusual_rig` keeps the same placement
rules but mixes what a real robot cell has:

* view 0: a 1920x1080 wide-angle camera (horizontal field of view ``wide_hfov_deg``, the person
  small in the image);
* view 1 (with 2+ views): an upright 640x480 camera rolled by 90 degrees about its optical axis
  (a portrait 480x640 image; "up" in the image is the world's horizontal);
* the others: 640x480 as in training;
* every camera 0.8-2.5 m high (``height_range``).

Use it through ``make_scene(..., rig=unusual_rig)``. Conventions are ``core.camera``'s.
"""

from __future__ import annotations

import math

import torch

from scorehmr_ros.core.camera import PinholeCameras, intrinsics
from scorehmr_ros.sim.scene import random_cameras

WIDE_IMAGE_SIZE = (1920, 1080)
# Roll by 90 degrees about the optical (z) axis, applied to camera-frame points: (x, y, z) -> (y, -x, z).
ROLL_90 = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def unusual_rig(
    num_views: int,
    generator: torch.Generator | None = None,
    target=(0.0, 0.9, 0.0),
    *,
    image_size: tuple[int, int] = (640, 480),
    height_range: tuple[float, float] = (0.8, 2.5),
    wide_hfov_deg: float = 100.0,
    **kwargs,
) -> PinholeCameras:
    """A rig of ``num_views`` cameras as :func:`random_cameras` places them (``kwargs`` pass
    through), with view 0 wide-angle 1920x1080 and view 1 rolled by 90 degrees (module docstring).

    Returns ``PinholeCameras`` whose ``image_size`` differs per view (float32)."""
    base = random_cameras(
        num_views, generator, target, image_size=image_size, height_range=height_range, **kwargs
    )
    K, R, t, size = (x.clone() for x in (base.K, base.R, base.t, base.image_size))
    w, h = WIDE_IMAGE_SIZE
    f = 0.5 * w / math.tan(math.radians(wide_hfov_deg) / 2)
    K[0] = intrinsics(torch.tensor([f]), torch.tensor([f]), torch.tensor([w / 2]), torch.tensor([h / 2]))[0]
    size[0] = torch.tensor([float(w), float(h)])
    if num_views > 1:
        R[1], t[1] = ROLL_90 @ R[1], ROLL_90 @ t[1]
        (fx, fy), (cx, cy) = K[1].diagonal()[:2], K[1, :2, 2]
        pw, ph = float(size[1, 1]), float(size[1, 0])  # portrait: width and height swap
        # The optical axis does not move: its offset from the image centre rotates with the image.
        new_c = ROLL_90[:2, :2] @ torch.stack([cx - size[1, 0] / 2, cy - size[1, 1] / 2])
        K[1] = intrinsics(
            fy.reshape(1), fx.reshape(1), (pw / 2 + new_c[0]).reshape(1), (ph / 2 + new_c[1]).reshape(1)
        )[0]
        size[1] = torch.tensor([pw, ph])
    return PinholeCameras(K=K, R=R, t=t, image_size=size)
