"""Record ROS 2 topics to an MCAP file that Foxglove (and ``mcap_ros2``) can read.

rosbag2 is not installable here; :class:`McapRecorder` does what ``ros2 bag record -s mcap`` does
for a list of topics: it subscribes to each topic with the raw (serialized CDR) callback and writes
every message as it arrives, with the ``ros2msg`` schema of its type (the message definition and
all its dependencies, concatenated in rosbag2's format, see :func:`message_definition`), message
encoding ``cdr``, log time = reception time and publish time = the publisher's source timestamp.

QoS: like rosbag2, a topic is subscribed once a publisher is discovered, with the publishers'
QoS (reliable if all of them are reliable, transient-local if all of them are, so that latched
topics such as ``/tf_static`` are recorded), depth 100. Topics without publishers are retried on
every discovery tick (``discovery_period``), so a recorder may start before the publishers.

Command line::

    python -m scorehmr_ros.ros.recorder --out run.mcap \\
        --topics /cam1/image_raw:sensor_msgs/msg/Image,/tf_static:tf2_msgs/msg/TFMessage --duration 10

Stops after ``--duration`` seconds (0 = until Ctrl-C) and always closes the file properly.
``--max-rate /cam1/image_raw=2`` (repeatable; parameter ``max_rates``) keeps at most that many
messages per second of a topic (e.g. camera images, 0.9 MB each at 30 Hz): a message is written
when at least ``1/hz`` seconds passed since the last one written; the others are counted in
:attr:`McapRecorder.skipped`.
:func:`read_mcap_summary` counts the messages per topic of a recorded file.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

SEPARATOR = "=" * 80
_PRIMITIVES = frozenset(
    {
        "bool",
        "byte",
        "char",
        "float32",
        "float64",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "string",
        "wstring",
    }
)


# --------------------------------------------------------------------------------------------
# Message types and definitions
# --------------------------------------------------------------------------------------------
def _split_type(type_name: str) -> tuple[str, str]:
    """``pkg/msg/Type`` or ``pkg/Type`` -> ``(pkg, Type)``."""
    parts = [p for p in type_name.strip().split("/") if p]
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"not a message type name: {type_name!r} (expected pkg/msg/Type)")


def type_name_of(msg_class) -> str:
    """``pkg/msg/Type`` of a generated message class (e.g. ``sensor_msgs/msg/Image``)."""
    pkg = msg_class.__module__.split(".")[0]
    return f"{pkg}/msg/{msg_class.__name__}"


def get_message_class(type_name: str):
    """The generated Python class of ``pkg/msg/Type`` (or ``pkg/Type``)."""
    pkg, name = _split_type(type_name)
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"unknown message type {type_name!r}: {exc}") from None


def _ensure_ament_prefix() -> None:
    if not os.environ.get("AMENT_PREFIX_PATH"):
        os.environ["AMENT_PREFIX_PATH"] = sys.prefix


def _msg_file(pkg: str, name: str) -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    _ensure_ament_prefix()
    candidates = []
    try:
        candidates.append(Path(get_package_share_directory(pkg)) / "msg" / f"{name}.msg")
    except (PackageNotFoundError, LookupError, ValueError):
        pass
    candidates.append(Path(sys.prefix) / "share" / pkg / "msg" / f"{name}.msg")
    if pkg == "scorehmr_ros":  # an editable checkout: the sources in msg/
        candidates.append(Path(__file__).resolve().parents[2] / "msg" / f"{name}.msg")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no definition for {pkg}/msg/{name} (looked in {[str(c) for c in candidates]})")


def _dependencies(pkg: str, text: str) -> list[tuple[str, str]]:
    """Complex field types ``(pkg, Type)`` of a .msg text, in order of appearance."""
    deps: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        field_type = line.split()[0]
        field_type = re.sub(r"\[[^\]]*\]$", "", field_type)  # T[], T[N], T[<=N]
        field_type = re.sub(r"<=\d+$", "", field_type)  # string<=N
        if field_type in _PRIMITIVES:
            continue
        if "/" in field_type:
            dep = _split_type(field_type)
        elif field_type == "Header":
            dep = ("std_msgs", "Header")
        else:
            dep = (pkg, field_type)
        if dep not in deps:
            deps.append(dep)
    return deps


@functools.cache
def message_definition(type_name: str) -> str:
    """The ``ros2msg`` schema text of a message type, as rosbag2 writes it into MCAP files.

    The type's own .msg text, then every (transitive) dependency once, depth first, each after a
    line of 80 ``=`` and a ``MSG: pkg/Type`` line. .msg files are looked up through the ament index
    (``AMENT_PREFIX_PATH``, set to ``sys.prefix`` when unset), then ``<sys.prefix>/share``.
    """
    root = _split_type(type_name)
    texts: dict[tuple[str, str], str] = {}
    order: list[tuple[str, str]] = []

    def visit(dep: tuple[str, str]) -> None:
        if dep in texts:
            return
        text = _msg_file(*dep).read_text()
        texts[dep] = text
        order.append(dep)
        for sub in _dependencies(dep[0], text):
            visit(sub)

    visit(root)
    parts = [texts[root].rstrip("\n")]
    for pkg, name in order[1:]:
        parts.append(f"{SEPARATOR}\nMSG: {pkg}/{name}\n{texts[(pkg, name)].rstrip(chr(10))}")
    return "\n".join(parts) + "\n"


def parse_topics(spec: str | Iterable[str]) -> list[tuple[str, str]]:
    """``"/a:pkg/msg/A,/b:pkg/msg/B"`` (or a list of ``"/a:pkg/msg/A"``) -> ``[(topic, type), ...]``."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        topic, sep, type_name = item.rpartition(":")
        if not sep or not topic or not type_name:
            raise ValueError(f"bad topic spec {item!r}: expected /topic:pkg/msg/Type")
        _split_type(type_name)
        out.append((topic.strip(), type_name.strip()))
    return out


def parse_max_rates(spec: Iterable[str]) -> dict[str, float]:
    """``["/cam1/image_raw=2", ...]`` -> ``{"/cam1/image_raw": 2.0}`` (hz > 0)."""
    out: dict[str, float] = {}
    for item in spec:
        topic, sep, hz = str(item).strip().rpartition("=")
        if not sep or not topic.startswith("/"):
            raise ValueError(f"expected '/topic=hz', got {item!r}")
        rate = float(hz)
        if not rate > 0:
            raise ValueError(f"rate of {topic} must be > 0, got {hz}")
        out[topic] = rate
    return out


def _adapted_qos(publishers) -> QoSProfile:
    """A subscription QoS compatible with every publisher (and as strong as all of them allow)."""
    profiles = [p.qos_profile for p in publishers]
    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in profiles)
    latched = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in profiles)
    return QoSProfile(
        depth=100,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


# --------------------------------------------------------------------------------------------
# Recorder node
# --------------------------------------------------------------------------------------------
class McapRecorder(Node):
    """Writes every message of the given topics to an MCAP file (see the module docstring).

    Args:
        output: the .mcap path (parameter ``output`` when ``None``).
        topics: ``[(topic, "pkg/msg/Type"), ...]`` (parameter ``topics``, a list of
            ``"/topic:pkg/msg/Type"`` strings, when ``None``).
    Attributes:
        counts: messages written per topic.
    """

    def __init__(
        self,
        output: str | Path | None = None,
        topics: Sequence[tuple[str, str]] | None = None,
        *,
        max_rates: dict[str, float] | None = None,
        node_name: str = "mcap_recorder",
        **kwargs,
    ) -> None:
        super().__init__(node_name, **kwargs)
        from mcap.writer import CompressionType
        from mcap.writer import Writer as McapWriter

        self.declare_parameter(
            "output", "", ParameterDescriptor(description="Path of the MCAP file to write.")
        )
        self.declare_parameter(
            "topics",
            [""],
            ParameterDescriptor(description="Topics to record, as '/topic:pkg/msg/Type' strings."),
        )
        self.declare_parameter(
            "discovery_period",
            0.1,
            ParameterDescriptor(description="Seconds between checks for publishers of unsubscribed topics."),
        )
        self.declare_parameter(
            "max_rates",
            [""],
            ParameterDescriptor(description="Per-topic rate limits, as '/topic=hz' strings (others: all)."),
        )
        self.declare_parameter(
            "compression",
            "zstd",
            ParameterDescriptor(description="MCAP chunk compression: zstd, lz4 or none."),
        )
        if output is None:
            output = self.get_parameter("output").value
        if not output:
            raise ValueError("McapRecorder needs an output path (argument or parameter 'output')")
        if topics is None:
            topics = parse_topics([t for t in self.get_parameter("topics").value if t])
        if not topics:
            raise ValueError("McapRecorder needs at least one topic")
        if max_rates is None:
            max_rates = parse_max_rates([r for r in self.get_parameter("max_rates").value if r])
        unknown = sorted(set(max_rates) - {t for t, _ in topics})
        if unknown:
            raise ValueError(f"max_rates names topics that are not recorded: {', '.join(unknown)}")
        self.output = Path(output)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        compression = {
            "zstd": CompressionType.ZSTD,
            "lz4": CompressionType.LZ4,
            "none": CompressionType.NONE,
        }[str(self.get_parameter("compression").value).lower()]

        self._lock = threading.Lock()
        self._file = open(self.output, "wb")  # closed in close()
        self._writer = McapWriter(self._file, compression=compression)
        self._writer.start(profile="ros2", library="scorehmr_ros McapRecorder")
        self._closed = False
        self.counts: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._types: dict[str, type] = {}
        self._pending: list[str] = []
        self._subscriptions_by_topic: dict = {}
        schema_ids: dict[str, int] = {}
        for topic, type_name in topics:
            pkg, name = _split_type(type_name)
            full = f"{pkg}/msg/{name}"
            if topic in self._channels:
                raise ValueError(f"topic {topic} given twice")
            self._types[topic] = get_message_class(full)
            if full not in schema_ids:
                schema_ids[full] = self._writer.register_schema(
                    name=full, encoding="ros2msg", data=message_definition(full).encode()
                )
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=schema_ids[full]
            )
            self.counts[topic] = 0
            self._pending.append(topic)
        self._min_period_ns = {t: int(1e9 / hz) for t, hz in max_rates.items() if hz > 0}
        self._last_written_ns: dict[str, int] = {}
        self.skipped: dict[str, int] = dict.fromkeys(self._min_period_ns, 0)
        self._sequence = 0
        self._discover()
        period = float(self.get_parameter("discovery_period").value)
        self._discovery_timer = self.create_timer(period, self._discover)
        self.get_logger().info(f"recording {len(self._channels)} topic(s) to {self.output}")

    @property
    def subscribed_topics(self) -> list[str]:
        return list(self._subscriptions_by_topic)

    def _discover(self) -> None:
        for topic in list(self._pending):
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            qos = _adapted_qos(publishers)
            self._subscriptions_by_topic[topic] = self.create_subscription(
                self._types[topic], topic, functools.partial(self._on_message, topic), qos, raw=True
            )
            self._pending.remove(topic)
            self.get_logger().info(
                f"subscribed {topic} ({qos.reliability.name.lower()}, {qos.durability.name.lower()})"
            )
        if not self._pending:
            self._discovery_timer_cancel()

    def _discovery_timer_cancel(self) -> None:
        timer = getattr(self, "_discovery_timer", None)
        if timer is not None:
            timer.cancel()

    def _on_message(self, topic: str, data: bytes, info) -> None:
        now = time.time_ns()
        log_time = int(info.get("received_timestamp", 0) or now) if isinstance(info, dict) else now
        publish_time = int(info.get("source_timestamp", 0) or log_time) if isinstance(info, dict) else now
        with self._lock:
            if self._closed:
                return
            period = self._min_period_ns.get(topic)
            if period is not None:
                last = self._last_written_ns.get(topic)
                if last is not None and log_time - last < period:
                    self.skipped[topic] += 1
                    return
                self._last_written_ns[topic] = log_time
            self._writer.add_message(
                channel_id=self._channels[topic],
                log_time=log_time,
                publish_time=publish_time,
                sequence=self._sequence,
                data=bytes(data),
            )
            self._sequence += 1
            self.counts[topic] += 1

    def close(self) -> None:
        """Finish the MCAP file (summary, index) and close it; further messages are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._writer.finish()
            finally:
                self._file.close()
        if self.context.ok():  # after Ctrl-C the context is gone and /rosout with it
            self.get_logger().info(
                f"wrote {sum(self.counts.values())} message(s) to {self.output}: "
                + ", ".join(f"{t} {n}" for t, n in self.counts.items())
                + "".join(f"; {t}: {n} skipped by max_rates" for t, n in self.skipped.items())
            )

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def read_mcap_summary(path: str | Path) -> dict[str, int]:
    """Messages per topic of an MCAP file (every channel listed, possibly with 0)."""
    from mcap.reader import make_reader

    with open(path, "rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        if summary is not None and summary.statistics is not None:
            counts = summary.statistics.channel_message_counts
            return {ch.topic: int(counts.get(cid, 0)) for cid, ch in summary.channels.items()}
        out: dict[str, int] = {}
        for _schema, channel, _message in reader.iter_messages():
            out[channel.topic] = out.get(channel.topic, 0) + 1
        return out


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record ROS 2 topics to an MCAP file.")
    parser.add_argument("--out", required=True, help="output .mcap file")
    parser.add_argument(
        "--topics",
        required=True,
        help="comma-separated /topic:pkg/msg/Type list, e.g. /tf:tf2_msgs/msg/TFMessage",
    )
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to record (0 = until Ctrl-C)")
    parser.add_argument(
        "--max-rate",
        action="append",
        default=[],
        metavar="/TOPIC=HZ",
        help="write at most HZ messages per second of TOPIC (repeatable)",
    )
    args, ros_args = parser.parse_known_args(argv)
    topics = parse_topics(args.topics)
    max_rates = parse_max_rates(args.max_rate)

    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=[sys.argv[0], *ros_args])
    node = McapRecorder(args.out, topics, max_rates=max_rates)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    start = time.monotonic()
    try:
        while rclpy.ok() and (args.duration <= 0 or time.monotonic() - start < args.duration):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        executor.remove_node(node)
        node.destroy_node()
        rclpy.try_shutdown()
    counts = read_mcap_summary(args.out)
    print(f"{args.out}: " + ", ".join(f"{t} {n}" for t, n in counts.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
