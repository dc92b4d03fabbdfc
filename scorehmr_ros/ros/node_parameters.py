"""Parameters of the multi-camera node: specs, start-up arguments in rcl's precedence, update checks.

Precedence is rcl's own: the package defaults (``config/multiview.yaml`` from the package share /
source checkout, never the working directory) are passed as the FIRST ``--params-file``; the
user's ``--params-file`` arguments (``ros2 launch`` turns ``config:=`` and the launch file's
parameter dict into such files) come after it and win; ``-p name:=value`` wins over every file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from scorehmr_ros.ros.parameters import ParamSpec

NODE_NAME = "scorehmr_multiview"
DEFAULTS_FILE = "multiview.yaml"
# Parameters rclpy declares itself (or that launch files commonly set for every node).
_RCLPY_PARAMETERS = ("use_sim_time", "start_type_description_service")

# Shared with the per-camera detector node (ros/detector_node.py).
PERSON_TILE_FRACTION = ParamSpec(
    "person_tile_fraction",
    0.5,
    "Multi-person (and tile_fallback): also run the person detector on half-overlapping square tiles "
    "of this fraction of the image's short side, to find people small in the image (more tiles, more "
    "time); 0 = off",
    min_value=0.0,
    max_value=1.0,
    read_only=True,
)
PERSON_MASK_OTHERS = ParamSpec(
    "person_mask_others",
    True,
    "Multi-person: landmark each person again with the other people's pixels painted over when "
    "its crop holds them (an extra landmark pass per such person; fewer limbs taken from a neighbour)",
    read_only=True,
)

TILE_FALLBACK = ParamSpec(
    "tile_fallback",
    True,
    "Single person (max_people 1): where MediaPipe's pose solution finds nobody in an image, look "
    "again with the multi-person detector on tiles of person_tile_fraction (people far away or lying "
    "down) and track the person found there by its landmarks; after a miss it retries on every 5th "
    "empty image",
    read_only=True,
)
PERSON_REDETECT_EVERY = ParamSpec(
    "person_redetect_every",
    5,
    "Multi-person, video: run the person detector (whole image and tiles) on every n-th image and "
    "follow each person by its landmarks in between (as MediaPipe tracks one person; images over "
    "0.1 s apart: the detector on the whole image and near each person instead of on every tile); a "
    "lost person makes it detect at once; people who enter are found within n images. 1 = detect "
    "every image",
    min_value=1,
    max_value=100,
    read_only=True,
)
MODEL_COMPLEXITY = ParamSpec(
    "model_complexity",
    1,
    "BlazePose landmark model: 1 = full (ships with the mediapipe wheel); 0 = lite, 2 = heavy "
    "(installed by scripts/fetch_pose_models.sh; the node refuses to start without the file)",
    min_value=0,
    max_value=2,
    choices=(0, 1, 2),
    read_only=True,
)
LIMB_MODEL = ParamSpec(
    "limb_model",
    "auto",
    "Limb keypoints (shoulders to ankles) of each person BlazePose finds: movenet_thunder = MoveNet "
    "on a crop around the person, where no other person is in the crop (more accurate, slower: "
    "README, 'Limb keypoints from MoveNet'; the model is made by scripts/fetch_movenet.sh, which "
    "setup runs; the node refuses to start without it); none = BlazePose's own; auto = MoveNet's "
    "for one person (max_people 1) in calibrated sets of >= 2 views, else BlazePose's (the "
    "detector node cannot see calibration: auto is none there)",
    choices=("auto", "movenet_thunder", "none"),
    read_only=True,
)

SPECS = [
    ParamSpec(
        "cameras",
        "cam1,cam2,cam3",
        "Comma-separated camera namespaces (<ns>/image_raw, <ns>/camera_info)",
        read_only=True,
    ),
    ParamSpec(
        "detector",
        "mediapipe",
        "2D keypoints: 'mediapipe' in this node, or 'topic' (<ns>/<keypoints_topic>, Keypoints2D)",
        choices=("mediapipe", "topic"),
        read_only=True,
    ),
    ParamSpec(
        "image_topic",
        "image_raw",
        "Image topic name under each camera namespace (detector='mediapipe'), e.g. image_raw, "
        "image_rect_color (then set rectified_input)",
        read_only=True,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "'raw' (sensor_msgs/Image on <image_topic>) or 'compressed' (sensor_msgs/CompressedImage "
        "on <image_topic>/compressed, JPEG or PNG, as image_transport's compressed plugin and most "
        "recorded bags carry them)",
        choices=("raw", "compressed"),
        read_only=True,
    ),
    ParamSpec(
        "keypoints_topic",
        "keypoints",
        "Keypoints2D topic name under each camera namespace (detector='topic')",
        read_only=True,
    ),
    ParamSpec(
        "preset",
        "realtime",
        "Refinement preset: 'realtime' (warm start, few DDIM steps) or 'quality' (paper-like steps)",
        choices=("realtime", "quality"),
    ),
    ParamSpec(
        "sync_queue_size",
        10,
        "Approximate-time synchroniser queue size per input",
        min_value=1,
        max_value=100,
        read_only=True,
    ),
    ParamSpec(
        "sync_slop_s",
        0.03,
        "Maximum stamp spread of a synchronised set (s)",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "partial_timeout_s",
        0.5,
        "Emit a partial set when a camera is silent this long (s); 0 disables",
        min_value=0.0,
        max_value=10.0,
        read_only=True,
    ),
    ParamSpec(
        "worker_queue_size",
        1,
        "Synchronised sets waiting for the worker (oldest dropped beyond); 1 = always the newest set",
        min_value=1,
        max_value=100,
        read_only=True,
    ),
    ParamSpec(
        "max_sets_per_call",
        1,
        "Queued sets refined together in one batched call (more throughput, more latency; "
        "needs worker_queue_size >= this)",
        min_value=1,
        max_value=32,
    ),
    ParamSpec(
        "pipeline_depth",
        1,
        "Jobs in the compute process at once: 1 = one at a time (lowest latency); 2 = the next "
        "set's detection runs while the current one is refined (more rate, more latency with few cores)",
        min_value=1,
        max_value=4,
    ),
    ParamSpec(
        "compute_threads",
        1,
        "Torch threads in the compute process (1 is fastest for the node's small batches)",
        min_value=1,
        max_value=64,
        read_only=True,
    ),
    ParamSpec(
        "max_stamp_age_s",
        5.0,
        "Messages/sets stamped further in the past than this (vs the node's ROS clock) are dropped",
        min_value=0.01,
        max_value=3600.0,
    ),
    ParamSpec(
        "max_stamp_future_s",
        1.0,
        "Messages/sets stamped further in the future than this (vs the node's ROS clock) are dropped",
        min_value=0.0,
        max_value=3600.0,
    ),
    ParamSpec(
        "body_model_path",
        "",
        "SMPL .pkl/.npz path; empty = packaged licence-free synthetic model",
        read_only=True,
    ),
    ParamSpec("regressor_path", "", "Regressor weights; empty = packaged", read_only=True),
    ParamSpec("denoiser_path", "", "Denoiser weights; empty = packaged", read_only=True),
    ParamSpec(
        "denoiser_backend",
        "auto",
        "Denoiser engine: auto (TensorRT on CUDA, else ONNX Runtime), torch, compile, onnxruntime, tensorrt",
        choices=("auto", "torch", "compile", "onnxruntime", "tensorrt"),
        read_only=True,
    ),
    ParamSpec(
        "use_extrinsics",
        True,
        "Use camera extrinsics from /tf_static (common parent frame) when known: calibrated multi-view "
        "fusion and left/right disambiguation; otherwise the uncalibrated (paper) mode",
        read_only=True,
    ),
    ParamSpec(
        "rectified_input",
        False,
        "The image / keypoint topics are rectified (image_proc's image_rect): use CameraInfo P's left "
        "3x3 as the intrinsics and no distortion. False: raw images, K and D (plumb_bob, "
        "rational_polynomial or equidistant); keypoints are undistorted before estimation",
    ),
    ParamSpec(
        "mesh_rate_hz",
        5.0,
        "Rate of the full-mesh TRIANGLE_LIST marker (0 disables; the skeleton goes out every frame)",
        min_value=0.0,
        max_value=120.0,
    ),
    ParamSpec("publish_tf", True, "Broadcast body_<id> and <joint>_<id> frames on /tf"),
    ParamSpec(
        "overlay_rate_hz",
        2.0,
        "Rate of ~/overlay/<camera> images (0 disables)",
        min_value=0.0,
        max_value=60.0,
    ),
    ParamSpec(
        "min_detection_confidence",
        0.5,
        "MediaPipe detection threshold",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "min_tracking_confidence",
        0.5,
        "MediaPipe tracking threshold",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Period of /diagnostics messages (s)",
        min_value=0.05,
        max_value=60.0,
        read_only=True,
    ),
    ParamSpec(
        "autostart",
        True,
        "Configure and activate at start-up; false leaves the node unconfigured for a lifecycle manager "
        "(change_state service, launch_ros lifecycle events)",
        read_only=True,
    ),
    ParamSpec(
        "tracked_period_s",
        0.2,
        "Republish /humans/bodies/tracked (empty when nobody is seen) at least this often (s)",
        min_value=0.02,
        max_value=5.0,
        read_only=True,
    ),
    ParamSpec(
        "person_lost_s",
        0.5,
        "A body not refreshed for this long is lost: tracked list empties, markers are deleted (s)",
        min_value=0.05,
        max_value=30.0,
    ),
    ParamSpec(
        "max_people",
        1,
        "People estimated per set: 1 = one body (b0, legacy BlazePose); > 1 = multi-person BlazePose, "
        "cross-view association (calibrated rigs; uncalibrated: one camera's people), ids b0, b1, ...",
        min_value=1,
        max_value=10,
        read_only=True,
    ),
    ParamSpec(
        "min_person_confidence",
        0.5,
        "Multi-person: person-detector score below which a detected person is ignored",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    PERSON_TILE_FRACTION,
    PERSON_MASK_OTHERS,
    PERSON_REDETECT_EVERY,
    TILE_FALLBACK,
    MODEL_COMPLEXITY,
    LIMB_MODEL,
    ParamSpec(
        "person_birth_frames",
        3,
        "Multi-person: consecutive sets a new person must be seen in before it gets an id",
        min_value=1,
        max_value=30,
        read_only=True,
    ),
    ParamSpec(
        "person_timeout_s",
        1.0,
        "Multi-person: an id unseen for this long and in two sets in a row is removed "
        "(its topics, TF and markers stop) (s)",
        min_value=0.0,
        max_value=30.0,
        read_only=True,
    ),
    ParamSpec(
        "max_body_error_rel",
        0.1,
        "Calibrated rigs: a body is not published when its keypoints' reprojection error in the median "
        "view exceeds this fraction of the person's size there (bounding-box diagonal), or it lies "
        "behind a camera that sees it (counted as bodies_rejected); uncalibrated sets use the preset's "
        "looser max_view_error_rel (0.5: bodies no keypoints explain); 0 = publish every body",
        min_value=0.0,
        max_value=1.0,
        read_only=True,
    ),
    ParamSpec(
        "people_topic",
        "people",
        "Keypoints2DArray topic (every person of one image) under each camera namespace "
        "(detector='topic' with max_people > 1)",
        read_only=True,
    ),
]


def defaults_file() -> str:
    """The package's config/multiview.yaml (share directory or source checkout)."""
    from scorehmr_ros.ros.paths import package_config

    return str(package_config(DEFAULTS_FILE))


def ros_arguments(user_args: Sequence[str], extra_params_files: Iterable[str] = ()) -> list[str]:
    """rcl arguments: package defaults as the first params file, then ``extra_params_files``, then
    the user's own ROS arguments (their ``--params-file``s, then ``-p`` beat the defaults)."""
    head = ["--ros-args", "--params-file", defaults_file()]
    for path in extra_params_files:
        head += ["--params-file", str(path)]
    return [*head, *user_args]


def unknown_parameters(overrides: Iterable[str], specs: Iterable[ParamSpec] = SPECS) -> list[str]:
    """Names given for this node (params files, ``-p``) that it does not declare."""
    known = {s.name for s in specs} | set(_RCLPY_PARAMETERS)
    return sorted(n for n in overrides if n not in known and not n.startswith("qos_overrides."))


def check_update(
    params: Sequence[Parameter], declared: Iterable[str], specs: Iterable[ParamSpec] = SPECS
) -> SetParametersResult | None:
    """A failed result naming the problem (unknown names, type with both type names), else None.

    rclpy's own reasons for these cases are "Wrong parameter type, expected '3' got '4'" and
    "Invalid access to undeclared parameter(s): []"; this check runs before them.
    """
    declared = set(declared)
    by_name = {s.name: s for s in specs}
    unknown = sorted(p.name for p in params if p.name not in declared)
    if unknown:
        return SetParametersResult(
            successful=False,
            reason=f"unknown parameter(s) {', '.join(repr(n) for n in unknown)} "
            f"(this node declares: {', '.join(sorted(by_name))})",
        )
    for p in params:
        spec = by_name.get(p.name)
        if spec is None or p.type_ == Parameter.Type.NOT_SET:
            continue
        reason = spec.validate(spec.coerce(p.value))
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
    return None
