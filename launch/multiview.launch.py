"""Launch the ScoreHMR multi-camera node (and optionally one MediaPipe detector node per camera).

    ros2 launch scorehmr_ros multiview.launch.py cameras:=cam1,cam2,cam3 layout:=fused
    ros2 launch scorehmr_ros multiview.launch.py layout:=distributed   # detection in per-camera nodes

The node is a lifecycle node started with ``autostart: false``; this launch file is its lifecycle
manager (as ros2/demos lifecycle_py): it requests ``configure`` when the process starts and
``activate`` once the node reaches ``inactive``. Parameters: the package's config/multiview.yaml
(or ``config:=``) first, then the launch arguments (launch_ros passes both as ``--params-file``).

Written against launch / launch_ros as a real ROS 2 install runs it. Where those are not
installed (the PyPI-wheel venv), `scorehmr-multiview` starts the same node with the same
parameters and configures/activates itself (autostart); test/test_launch.py runs this file's
node description against stand-ins of launch/launch_ros and starts the node with the exact
arguments launch_ros would build.
"""

import os

import lifecycle_msgs.msg
from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState

from launch import LaunchDescription

PACKAGE = "scorehmr_ros"
EXECUTABLE = "scorehmr_multiview"
DETECTOR_EXECUTABLE = "scorehmr_detector"
CONFIG = "multiview.yaml"
DETECTOR_CONFIG = "detector.yaml"
DDS_PROFILE = "fastdds_large_messages.xml"
DDS_VARIABLES = (
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_BUILTIN_TRANSPORTS",
)


def _nodes(context):
    share = get_package_share_directory(PACKAGE)
    config = LaunchConfiguration("config").perform(context) or os.path.join(share, "config", CONFIG)
    cameras = LaunchConfiguration("cameras").perform(context)
    layout = LaunchConfiguration("layout").perform(context)
    overrides = {
        "cameras": cameras,
        "detector": "topic" if layout == "distributed" else "mediapipe",
        "autostart": False,  # this launch file drives the lifecycle transitions
    }
    actions = []
    if not any(os.environ.get(k) for k in DDS_VARIABLES):  # 0.9 MB images at 30 Hz: large SHM segments
        profile = os.path.join(share, "config", DDS_PROFILE)
        actions.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile))
    node = LifecycleNode(
        package=PACKAGE,
        executable=EXECUTABLE,
        name="scorehmr_multiview",
        namespace="",
        parameters=[config, overrides],
        output="screen",
    )
    configure = EmitEvent(
        event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=lifecycle_msgs.msg.Transition.TRANSITION_CONFIGURE,
        )
    )
    activate = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[
                EmitEvent(
                    event=ChangeState(
                        lifecycle_node_matcher=matches_action(node),
                        transition_id=lifecycle_msgs.msg.Transition.TRANSITION_ACTIVATE,
                    )
                )
            ],
        )
    )
    actions += [activate, node, configure]
    if layout == "distributed":
        for cam in [c.strip() for c in cameras.split(",") if c.strip()]:
            actions.append(
                Node(
                    package=PACKAGE,
                    executable=DETECTOR_EXECUTABLE,
                    name=f"scorehmr_detector_{cam}",
                    parameters=[os.path.join(share, "config", DETECTOR_CONFIG), {"camera_namespace": cam}],
                    output="screen",
                )
            )
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("cameras", default_value="cam1,cam2,cam3", description="camera namespaces"),
            DeclareLaunchArgument(
                "config", default_value="", description="params YAML (default: package config)"
            ),
            DeclareLaunchArgument(
                "layout",
                default_value="fused",
                description="'fused' (MediaPipe in the node) or 'distributed'",
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
