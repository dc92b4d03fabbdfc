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
