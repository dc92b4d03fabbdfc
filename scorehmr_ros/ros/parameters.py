"""Declarative ROS 2 node parameters: specs with descriptions/ranges/choices, validation, YAML.

::

    SPECS = [
        ParamSpec("min_detection_confidence", 0.5, "detector threshold", min_value=0.0, max_value=1.0),
        ParamSpec("mode", "video", "processing mode", choices=("video", "static")),
    ]
    overrides = parameter_overrides(load_yaml_parameters("config/detector.yaml", "scorehmr_detector"), SPECS)
    node = Node("scorehmr_detector", parameter_overrides=overrides)
    declare_parameters(node, SPECS)      # descriptors + an on-set validation callback
    values = get_parameter_values(node, SPECS)

Each parameter is declared with an ``rcl_interfaces/ParameterDescriptor`` (description, type,
``FloatingPointRange``/``IntegerRange``, choices listed in ``additional_constraints``, read-only
flag), so ``ros2 param describe`` shows them. rclpy itself checks the type, range and read-only
flag first (its reasons: "Wrong parameter type, expected 'Type.DOUBLE' got 'Type.STRING'",
"Parameter x out of range..."); the callback installed by :func:`declare_parameters` checks the
range again plus ``choices`` and gives a reason naming the parameter and the allowed values.
A pre-set callback turns an int given for a float parameter into a float (rclpy would refuse it).
Invalid override values (YAML, ``-p``) make :func:`declare_parameters` raise ValueError.

``load_yaml_parameters`` reads the standard ROS 2 params file format::

    scorehmr_detector:            # node name (also "/scorehmr_detector", "/ns/scorehmr_detector", "/**")
      ros__parameters:
        min_detection_confidence: 0.5
        nested:                   # nested mappings become dotted names ("nested.value")
          value: 1

Entries under ``/**`` apply to every node; entries under the node's own name override them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

# Python type of a spec -> ROS parameter type.
_ROS_TYPES: dict[type, int] = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}
_TYPE_NAMES = {bool: "bool", int: "integer", float: "double", str: "string"}


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    ``type`` defaults to ``type(default)`` (bool, int, float or str). ``min_value``/``max_value``
    (inclusive) apply to int/float parameters and are both required for a ROS range (a missing
    bound is stored as +-inf / int64 limits). ``choices`` restricts the allowed values.
    ``read_only`` parameters can only be set at start-up (overrides / YAML / --ros-args).
    """

    name: str
    default: Any
    description: str
    type: type | None = None
    min_value: float | int | None = None
    max_value: float | int | None = None
    choices: Sequence[Any] | None = None
    read_only: bool = False

    @property
    def py_type(self) -> type:
        t = self.type if self.type is not None else type(self.default)
        if t not in _ROS_TYPES:
            raise TypeError(f"parameter '{self.name}': unsupported type {t.__name__} (bool, int, float, str)")
        return t

    def coerce(self, value: Any) -> Any:
        """``value`` converted to the spec's type where lossless (int -> float); else unchanged."""
        if self.py_type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def validate(self, value: Any) -> str | None:
        """None if ``value`` is acceptable, otherwise the reason it is not."""
        t = self.py_type
        ok_type = isinstance(value, t) and not (t in (int, float) and isinstance(value, bool))
        if not ok_type:
            return (
                f"parameter '{self.name}' must be of type {_TYPE_NAMES[t]}, got {type(value).__name__} "
                f"{value!r}"
            )
        if self.min_value is not None and value < self.min_value:
            return f"parameter '{self.name}' = {value!r} is below the minimum {self.min_value!r}"
        if self.max_value is not None and value > self.max_value:
            return f"parameter '{self.name}' = {value!r} is above the maximum {self.max_value!r}"
        if self.choices is not None and value not in self.choices:
            return f"parameter '{self.name}' = {value!r} is not one of {list(self.choices)!r}"
        return None

    def descriptor(self) -> ParameterDescriptor:
        t = self.py_type
        desc = ParameterDescriptor(
            name=self.name, type=_ROS_TYPES[t], description=self.description, read_only=self.read_only
        )
        has_range = self.min_value is not None or self.max_value is not None
        if has_range and t is float:
            lo = float("-inf") if self.min_value is None else float(self.min_value)
            hi = float("inf") if self.max_value is None else float(self.max_value)
            desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        elif has_range and t is int:
            lo = -(2**63) if self.min_value is None else int(self.min_value)
            hi = 2**63 - 1 if self.max_value is None else int(self.max_value)
            desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=0)]
        elif has_range:
            raise TypeError(f"parameter '{self.name}': a range needs an int or float parameter")
        if self.choices is not None:
            desc.additional_constraints = "one of: " + ", ".join(repr(c) for c in self.choices)
        return desc


def declare_parameters(node: Node, specs: Iterable[ParamSpec]) -> Callable:
    """Declare every spec on ``node`` and install a validating on-set callback; returns the callback.

    Override values (``parameter_overrides``, ``--ros-args -p``, params files) that fail
    validation raise ``ValueError`` naming the parameter, so a node never starts misconfigured.
    """
    specs = list(specs)
    by_name = {s.name: s for s in specs}
    if len(by_name) != len(specs):
        raise ValueError("duplicate parameter names in specs")
    for spec in specs:
        reason = spec.validate(spec.coerce(spec.default))
        if reason is not None:
            raise ValueError(f"invalid default: {reason}")
        try:
            param = node.declare_parameter(spec.name, spec.coerce(spec.default), spec.descriptor())
        except Exception as exc:  # rclpy raises its own exception types for bad overrides
            raise ValueError(f"cannot declare parameter '{spec.name}': {exc}") from exc
        reason = spec.validate(param.value)
        if reason is not None:
            raise ValueError(f"invalid start-up value: {reason}")

    def on_set(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = by_name.get(param.name)
            if spec is None:
                continue  # someone else's parameter
            reason = spec.validate(param.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def pre_set(params: list[Parameter]) -> list[Parameter]:
        # An int for a float parameter (``ros2 param set node x 1``) becomes a float before rclpy's
        # type check would refuse it.
        out = []
        for param in params:
            spec = by_name.get(param.name)
            if spec is not None and spec.coerce(param.value) is not param.value:
                param = Parameter(param.name, value=spec.coerce(param.value))
            out.append(param)
        return out

    node.add_pre_set_parameters_callback(pre_set)
    node.add_on_set_parameters_callback(on_set)
    return on_set


def get_parameter_values(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Current values of the specs' parameters, by name."""
    return {s.name: node.get_parameter(s.name).value for s in specs}


def _flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def load_yaml_parameters(path: str, node_name: str) -> dict[str, Any]:
    """Parameters for ``node_name`` from a ROS 2 params YAML file (see the module docstring).

    Raises ValueError for a file that is not in that format. Returns ``{}`` if the file has no
    section for the node.
    """
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of node names at the top level")
    name = node_name.strip("/").split("/")[-1]
    wildcard: dict[str, Any] = {}
    specific: dict[str, Any] = {}
    for key, section in data.items():
        key = str(key)
        if key == "/**":
            target = wildcard
        elif key.strip("/").split("/")[-1] == name:
            target = specific
        else:
            continue
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ValueError(f"{path}: section '{key}' has no 'ros__parameters' mapping")
        params = section["ros__parameters"] or {}
        if not isinstance(params, dict):
            raise ValueError(f"{path}: '{key}.ros__parameters' must be a mapping")
        target.update(_flatten(params))
    return {**wildcard, **specific}


def parameter_overrides(values: dict[str, Any], specs: Iterable[ParamSpec] = ()) -> list[Parameter]:
    """``rclpy.parameter.Parameter`` list for ``Node(..., parameter_overrides=...)``.

    Values of parameters named in ``specs`` are coerced to the spec's type where lossless (a YAML
    ``0`` for a float parameter becomes ``0.0``; rclpy would reject the int).
    """
    by_name = {s.name: s for s in specs}
    out = []
    for name, value in values.items():
        spec = by_name.get(name)
        out.append(Parameter(name, value=spec.coerce(value) if spec else value))
    return out


def cli_parameter_names(ros_args: list[str]) -> set[str]:
    """Names set with ``-p NAME:=VALUE`` / ``--param NAME:=VALUE`` in ``ros_args``."""
    names = set()
    for flag, value in itertools.pairwise(ros_args):
        if flag in ("-p", "--param") and ":=" in value:
            names.add(value.split(":=", 1)[0].split(":")[-1])  # "node:name:=v" -> name
    return names
