"""launch/multiview.launch.py (launch_ros, not installable here) and the scorehmr-multiview entry point
start the same executable with the same config and parameter names."""

import ast
import re
from pathlib import Path

import yaml

from scorehmr_ros.ros import multiview_node

ROOT = Path(__file__).resolve().parents[1]


def _launch_constants():
    tree = ast.parse((ROOT / "launch" / "multiview.launch.py").read_text())
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            consts[node.targets[0].id] = node.value.value
    names = [
        kw.value.value
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "LifecycleNode"
        for kw in call.keywords
        if kw.arg == "name"
    ]
    return consts, names


def test_launch_file_and_entry_point_agree():
    consts, node_names = _launch_constants()
    assert consts["PACKAGE"] == "scorehmr_ros"
    assert node_names == [multiview_node.NODE_NAME]
    # ros2 run / launch executable (colcon route) runs the same main() as the console script.
    entry = (ROOT / "scripts" / "ros2_entry" / consts["EXECUTABLE"]).read_text()
    assert "from scorehmr_ros.ros.multiview_node import main" in entry
    setup = (ROOT / "setup.py").read_text()
    assert re.search(r'"scorehmr-multiview = scorehmr_ros\.ros\.multiview_node:main"', setup)
    # Same config file, and it sets exactly the declared parameters.
    from scorehmr_ros.ros.paths import package_config

    config = package_config(consts["CONFIG"])
    params = yaml.safe_load(config.read_text())[multiview_node.NODE_NAME]["ros__parameters"]
    assert set(params) == {s.name for s in multiview_node.SPECS}
    for spec in multiview_node.SPECS:
        assert spec.validate(params[spec.name]) is None, spec.name
    detector_entry = (ROOT / "scripts" / "ros2_entry" / consts["DETECTOR_EXECUTABLE"]).read_text()
    assert "from scorehmr_ros.ros.detector_node import main" in detector_entry
    assert (ROOT / "config" / consts["DETECTOR_CONFIG"]).is_file()


def test_every_parameter_is_described_and_validated():
    for spec in multiview_node.SPECS:
        assert len(spec.description) > 15, spec.name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert spec.min_value is not None and spec.max_value is not None, spec.name


def test_launch_file_and_python_helpers_use_the_same_dds_profile():
    from scorehmr_ros.ros.paths import DDS_PROFILE, DDS_PROFILE_VARIABLES, package_config

    consts, _ = _launch_constants()
    assert consts["DDS_PROFILE"] == DDS_PROFILE and package_config(DDS_PROFILE).is_file()
    tree = ast.parse((ROOT / "launch" / "multiview.launch.py").read_text())
    tuples = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "DDS_VARIABLES"
    ]
    assert tuple(ast.literal_eval(tuples[0])) == DDS_PROFILE_VARIABLES


def test_large_message_profile_is_applied_unless_transports_were_chosen():
    from scorehmr_ros.ros.paths import use_large_message_transports

    env = {}
    assert use_large_message_transports(env) and env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith(".xml")
    assert not use_large_message_transports({"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"})


class _Recorded:
    """Stand-in for a launch/launch_ros class: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _stub_module(name, **attrs):
    import types

    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__getattr__ = lambda attr: type(attr, (_Recorded,), {})
    return mod


def _launch_actions(monkeypatch, **arguments):
    """The actions launch/multiview.launch.py creates for ``arguments``, via stand-ins."""
    import runpy
    import sys

    from scorehmr_ros.ros.paths import package_share

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    mods = {
        "launch": _stub_module("launch", LaunchDescription=_Recorded),
        "launch.actions": _stub_module("launch.actions"),
        "launch.events": _stub_module("launch.events", matches_action=lambda action: action),
        "launch.substitutions": _stub_module("launch.substitutions", LaunchConfiguration=LaunchConfiguration),
        "launch_ros": _stub_module("launch_ros"),
        "launch_ros.actions": _stub_module("launch_ros.actions"),
        "launch_ros.event_handlers": _stub_module("launch_ros.event_handlers"),
        "launch_ros.events": _stub_module("launch_ros.events"),
        "launch_ros.events.lifecycle": _stub_module("launch_ros.events.lifecycle"),
        "ament_index_python.packages": _stub_module(
            "ament_index_python.packages", get_package_share_directory=lambda pkg: str(package_share())
        ),
    }
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    for var in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"):
        monkeypatch.delenv(var, raising=False)
    ns = runpy.run_path(str(ROOT / "launch" / "multiview.launch.py"))
    context = {"cameras": "cam1,cam2,cam3", "config": "", "layout": "fused", **arguments}
    return ns["_nodes"](context)


def _launch_ros_argv(node, tmp_path) -> list[str]:
    """The arguments launch_ros gives a Node/LifecycleNode's process (name and namespace remaps,
    each parameters entry as a --params-file; a dict is written to a temporary YAML file under
    the fully qualified node name, as launch_ros' _create_params_file_from_dict does)."""
    kw = node.kwargs
    namespace = "/" + kw.get("namespace", "").strip("/")
    argv = ["--ros-args", "-r", f"__node:={kw['name']}", "-r", f"__ns:={namespace}"]
    for i, entry in enumerate(kw.get("parameters", [])):
        if isinstance(entry, dict):
            path = tmp_path / f"launch_params_{i}.yaml"
            full_name = namespace.rstrip("/") + "/" + kw["name"]
            path.write_text(yaml.dump({full_name: {"ros__parameters": entry}}, default_flow_style=False))
            entry = str(path)
        argv += ["--params-file", str(entry)]
    return argv


def test_launch_arguments_reach_the_node(monkeypatch, tmp_path):
    """ros2 launch ... cameras:=left,right layout:=distributed: the node ends with those values
    (package defaults first, the launch file's values after them), unconfigured (autostart off)."""
    import rclpy

    from scorehmr_ros.ros.multiview_node import create_node

    actions = _launch_actions(monkeypatch, cameras="left,right", layout="distributed")
    (node_action,) = [a for a in actions if type(a).__name__ == "LifecycleNode"]
    detectors = [a for a in actions if type(a).__name__ == "Node"]
    assert [d.kwargs["name"] for d in detectors] == ["scorehmr_detector_left", "scorehmr_detector_right"]
    events = [a for a in actions if type(a).__name__ in ("EmitEvent", "RegisterEventHandler")]
    assert len(events) == 2  # configure on start, activate once inactive
    argv = _launch_ros_argv(node_action, tmp_path)
    context = rclpy.Context()
    node = create_node(argv, context=context)
    try:
        assert node.get_name() == "scorehmr_multiview"
        assert node.p["cameras"] == "left,right" and node.cameras == ["left", "right"]
        assert node.p["detector"] == "topic" and node.p["autostart"] is False
        assert node.p["preset"] == "realtime"  # from the package defaults
        assert node._state_machine.current_state[1] == "unconfigured"
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_parameter_precedence_is_rcls(tmp_path):
    """Package defaults < user params files (in order) < -p."""
    import rclpy

    from scorehmr_ros.ros.multiview_node import create_node

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("scorehmr_multiview:\n  ros__parameters:\n    preset: quality\n    mesh_rate_hz: 1.0\n")
    second.write_text("/**:\n  ros__parameters:\n    mesh_rate_hz: 3.0\n    overlay_rate_hz: 0.0\n")
    argv = [
        "--ros-args",
        "--params-file",
        str(first),
        "--params-file",
        str(second),
        "-p",
        "overlay_rate_hz:=7.0",
    ]
    context = rclpy.Context()
    node = create_node(argv, context=context)
    try:
        assert node.p["preset"] == "quality" and node.p["mesh_rate_hz"] == 3.0
        assert node.p["overlay_rate_hz"] == 7.0 and node.p["cameras"] == "cam1,cam2,cam3"
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_unknown_parameter_in_a_params_file_is_named(tmp_path):
    import pytest

    from scorehmr_ros.ros.multiview_node import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("scorehmr_multiview:\n  ros__parameters:\n    camras: left\n")
    assert main(["--ros-args", "--params-file", str(bad)]) == 2
    with pytest.raises(ValueError, match="camras"):
        import rclpy

        from scorehmr_ros.ros.multiview_node import create_node

        create_node(["--ros-args", "--params-file", str(bad)], context=rclpy.Context())
