"""Minimal ``/diagnostics`` publisher (diagnostic_updater is not installable from PyPI).

::

    diag = DiagnosticsPublisher(node, period_s=1.0, hardware_id="cam1")
    diag.update("scorehmr_detector: cam1", OK, "running", {"processed": 42, "latency_p95_ms": 31.2})

The latest status per name is stored; a node timer publishes all of them as one
``diagnostic_msgs/DiagnosticArray`` every ``period_s`` (and :meth:`publish_now` does so at once).
``update`` is thread-safe, so worker threads may report. Values are converted with ``str()``
(floats with 4 significant digits), as ``diagnostic_msgs/KeyValue`` holds strings.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE

_LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}
DIAGNOSTICS_TOPIC = "/diagnostics"


def level_name(level: bytes) -> str:
    return _LEVEL_NAMES.get(level, repr(level))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def make_status(
    name: str, level: bytes, message: str, values: Mapping[str, Any] | None = None, hardware_id: str = ""
) -> DiagnosticStatus:
    """A ``DiagnosticStatus``; ``level`` is one of OK, WARN, ERROR, STALE (bytes, as in the message)."""
    if level not in _LEVEL_NAMES:
        raise ValueError(f"unknown diagnostic level {level!r}; use OK, WARN, ERROR or STALE")
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=_format(v)) for k, v in (values or {}).items()],
    )


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    """The key/values of a status as a dict (for tests and consumers)."""
    return {kv.key: kv.value for kv in status.values}


class DiagnosticsPublisher:
    """Latest status per name, published periodically on ``/diagnostics``."""

    def __init__(
        self, node: Node, period_s: float = 1.0, hardware_id: str = "", topic: str = DIAGNOSTICS_TOPIC
    ) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self._node = node
        self.hardware_id = hardware_id
        self._lock = threading.Lock()
        self._statuses: dict[str, DiagnosticStatus] = {}
        self._pub = node.create_publisher(DiagnosticArray, topic, 10)
        self._timer = node.create_timer(period_s, self.publish_now)

    def update(
        self,
        name: str,
        level: bytes,
        message: str,
        values: Mapping[str, Any] | None = None,
        hardware_id: str | None = None,
    ) -> None:
        status = make_status(
            name, level, message, values, self.hardware_id if hardware_id is None else hardware_id
        )
        with self._lock:
            self._statuses[name] = status

    def remove(self, name: str) -> None:
        with self._lock:
            self._statuses.pop(name, None)

    def statuses(self) -> list[DiagnosticStatus]:
        with self._lock:
            return list(self._statuses.values())

    def publish_now(self) -> None:
        statuses = self.statuses()
        if not statuses:
            return
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)
