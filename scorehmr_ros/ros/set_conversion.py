"""One synchronised camera set -> a validated compute job (the multi-camera node's input side).

:class:`SetConverter` caches each camera's CameraInfo and the extrinsics on ``/tf_static``
(executor thread) and turns a set of messages into a :class:`~scorehmr_ros.ros.compute.SetJob`
(dispatcher thread): stamps checked, each camera's frame ids, intrinsics and lens distortion
checked (ros/validation.py), images (raw or JPEG/PNG-compressed) decoded, keypoint messages
converted. Raw cameras (the default) pass CameraInfo's K (with its ROI and binning) and
distortion on, and the estimator undistorts the keypoints; with ``rectified_input`` the
intrinsics are P's left 3x3 and there is no distortion. Every rejected view goes through
``drop(camera, reason, detail, dropped)``, which counts it on the camera's diagnostics and logs
it; the other cameras' views are kept. numpy only (no torch in the ROS process).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.core.distortion import Distortion
from scorehmr_ros.msg import Keypoints2DArray
from scorehmr_ros.ros import validation
from scorehmr_ros.ros.compute import SetJob, ViewJob
from scorehmr_ros.ros.image_conversion import ImageConversionError, compressed_imgmsg_to_rgb, imgmsg_to_cv2
from scorehmr_ros.ros.messages import keypoints_from_msg
from scorehmr_ros.ros.node_diagnostics import NodeMetrics
from scorehmr_ros.ros.sync import stamp_to_ns
from scorehmr_ros.ros.tf import static_transforms

LAYOUT = "blazepose33"
NUM_KEYPOINTS = 33

Drop = Callable[..., None]  # drop(camera, reason, detail, dropped=True)


class SetConverter:
    """Input caches and per-set conversion. ``params``: the node's live parameter dict (read for
    ``use_extrinsics``, ``rectified_input``, ``max_stamp_age_s``, ``max_stamp_future_s``)."""

    def __init__(
        self,
        cameras: list[str],
        params: dict,
        metrics: NodeMetrics,
        drop: Drop,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.cameras = list(cameras)
        self.p = params
        self.metrics = metrics
        self.drop = drop
        self.warn = warn or (lambda text: None)
        self.camera_info: dict[str, CameraInfo] = {}
        self.static_tf: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, 4x4 child->parent)

    def reset(self) -> None:
        """Forget cached CameraInfo and extrinsics (cleanup)."""
        self.camera_info = {}
        self.static_tf = {}

    # -- executor thread ----------------------------------------------------------------------
    def on_info(self, camera: str, msg: CameraInfo) -> None:
        self.camera_info[camera] = msg

    def on_static_tf(self, msg: TFMessage) -> None:
        """Keep /tf_static's transforms; one tf2 would reject is ignored (the frame keeps the
        transform it had, if any), counted as ``bad_transforms`` and logged."""
        problems: list[tuple[str, str]] = []
        self.static_tf.update(static_transforms(msg, problems))
        for _child, detail in problems:
            self.metrics.count("bad_transforms")
            self.warn(f"/tf_static: ignoring a {detail}")

    # -- dispatcher thread --------------------------------------------------------------------
    def frame_id(self, camera: str) -> str:
        """The camera's optical frame as its CameraInfo names it (the camera name before any)."""
        info = self.camera_info.get(camera)
        return info.header.frame_id if info is not None else camera

    def cam_to_ref(self) -> tuple[dict[str, np.ndarray | None], str | None]:
        """Each camera's 4x4 transform into the fixed frame the calibrated cameras share on
        /tf_static, and that frame's name (None: uncalibrated). Cameras lacking extrinsics while
        others have them are absent (their views are dropped)."""
        if not self.p["use_extrinsics"]:
            return dict.fromkeys(self.cameras), None
        frames = {c: m.header.frame_id for c, m in self.camera_info.items()}
        cam_to_ref, missing, fixed = validation.calibrated_cameras(self.cameras, frames, self.static_tf)
        if not cam_to_ref:
            return dict.fromkeys(self.cameras), None  # no extrinsics at all: uncalibrated (paper) mode
        return {c: cam_to_ref.get(c) for c in self.cameras if c not in missing}, fixed

    def set_job(self, messages, images: dict, now_ns: int) -> SetJob | None:
        """Validated, converted views of one synchronised set (``messages`` in camera order, None
        for a missing camera); decoded images go into ``images`` for the overlays. None: dropped."""
        newest = max(stamp_to_ns(m.header.stamp) for m in messages if m is not None)
        present = [c for c, m in zip(self.cameras, messages, strict=True) if m is not None]
        problem = validation.check_stamp(
            newest, now_ns, self.p["max_stamp_age_s"], self.p["max_stamp_future_s"]
        )
        if problem is not None:  # e.g. waited in the queue past max_stamp_age_s
            self.metrics.count("dropped_stamp")
            for cam in present:
                self.drop(cam, "stale_set", f"set {problem[1]}")
            return None
        cam_to_ref, fixed_frame = self.cam_to_ref()
        views = []
        for cam, msg in zip(self.cameras, messages, strict=True):
            if msg is None:
                continue
            if cam not in cam_to_ref:
                self.drop(
                    cam, "no_extrinsics", "frame missing from /tf_static while other cameras have extrinsics"
                )
                continue
            view = self._view_job(cam, msg, images, cam_to_ref[cam])
            if view is not None:
                view.reference = fixed_frame
                views.append(view)
        if not views:
            self.metrics.count("no_person")
            return None
        return SetJob(newest, views)

    def _keypoints(self, cam: str, msg, dropped: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """(33, 2) px and (33,) confidence of one Keypoints2D; None when it is unusable. NaN/inf
        keypoints are zero-weighted (counted, the view kept)."""
        try:
            xy, conf = keypoints_from_msg(msg)
        except ValueError as exc:
            self.drop(cam, "bad_keypoints", str(exc), dropped)
            return None
        problem = validation.check_keypoints(msg.layout, xy, conf, LAYOUT, NUM_KEYPOINTS)
        if problem is not None:
            self.drop(cam, *problem, dropped)
            return None
        bad = validation.nonfinite_keypoints(xy, conf)
        if bad:
            self.drop(cam, "nonfinite_keypoints", f"{bad} NaN/inf keypoints zero-weighted", False)
        return np.asarray(xy), np.asarray(conf)

    def _view_job(self, cam: str, msg, images: dict, cam_to_ref) -> ViewJob | None:
        info = self.camera_info.get(cam)
        if info is None:
            self.drop(cam, "no_camera_info", "no CameraInfo received yet")
            return None
        rectified = bool(self.p["rectified_input"])
        intrinsics = validation.rectified_intrinsics(info.p) if rectified else info.k
        for problem in (
            validation.check_frame_id(info.header.frame_id),
            validation.check_frame_id(msg.header.frame_id),
            validation.check_intrinsics(intrinsics, int(info.width), int(info.height)),
            None if rectified else validation.check_distortion(info.distortion_model, info.d),
            validation.check_binning_roi(info),
        ):
            if problem is not None:
                self.drop(cam, *problem)
                return None
        K, size = validation.binned_roi_camera(intrinsics, info)
        lens = None if rectified else Distortion.from_camera_info(info.distortion_model, info.d)
        view = ViewJob(cam, K, size, cam_to_ref=cam_to_ref, distortion=lens)
        if isinstance(msg, Image | CompressedImage):
            try:
                if isinstance(msg, Image):
                    view.image = imgmsg_to_cv2(msg, "rgb8")
                else:
                    view.image = compressed_imgmsg_to_rgb(msg)
            except ImageConversionError as exc:
                self.drop(cam, "bad_image", str(exc))
                return None
            problem = validation.check_image_size(view.image.shape[1::-1], size)  # decoded size
            if problem is not None:
                self.drop(cam, *problem)
                return None
            images[cam] = view.image
            return view
        if isinstance(msg, Keypoints2DArray):  # every valid person; invalid ones dropped, view kept
            view.people = [kp for kp in (self._keypoints(cam, p, False) for p in msg.people) if kp]
            return view
        keypoints = self._keypoints(cam, msg, True)
        if keypoints is None:
            return None
        view.keypoints, view.confidence = keypoints
        return view
