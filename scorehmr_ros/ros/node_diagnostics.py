"""Counters and timings of the multi-camera node, shared by the executor and dispatcher threads
under one lock, and their /diagnostics summary.

Per camera: ``input_rate_hz`` counts the messages received (before any check) over the last
``window_s``; drops are counted per reason both in total (``<reason>``) and over the window
(``drops_recent``). The camera's level is WARN only while it drops or is silent within the window,
so it recovers once the drops stop.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from scorehmr_ros.ros.diagnostics import OK, WARN

PIPELINE_COUNTERS = (
    "sets",
    "dropped_queue",
    "dropped_stamp",
    "clock_jumps",
    "published",
    "no_person",
    "bodies_rejected",
    "sets_rejected",
    "compute_errors",
    "compute_restarts",
    "bad_transforms",
)


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


class NodeMetrics:
    def __init__(self, cameras, window_s: float = 5.0, clock=time.monotonic) -> None:
        self.cameras = list(cameras)
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self.counters = dict.fromkeys(PIPELINE_COUNTERS, 0)
        self._received = {c: deque() for c in self.cameras}
        self._drops_total: dict[str, dict[str, int]] = {c: {} for c in self.cameras}
        self._drops_recent: dict[str, deque] = {c: deque() for c in self.cameras}
        self._latencies_ms: deque = deque(maxlen=500)
        self._split_ms: dict[str, deque] = {}
        self._sets_per_call: deque = deque(maxlen=500)

    def _trim(self, q: deque, now: float) -> None:
        while q and q[0] < now - self.window_s:
            q.popleft()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def received(self, camera: str) -> None:
        now = self._clock()
        with self._lock:
            q = self._received[camera]
            q.append(now)
            self._trim(q, now)

    def drop(self, camera: str, reason: str) -> None:
        now = self._clock()
        with self._lock:
            drops = self._drops_total[camera]
            drops[reason] = drops.get(reason, 0) + 1
            q = self._drops_recent[camera]
            q.append(now)
            self._trim(q, now)

    def record_call(self, sets_refined: int, latencies_ms, split_ms: dict[str, float] | None) -> None:
        with self._lock:
            self._sets_per_call.append(sets_refined)
            self._latencies_ms.extend(latencies_ms)
            for k, v in (split_ms or {}).items():
                self._split_ms.setdefault(k, deque(maxlen=500)).append(v)

    def camera_statuses(self) -> dict[str, tuple[bytes, str, dict]]:
        """camera -> (level, message, values)."""
        now = self._clock()
        out = {}
        with self._lock:
            for cam in self.cameras:
                self._trim(self._received[cam], now)
                self._trim(self._drops_recent[cam], now)
                rate = len(self._received[cam]) / self.window_s
                recent = len(self._drops_recent[cam])
                values = {"input_rate_hz": rate, "drops_recent": recent, **self._drops_total[cam]}
                if rate == 0:
                    out[cam] = (WARN, "silent", values)
                elif recent:
                    out[cam] = (WARN, f"receiving; {recent} drops in the last {self.window_s:g} s", values)
                else:
                    out[cam] = (OK, "receiving", values)
        return out

    def pipeline_values(self) -> dict:
        with self._lock:
            values = dict(self.counters)
            latencies = list(self._latencies_ms)
            splits = {k: list(v) for k, v in self._split_ms.items()}
            per_call = list(self._sets_per_call)
        values["latency_p50_ms"] = percentile(latencies, 50)
        values["latency_p95_ms"] = percentile(latencies, 95)
        for k, v in splits.items():
            values[f"{k}_p50_ms"] = percentile(v, 50)
            values[f"{k}_p95_ms"] = percentile(v, 95)
        values["sets_per_call_mean"] = float(np.mean(per_call)) if per_call else 0.0
        return values
