"""Declarative parameter helper: descriptors, validation on set, YAML loading and overrides."""

import textwrap
from pathlib import Path

import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from scorehmr_ros.ros.parameters import (
    ParamSpec,
    declare_parameters,
    get_parameter_values,
    load_yaml_parameters,
    parameter_overrides,
)

SPECS = [
    ParamSpec("min_detection_confidence", 0.5, "detector threshold", min_value=0.0, max_value=1.0),
    ParamSpec("max_people", 1, "people per image", min_value=1, max_value=10),
    ParamSpec("mode", "video", "processing mode", choices=("video", "static")),
    ParamSpec("topic", "image_raw", "input topic", read_only=True),
    ParamSpec("enabled", True, "on/off"),
]


@pytest.fixture
def node(ros_context):
    n = Node("param_test", context=ros_context)
    declare_parameters(n, SPECS)
    yield n
    n.destroy_node()


def test_declared_with_descriptors(node):
    assert get_parameter_values(node, SPECS) == {
        "min_detection_confidence": 0.5,
        "max_people": 1,
        "mode": "video",
        "topic": "image_raw",
        "enabled": True,
    }
    d_conf, d_people, d_mode, d_topic = node.describe_parameters(
        ["min_detection_confidence", "max_people", "mode", "topic"]
    )
    assert d_conf.description == "detector threshold"
    assert d_conf.type == ParameterType.PARAMETER_DOUBLE
    assert (d_conf.floating_point_range[0].from_value, d_conf.floating_point_range[0].to_value) == (0.0, 1.0)
    assert d_people.type == ParameterType.PARAMETER_INTEGER
    assert (d_people.integer_range[0].from_value, d_people.integer_range[0].to_value) == (1, 10)
    assert "video" in d_mode.additional_constraints and "static" in d_mode.additional_constraints
    assert d_topic.read_only


@pytest.mark.parametrize(
    ("name", "value", "reason_word"),
    [
        ("min_detection_confidence", 1.5, "min_detection_confidence"),
        ("min_detection_confidence", -0.1, "min_detection_confidence"),
        ("max_people", 11, "max_people"),
        ("mode", "batch", "mode"),
        ("min_detection_confidence", "high", "type"),
        ("topic", "other", "topic"),
    ],
)
def test_invalid_updates_rejected_with_reason(node, name, value, reason_word):
    before = node.get_parameter(name).value
    (result,) = node.set_parameters([Parameter(name, value=value)])
    assert not result.successful
    assert reason_word in result.reason
    assert node.get_parameter(name).value == before


def test_choice_reason_lists_allowed_values(node):
    (result,) = node.set_parameters([Parameter("mode", value="batch")])
    assert "video" in result.reason and "static" in result.reason


def test_valid_updates_accepted(node):
    results = node.set_parameters(
        [
            Parameter("min_detection_confidence", value=0.8),
            Parameter("max_people", value=3),
            Parameter("mode", value="static"),
            Parameter("enabled", value=False),
        ]
    )
    assert all(r.successful for r in results), [r.reason for r in results]
    assert node.get_parameter("min_detection_confidence").value == 0.8
    assert node.get_parameter("mode").value == "static"
    (result,) = node.set_parameters([Parameter("min_detection_confidence", value=1)])  # int for a float
    assert result.successful, result.reason
    assert node.get_parameter("min_detection_confidence").value == 1.0


def test_yaml_loading_and_overrides(tmp_path, ros_context):
    path = tmp_path / "params.yaml"
    path.write_text(
        textwrap.dedent(
            """
            /**:
              ros__parameters:
                enabled: false
                mode: static
            other_node:
              ros__parameters:
                mode: video
            /cams/param_yaml:
              ros__parameters:
                min_detection_confidence: 1      # an int in YAML for a float parameter
                mode: video
                nested:
                  value: 3
            """
        )
    )
    values = load_yaml_parameters(str(path), "param_yaml")
    assert values == {"enabled": False, "mode": "video", "min_detection_confidence": 1, "nested.value": 3}
    assert load_yaml_parameters(str(path), "unrelated") == {"enabled": False, "mode": "static"}

    values.pop("nested.value")
    n = Node("param_yaml", context=ros_context, parameter_overrides=parameter_overrides(values, SPECS))
    try:
        declare_parameters(n, SPECS)
        got = get_parameter_values(n, SPECS)
        assert got["min_detection_confidence"] == 1.0 and isinstance(got["min_detection_confidence"], float)
        assert got["enabled"] is False and got["mode"] == "video" and got["max_people"] == 1
    finally:
        n.destroy_node()


def test_invalid_override_refused_at_startup(ros_context):
    n = Node("param_bad", context=ros_context, parameter_overrides=[Parameter("mode", value="batch")])
    try:
        with pytest.raises(ValueError, match="mode"):
            declare_parameters(n, SPECS)
    finally:
        n.destroy_node()


def test_bad_yaml_format(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("param_yaml:\n  mode: video\n")
    with pytest.raises(ValueError, match="ros__parameters"):
        load_yaml_parameters(str(path), "param_yaml")


def test_detector_yaml_matches_node_parameters():
    from scorehmr_ros.ros.detector_node import NODE_NAME, PARAMETERS

    config = Path(__file__).resolve().parents[1] / "config" / "detector.yaml"
    values = load_yaml_parameters(str(config), NODE_NAME)
    specs = {s.name: s for s in PARAMETERS}
    assert set(values) == set(specs)
    for name, value in values.items():
        assert specs[name].validate(specs[name].coerce(value)) is None
