"""Lens distortion of ROS ``sensor_msgs/CameraInfo`` (numpy + OpenCV, no ROS import).

Detections are made on the camera's raw image, whose pixels follow ``K`` *and* the distortion
coefficients ``D``; everything downstream (regression, guidance, triangulation) assumes an ideal
pinhole camera ``K``. :class:`Distortion` maps keypoints between the two: :meth:`Distortion.undistort`
(raw image px -> ideal px with the same ``K``, on input) and :meth:`Distortion.distort` (ideal px ->
raw image px, to draw fits over the raw image).

Models (``CameraInfo.distortion_model`` and the order of ``D``, as ``camera_calibration`` writes them
and OpenCV reads them):

- ``plumb_bob``: (k1, k2, p1, p2, k3) radial-tangential (OpenCV's 4-, 5-coefficient model);
- ``rational_polynomial``: (k1, k2, p1, p2, k3, k4, k5, k6) (OpenCV's 8-coefficient model);
- ``equidistant``: (k1, k2, k3, k4) fisheye, Kannala-Brandt (``cv2.fisheye``).

Undistortion is iterative in OpenCV; :data:`UNDISTORT_CRITERIA` asks for more iterations than
OpenCV's default (5), which leaves pixels of error near the corners of wide-angle lenses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (model name, accepted coefficient counts)
MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (4, 5),
    "rational_polynomial": (8,),
    "equidistant": (4,),
}
UNDISTORT_ITERATIONS = 50
UNDISTORT_EPS = 1e-10


def _criteria():
    import cv2

    return (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, UNDISTORT_ITERATIONS, UNDISTORT_EPS)


@dataclass(frozen=True)
class Distortion:
    """A camera's lens distortion: ``model`` (a key of :data:`MODELS`) and its ``coefficients``."""

    model: str
    coefficients: tuple[float, ...]

    def __post_init__(self) -> None:
        problem = distortion_problem(self.model, self.coefficients)
        if problem is not None:
            raise ValueError(problem)

    @classmethod
    def from_camera_info(cls, model: str, coefficients) -> Distortion | None:
        """The distortion of a CameraInfo (``distortion_model``, ``d``); None when it has none: no
        coefficients, or all zero in a model where that is the pinhole camera (every model but
        ``equidistant``, whose zero coefficients still map angles, not tangents, to the image).
        ValueError when unusable (unknown model, wrong count, non-finite)."""
        d = tuple(float(c) for c in np.asarray(coefficients, dtype=np.float64).ravel())
        if not d or (model != "equidistant" and all(c == 0.0 for c in d)):
            return None
        return cls(model, d)

    @property
    def is_fisheye(self) -> bool:
        return self.model == "equidistant"

    def _coefficients(self) -> np.ndarray:
        return np.asarray(self.coefficients, dtype=np.float64)

    def undistort(self, xy: np.ndarray, K: np.ndarray) -> np.ndarray:
        """Raw image pixels (N, 2) -> ideal pinhole pixels (N, 2) of the same ``K`` (3, 3).
        Non-finite rows stay NaN; so do points the fisheye model cannot invert."""
        import cv2

        xy = np.asarray(xy, dtype=np.float64)
        out = np.full(xy.shape, np.nan)
        ok = np.isfinite(xy).all(-1)
        if not ok.any():
            return out
        src = np.ascontiguousarray(xy[ok].reshape(-1, 1, 2))
        K = np.asarray(K, dtype=np.float64)
        if self.is_fisheye:
            dst = cv2.fisheye.undistortPoints(
                src, K, self._coefficients(), R=np.eye(3), P=K, criteria=_criteria()
            )
        else:
            dst = cv2.undistortPoints(src, K, self._coefficients(), R=None, P=K, criteria=_criteria())
        out[ok] = dst.reshape(-1, 2)
        out[~np.isfinite(out).all(-1)] = np.nan
        return out

    def distort(self, xy: np.ndarray, K: np.ndarray) -> np.ndarray:
        """Ideal pinhole pixels (N, 2) of ``K`` (3, 3) -> raw image pixels (N, 2) (the inverse of
        :meth:`undistort`: what ``cv2.projectPoints`` gives for the same ray)."""
        import cv2

        xy = np.asarray(xy, dtype=np.float64)
        out = np.full(xy.shape, np.nan)
        ok = np.isfinite(xy).all(-1)
        if not ok.any():
            return out
        K = np.asarray(K, dtype=np.float64)
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        normalised = np.stack([(xy[ok, 0] - cx) / fx, (xy[ok, 1] - cy) / fy], axis=-1)
        if self.is_fisheye:
            dst = cv2.fisheye.distortPoints(normalised.reshape(-1, 1, 2), K, self._coefficients())
        else:
            rays = np.concatenate([normalised, np.ones((len(normalised), 1))], axis=-1)
            zero = np.zeros(3)
            dst, _ = cv2.projectPoints(rays.reshape(-1, 1, 3), zero, zero, K, self._coefficients())
        out[ok] = dst.reshape(-1, 2)
        return out


def distortion_problem(model: str, coefficients) -> str | None:
    """Why (``model``, ``coefficients``) cannot be used, or None."""
    if model not in MODELS:
        return f"distortion model {model!r} is not supported (supported: {', '.join(MODELS)})"
    d = np.asarray(coefficients, dtype=np.float64).ravel()
    if len(d) not in MODELS[model]:
        counts = " or ".join(str(n) for n in MODELS[model])
        return f"distortion model {model!r} takes {counts} coefficients, got {len(d)}"
    if not np.isfinite(d).all():
        return f"distortion coefficients are not finite: {d.tolist()}"
    return None
