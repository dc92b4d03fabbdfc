"""Input checks of the multi-camera node as pure functions (no DDS, no node): each returns None for
acceptable input or a ``(reason, detail)`` pair; the node drops the view/set, logs the detail
(throttled) and counts ``reason`` on the camera's /diagnostics status.

Intrinsics must be plausible for the image size: focal lengths within
[``MIN_FOCAL_FRACTION``, ``MAX_FOCAL_FRACTION``] x the larger image side (a field of view between
about 3 and 157 degrees), an aspect ratio fy/fx within [0.5, 2], the principal point inside the
image, and the last row (0, 0, 1). A principal point far outside the image or a focal length of
1e-6 would otherwise put a body hundreds of metres away (and the warm start would carry it on).
Lens distortion must be one the node undistorts (``core.distortion``), or none at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from scorehmr_ros.core.distortion import Distortion

MIN_FOCAL_FRACTION = 0.1
MAX_FOCAL_FRACTION = 20.0
MAX_ASPECT = 2.0

Problem = tuple[str, str] | None


def check_intrinsics(k: Sequence[float], width: int, height: int) -> Problem:
    """CameraInfo ``k`` (row-major 3x3) against the image size ``width`` x ``height``."""
    if width <= 0 or height <= 0:
        return "bad_intrinsics", f"CameraInfo image size {width}x{height}"
    K = np.asarray(k, dtype=np.float64)
    if K.size != 9:
        return "bad_intrinsics", f"CameraInfo K has {K.size} values"
    K = K.reshape(3, 3)
    if not np.isfinite(K).all():
        return "bad_intrinsics", f"CameraInfo K is not finite: {K.ravel().tolist()}"
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    side = max(width, height)
    lo, hi = MIN_FOCAL_FRACTION * side, MAX_FOCAL_FRACTION * side
    if not (lo <= fx <= hi and lo <= fy <= hi):
        return (
            "bad_intrinsics",
            f"focal lengths fx={fx:.6g}, fy={fy:.6g} px outside [{lo:.0f}, {hi:.0f}] for a "
            f"{width}x{height} image",
        )
    if not 1.0 / MAX_ASPECT <= fy / fx <= MAX_ASPECT:
        return "bad_intrinsics", f"focal aspect fy/fx = {fy / fx:.3g} outside [0.5, 2]"
    if not (0.0 <= cx <= width and 0.0 <= cy <= height):
        return (
            "bad_intrinsics",
            f"principal point ({cx:.6g}, {cy:.6g}) outside the {width}x{height} image",
        )
    if not np.allclose(K[2], (0.0, 0.0, 1.0)):
        return "bad_intrinsics", f"CameraInfo K last row {K[2].tolist()} (expected [0, 0, 1])"
    return None


def rectified_intrinsics(p) -> np.ndarray:
    """The 3x3 intrinsics of a rectified image: CameraInfo ``p`` (row-major 3x4) without its last
    column (a stereo pair's baseline term); NaN when ``p`` does not have 12 values."""
    P = np.asarray(p, dtype=np.float64).ravel()
    if P.size != 12:
        return np.full((3, 3), np.nan)
    return P.reshape(3, 4)[:, :3]


def check_distortion(model: str, coefficients) -> Problem:
    """CameraInfo ``distortion_model`` and ``d``: none (no or all-zero coefficients), or a model
    :mod:`scorehmr_ros.core.distortion` undistorts with the right number of finite coefficients."""
    try:
        Distortion.from_camera_info(model, coefficients)
    except ValueError as exc:
        return "bad_distortion", f"CameraInfo {exc}"
    return None


def _roi(info) -> tuple[int, int, int, int]:
    """(x_offset, y_offset, width, height) of CameraInfo's ROI; the whole image when it is unset
    (all zero or zero-sized, as REP-104 allows)."""
    r = info.roi
    if int(r.width) == 0 or int(r.height) == 0:
        return 0, 0, int(info.width), int(info.height)
    return int(r.x_offset), int(r.y_offset), int(r.width), int(r.height)


def _binning(info) -> tuple[int, int]:
    return max(int(info.binning_x), 1), max(int(info.binning_y), 1)  # 0 means 1 (REP-104)


def check_binning_roi(info) -> Problem:
    """CameraInfo ``roi`` inside the calibrated ``width`` x ``height`` and at least one binned pixel."""
    x0, y0, w, h = _roi(info)
    bx, by = _binning(info)
    if x0 + w > int(info.width) or y0 + h > int(info.height) or w // bx < 1 or h // by < 1:
        return (
            "bad_intrinsics",
            f"CameraInfo roi {w}x{h}+{x0}+{y0} binned {bx}x{by} does not fit the "
            f"{info.width}x{info.height} calibration",
        )
    return None


def binned_roi_camera(k, info) -> tuple[np.ndarray, tuple[int, int]]:
    """Intrinsics (3, 3) and (width, height) of the image a camera publishes with CameraInfo's
    ``roi`` and ``binning_x/y`` (REP-104; what image_geometry's camera model does): the calibrated
    ``k`` (3x3 row-major, full resolution) shifted by the ROI offset and divided by the binning.
    The lens distortion is the same function of these pixels (normalised coordinates do not change)."""
    K = np.asarray(k, dtype=np.float64).reshape(3, 3).copy()
    x0, y0, w, h = _roi(info)
    bx, by = _binning(info)
    K[0, 2] -= x0
    K[1, 2] -= y0
    K[0] /= bx
    K[1] /= by
    return K, (w // bx, h // by)


def check_frame_id(frame_id: str) -> Problem:
    """A header frame id usable as a TF frame: non-empty, no surrounding blanks, no leading '/'."""
    if not frame_id or not frame_id.strip():
        return "bad_frame_id", "empty header.frame_id"
    if frame_id != frame_id.strip() or frame_id.startswith("/"):
        return "bad_frame_id", f"frame_id {frame_id!r} (tf2 frame ids have no blanks or leading '/')"
    return None


def check_stamp(stamp_ns: int, now_ns: int, max_age_s: float, max_future_s: float) -> Problem:
    """The stamp window (the one copy, used per message and per set): not older than ``max_age_s``
    and not further in the future than ``max_future_s`` relative to ``now_ns`` (the ROS clock)."""
    offset_s = (stamp_ns - now_ns) / 1e9
    if offset_s > max_future_s:
        return "bad_stamp", f"stamped {offset_s:+.2f} s from now (more than {max_future_s} s ahead)"
    if offset_s < -max_age_s:
        return "bad_stamp", f"stamped {offset_s:+.2f} s from now (older than {max_age_s} s)"
    return None


def check_image_size(image_size: tuple[int, int], info_size: tuple[int, int]) -> Problem:
    if tuple(image_size) != tuple(info_size):
        return (
            "size_mismatch",
            f"image {image_size[0]}x{image_size[1]} vs CameraInfo {info_size[0]}x{info_size[1]}",
        )
    return None


def check_keypoints(
    layout: str, xy: np.ndarray, confidence: np.ndarray, expected_layout: str, count: int
) -> Problem:
    """Layout name and keypoint count (NaN/inf keypoints are not a drop, see :func:`nonfinite_keypoints`)."""
    if layout != expected_layout:
        return "bad_keypoints", f"layout '{layout}' (expected {expected_layout})"
    if len(confidence) != count or np.shape(xy) != (count, 2):
        return "bad_keypoints", f"{len(confidence)} keypoints (expected {count})"
    return None


def nonfinite_keypoints(xy: np.ndarray, confidence: np.ndarray) -> int:
    """Number of keypoints with a NaN/inf coordinate or confidence (zero-weighted, not dropped)."""
    return int((~np.isfinite(xy).all(-1) | ~np.isfinite(confidence)).sum())


def calibrated_cameras(
    cameras: Sequence[str], frame_ids: Mapping[str, str], static_tf: Mapping[str, tuple[str, np.ndarray]]
) -> tuple[dict[str, np.ndarray], list[str], str | None]:
    """Extrinsics of the cameras against /tf_static.

    ``frame_ids``: camera -> optical frame id (cameras without CameraInfo yet are left out);
    ``static_tf``: child frame -> (parent frame, 4x4 child->parent). Returns
    ``(cam_to_ref, missing, fixed_frame)``: the calibrated cameras are those under the parent frame
    most of them share (``fixed_frame``, where calibrated bodies are published); ``cam_to_ref`` maps
    each of them to its 4x4 transform into that frame. ``missing`` lists the cameras (with a frame
    id) that lack extrinsics while others have them: they are to be dropped, not to switch everyone
    to the uncalibrated mode. With no extrinsics at all: ``({}, [], None)`` (uncalibrated mode).
    """
    entries = {c: static_tf.get(frame_ids[c]) for c in cameras if c in frame_ids}
    parents = [e[0] for e in entries.values() if e is not None]
    if not parents:
        return {}, [], None
    parent = max(dict.fromkeys(parents), key=parents.count)
    calibrated = [c for c in cameras if entries.get(c) is not None and entries[c][0] == parent]
    cam_to_ref = {c: entries[c][1] for c in calibrated}
    missing = [c for c in cameras if c in entries and c not in cam_to_ref]
    return cam_to_ref, missing, parent
