"""Approximate-time synchronisation of several message streams (message_filters is not installable here).

:class:`ApproximateTimeSync` is a pure-Python, ROS-agnostic port of the *adaptive* algorithm of the
C++ ``message_filters::sync_policies::ApproximateTime`` policy (not of the simpler slop-window
heuristic of ROS 2's Python ``message_filters.ApproximateTimeSynchronizer``). Stamps are integer
nanoseconds, messages are opaque objects. Semantics kept from the C++ policy:

* one queue per input, at most ``queue_size`` messages each (pending + messages hidden by the
  ongoing candidate search); on overflow the search is cancelled, the input's oldest message is
  dropped and that input may not become the pivot until some other input has held the newest head;
* a set holds exactly one message per input, each message is used at most once, and sets come
  out in time order;
* a set is emitted only once it is provably the best one: the first candidate's newest message
  is the *pivot*; later candidates (start moved forward message by message) replace it only if
  their time spread is smaller, and the candidate is published once the start reaches the pivot,
  once any future candidate must span ``[pivot_time, current end]`` (already too wide), or once a
  *virtual* search proves it, where an input without queued messages is assumed to deliver next at
  ``max(last stamp + inter_message_lower_bound, pivot_time)``;
* ``slop_ns`` is ``max_interval_duration``: a candidate wider than it is never formed (its oldest
  message is discarded instead);
* tie breaking as in C++: the start is the lowest-index oldest head, the end the highest-index
  newest head.

Left out: ``age_penalty`` (fixed at 0) and ``checkInterMessageBound`` (C++ only logs a warning
when the declared bound or the arrival order is violated). Additions, not in message_filters:

* a message not newer than what its input last contributed to an emitted set is dropped
  (``dropped_late``); an exact duplicate stamp is dropped (``dropped_duplicate``); a message that
  arrives out of order but is still usable is inserted in stamp order after cancelling the
  ongoing search (``reordered``); C++ would silently break its time-order invariant instead;
* partial sets (``partial_timeout_ns``): :meth:`ApproximateTimeSync.poll` (call it from a timer)
  looks at the oldest queued message; once it is older than ``now - partial_timeout_ns`` nothing
  may wait any longer. A pending full candidate is then published without its optimality proof;
  otherwise the same adaptive search runs over the inputs that have data and publishes its best
  candidate with ``None`` for the silent inputs (if at least ``min_inputs_for_partial`` have data;
  if not, the expired messages are dropped, ``dropped_timeout``). Stamps are compared with
  ``now``, so the timeout must exceed the transport-latency difference between inputs; ``now``
  may be the ROS clock or, by default, the newest stamp received on any input. A partial set
  never overlaps in time with the sets before and after it: before one is formed, queued messages
  not after the previous set's newest stamp are dropped, and after it nothing at or before its own
  newest stamp is accepted on any input. When a silent input comes back, full sets resume (the
  few frames still waiting for their timeout are then resolved by the normal search, which may
  drop some of them).

Every emitted set's oldest and newest stamps strictly increase. :class:`SynchronizerNodeAdapter`
is a thin rclpy wrapper (subscriptions + poll timer) around it.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rclpy.clock import Clock, ClockType

__all__ = ["ApproximateTimeSync", "SyncStats", "SyncedSet", "SynchronizerNodeAdapter", "stamp_to_ns"]

_NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """Integer nanoseconds of a ``builtin_interfaces/msg/Time`` (or anything with ``sec``/``nanosec``)."""
    return int(stamp.sec) * _NS_PER_S + int(stamp.nanosec)


@dataclass
class SyncedSet:
    """One synchronised set, indexed by input; ``None`` marks an input missing from a partial set."""

    messages: list[Any]
    stamps_ns: list[int | None]
    emitted_partial: bool = False

    @property
    def start_ns(self) -> int:
        """Oldest stamp in the set."""
        return min(s for s in self.stamps_ns if s is not None)

    @property
    def end_ns(self) -> int:
        """Newest stamp in the set."""
        return max(s for s in self.stamps_ns if s is not None)

    @property
    def spread_ns(self) -> int:
        """Time spread (newest minus oldest stamp)."""
        return self.end_ns - self.start_ns


@dataclass
class SyncStats:
    """Counters. Every received message ends up in exactly one of: an emitted set, a ``dropped_*``
    counter, or the queues (``ApproximateTimeSync.num_pending``)."""

    received: int = 0
    dropped_late: int = 0  # not newer than what was already emitted for its input
    dropped_duplicate: int = 0  # same stamp as a message already queued for its input
    dropped_queue_overflow: int = 0
    dropped_unmatched: int = 0  # discarded by the search (outside slop, or a better set was chosen)
    dropped_timeout: int = 0  # expired in partial mode without enough inputs for a partial set
    reordered: int = 0  # arrived out of order, inserted in stamp order (not a drop)
    emitted_full: int = 0
    emitted_partial: int = 0
    forced_full: int = 0  # full sets published by poll() without an optimality proof (also in emitted_full)
    per_input_dropped: list[int] = field(default_factory=list)


class ApproximateTimeSync:
    """Adaptive approximate-time synchroniser (C++ ApproximateTime policy); see the module docstring.

    ``inter_message_lower_bounds_ns`` (one per input, default 0) is the C++
    ``setInterMessageLowerBound``: a lower bound on the gap between consecutive stamps of an input,
    which lets sets be proven optimal (and emitted) earlier. Not thread-safe; guard it externally.
    """

    def __init__(
        self,
        num_inputs: int,
        queue_size: int,
        slop_ns: int | None = None,
        partial_timeout_ns: int | None = None,
        min_inputs_for_partial: int = 1,
        inter_message_lower_bounds_ns: Sequence[int] | None = None,
    ) -> None:
        if num_inputs < 1:
            raise ValueError("num_inputs must be at least 1")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if slop_ns is not None and slop_ns < 0:
            raise ValueError("slop_ns must be >= 0")
        if partial_timeout_ns is not None and partial_timeout_ns < 0:
            raise ValueError("partial_timeout_ns must be >= 0")
        if not 1 <= min_inputs_for_partial <= num_inputs:
            raise ValueError("min_inputs_for_partial must be in [1, num_inputs]")
        bounds = list(inter_message_lower_bounds_ns or [0] * num_inputs)
        if len(bounds) != num_inputs or any(b < 0 for b in bounds):
            raise ValueError("inter_message_lower_bounds_ns needs one non-negative bound per input")
        self.num_inputs = num_inputs
        self.queue_size = queue_size
        self.slop_ns = slop_ns
        self.partial_timeout_ns = partial_timeout_ns
        self.min_inputs_for_partial = min_inputs_for_partial
        self.stats = SyncStats(per_input_dropped=[0] * num_inputs)
        self._bounds = bounds
        self._all = tuple(range(num_inputs))
        # Per input: queued (stamp, msg) in stamp order, and the messages the search moved past.
        self._deques: list[deque[tuple[int, Any]]] = [deque() for _ in self._all]
        self._past: list[list[tuple[int, Any]]] = [[] for _ in self._all]
        self._has_dropped = [False] * num_inputs
        self._candidate: dict[int, tuple[int, Any]] | None = None
        self._cand_start = 0
        self._cand_end = 0
        self._pivot: int | None = None
        self._pivot_time = 0
        self._watermark: list[int | None] = [None] * num_inputs  # newest stamp already emitted/excluded
        self._last_end: int | None = None
        self._newest_seen: int | None = None
        self._out: list[SyncedSet] = []
        self._arrival: dict[tuple[int, int], int] = {}  # (input, stamp) -> arrival time, if given

    # ------------------------------------------------------------------ public API

    @property
    def num_pending(self) -> int:
        """Messages still queued (including those hidden by an ongoing candidate search)."""
        return sum(len(q) + len(p) for q, p in zip(self._deques, self._past, strict=True))

    def add(
        self, input_index: int, stamp_ns: int, msg: Any, arrival_ns: int | None = None
    ) -> list[SyncedSet]:
        """Queue ``msg`` (stamp ``stamp_ns``) on input ``input_index``; return the sets it completed.

        ``arrival_ns`` (any monotonic clock) lets :meth:`poll` time partial sets by arrival.
        """
        if not 0 <= input_index < self.num_inputs:
            raise IndexError(f"input_index {input_index} out of range [0, {self.num_inputs})")
        i, stamp = input_index, int(stamp_ns)
        self.stats.received += 1
        if arrival_ns is not None:
            self._arrival[(i, stamp)] = int(arrival_ns)
        if self._newest_seen is None or stamp > self._newest_seen:
            self._newest_seen = stamp
        if self._watermark[i] is not None and stamp <= self._watermark[i]:
            self._drop(i, "dropped_late")
            return []
        q = self._deques[i]
        newest = q[-1][0] if q else (self._past[i][-1][0] if self._past[i] else None)
        if newest is None or stamp > newest:
            q.append((stamp, msg))
        else:
            self._reset_search()  # the hidden messages are back in q, in order
            stamps = [s for s, _ in q]
            pos = bisect.bisect_left(stamps, stamp)
            if pos < len(stamps) and stamps[pos] == stamp:
                self._drop(i, "dropped_duplicate")
                self._process(self._all)
                return self._take_out()
            q.insert(pos, (stamp, msg))
            self.stats.reordered += 1
        self._process(self._all)
        if len(self._deques[i]) + len(self._past[i]) > self.queue_size:
            # As C++: cancel the search, drop this input's oldest message, bar it as pivot for now.
            had_candidate = self._pivot is not None
            self._reset_search()
            self._deques[i].popleft()
            self._drop(i, "dropped_queue_overflow")
            self._has_dropped[i] = True
            if had_candidate:
                self._process(self._all)
        return self._take_out()

    def poll(self, now_ns: int | None = None, *, arrival_now_ns: int | None = None) -> list[SyncedSet]:
        """Partial-set timeout check (no-op without ``partial_timeout_ns``); call it from a timer.

        By stamp: a message expires once its stamp is older than ``now_ns - partial_timeout_ns``
        (``now_ns`` defaults to the newest stamp received so far on any input). By arrival (pass
        ``arrival_now_ns``, on the clock of :meth:`add`'s ``arrival_ns``): once it has waited
        ``partial_timeout_ns`` since it arrived, whatever the stamps say (bag replay slower or
        faster than real time, a source clock far from the node's).
        """
        if self.partial_timeout_ns is None:
            return []
        by_arrival = arrival_now_ns is not None
        now = int(arrival_now_ns) if by_arrival else (self._newest_seen if now_ns is None else int(now_ns))
        if now is None:
            return []
        deadline = now - self.partial_timeout_ns

        def age_key(i: int, stamp: int) -> int:
            return self._arrival.get((i, stamp), now) if by_arrival else stamp

        while True:
            heads = [
                age_key(i, (p[0] if p else q[0])[0])
                for i, (q, p) in enumerate(zip(self._deques, self._past, strict=True))
                if q or p
            ]
            if not heads or min(heads) >= deadline:
                break
            if self._pivot is not None:
                # A full candidate is waiting for a message that does not come: publish it as is.
                self._publish(self._all)
                self.stats.forced_full += 1
                self._process(self._all)
                continue
            self._drop_not_after_last_end()
            present = tuple(i for i in self._all if self._deques[i])
            if len(present) == self.num_inputs:  # not reachable at rest; keep the search going
                self._process(self._all)
            elif len(present) >= self.min_inputs_for_partial:
                self._process(present, forced=True)
            else:
                for i in self._all:
                    q = self._deques[i]
                    while q and age_key(i, q[0][0]) < deadline:
                        q.popleft()
                        self._drop(i, "dropped_timeout")
        return self._take_out()

    # ------------------------------------------------------------------ the C++ search

    def _process(self, active: tuple[int, ...], forced: bool = False) -> None:
        """The C++ ``process()`` over ``active`` inputs. ``forced``: publish the first candidate found
        (or the pending one when a queue runs dry) instead of waiting for an optimality proof."""
        deques = self._deques
        while all(deques[i] for i in active):
            start_i, start_t, end_i, end_t = self._boundary(active, virtual=False)
            for i in active:
                if i != end_i:
                    self._has_dropped[i] = False  # no dropped message could have beaten these heads
            if self._pivot is None:
                if self.slop_ns is not None and end_t - start_t > self.slop_ns:
                    self._delete_front(start_i)
                    continue
                if self._has_dropped[end_i] and not forced:
                    self._delete_front(start_i)
                    continue
                self._make_candidate(active, start_t, end_t)
                self._pivot, self._pivot_time = end_i, end_t
                self._move_to_past(start_i)
            elif end_t - self._cand_end >= start_t - self._cand_start:
                self._move_to_past(start_i)  # not better than the current candidate
            else:
                self._make_candidate(active, start_t, end_t)  # better; pivot stays
                self._move_to_past(start_i)
            if start_i == self._pivot or end_t - self._cand_end >= self._pivot_time - self._cand_start:
                # All candidates for this pivot seen, or any later one must span [pivot_time, end_t].
                self._publish(active)
                if forced:
                    return
            elif not forced and not all(deques[i] for i in active):
                self._virtual_search(active)
        if forced and self._pivot is not None:
            self._publish(active)

    def _virtual_search(self, active: tuple[int, ...]) -> None:
        """Try to prove the candidate optimal assuming empty inputs deliver as early as possible."""
        moves = dict.fromkeys(active, 0)
        while True:
            start_i, start_t, _, end_t = self._boundary(active, virtual=True)
            if end_t - self._cand_end >= self._pivot_time - self._cand_start:
                self._publish(active)  # proven; also undoes the virtual moves
                return
            if end_t - self._cand_end < start_t - self._cand_start:
                for i in active:  # an optimistic future candidate could be better: undo and wait
                    for _ in range(moves[i]):
                        self._deques[i].appendleft(self._past[i].pop())
                return
            assert start_i != self._pivot and start_t < self._pivot_time
            self._move_to_past(start_i)
            moves[start_i] += 1

    def _time_of(self, i: int, virtual: bool) -> int:
        q = self._deques[i]
        if q:
            return q[0][0]
        assert virtual and self._past[i], "an empty input has its candidate message in the past"
        return max(self._past[i][-1][0] + self._bounds[i], self._pivot_time)

    def _boundary(self, active: tuple[int, ...], virtual: bool) -> tuple[int, int, int, int]:
        """(start index, start time, end index, end time): first oldest head, last newest head."""
        start_i = end_i = active[0]
        start_t = end_t = self._time_of(start_i, virtual)
        for i in active[1:]:
            t = self._time_of(i, virtual)
            if t < start_t:
                start_i, start_t = i, t
            if t >= end_t:
                end_i, end_t = i, t
        return start_i, start_t, end_i, end_t

    def _make_candidate(self, active: tuple[int, ...], start_t: int, end_t: int) -> None:
        self._candidate = {i: self._deques[i][0] for i in active}
        self._cand_start, self._cand_end = start_t, end_t
        for i in active:  # everything moved past so far is older than the new candidate: discard
            for _ in self._past[i]:
                self._drop(i, "dropped_unmatched")
            self._past[i].clear()

    def _publish(self, active: tuple[int, ...]) -> None:
        assert self._candidate is not None
        candidate = self._candidate
        self._candidate, self._pivot = None, None
        for i in active:  # put the hidden messages back and remove the published one
            q, past = self._deques[i], self._past[i]
            q.extendleft(reversed(past))
            past.clear()
            assert q[0] is candidate[i]
            q.popleft()
        partial = len(active) < self.num_inputs
        messages = [candidate[i][1] if i in candidate else None for i in self._all]
        stamps = [candidate[i][0] if i in candidate else None for i in self._all]
        out = SyncedSet(messages=messages, stamps_ns=stamps, emitted_partial=partial)
        end = out.end_ns
        for i in self._all:
            mark = end if partial or stamps[i] is None else stamps[i]
            if self._watermark[i] is None or mark > self._watermark[i]:
                self._watermark[i] = mark
        self._last_end = end
        if partial:
            self.stats.emitted_partial += 1
        else:
            self.stats.emitted_full += 1
        self._out.append(out)

    # ------------------------------------------------------------------ helpers

    def _reset_search(self) -> None:
        """Cancel an ongoing candidate search (C++ ``recover``): hidden messages go back in order."""
        for q, past in zip(self._deques, self._past, strict=True):
            q.extendleft(reversed(past))
            past.clear()
        self._candidate, self._pivot = None, None

    def _delete_front(self, i: int) -> None:
        self._deques[i].popleft()
        self._drop(i, "dropped_unmatched")

    def _move_to_past(self, i: int) -> None:
        self._past[i].append(self._deques[i].popleft())

    def _drop(self, i: int, counter: str) -> None:
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self.stats.per_input_dropped[i] += 1

    def _drop_not_after_last_end(self) -> None:
        """Before a partial set: queued messages not after the last emitted set's end are too late."""
        if self._last_end is None:
            return
        for i in self._all:
            q = self._deques[i]
            while q and q[0][0] <= self._last_end:
                q.popleft()
                self._drop(i, "dropped_late")

    def _take_out(self) -> list[SyncedSet]:
        out, self._out = self._out, []
        if self._arrival:  # forget arrival times of messages no longer queued
            queued = {(i, s) for i in self._all for s, _ in (*self._deques[i], *self._past[i])}
            self._arrival = {k: v for k, v in self._arrival.items() if k in queued}
        return out


class SynchronizerNodeAdapter:
    """Subscribe a node to several header-stamped topics and call ``callback(*messages)`` per set.

    ``inputs`` is a sequence of ``(msg_type, topic, qos)``. Messages are positional by input and
    ``None`` for an input missing from a partial set. With ``partial_timeout_ns`` a timer (period
    ``poll_period_ns``, default a quarter of the timeout) calls :meth:`ApproximateTimeSync.poll`
    timing each message from its arrival (``time.monotonic_ns``), not from its stamp: complete sets
    of a bag replayed slower than real time (with ``/clock``) are not split. The callback runs under
    the adapter's lock, so sets are delivered in order even with a multi-threaded executor.
    """

    def __init__(
        self,
        node: Any,
        inputs: Sequence[tuple[type, str, Any]],
        callback: Callable[..., None],
        *,
        queue_size: int = 10,
        slop_ns: int | None = None,
        partial_timeout_ns: int | None = None,
        min_inputs_for_partial: int = 1,
        poll_period_ns: int | None = None,
        callback_group: Any = None,
        accept: Callable[[int, Any], bool] | None = None,
    ) -> None:
        self._sync_args = (len(inputs), queue_size, slop_ns, partial_timeout_ns, min_inputs_for_partial)
        self.sync = ApproximateTimeSync(*self._sync_args)
        self._accept = accept
        self._node = node
        self._callback = callback
        self._lock = threading.Lock()
        group = callback_group
        self._subscriptions = [
            node.create_subscription(
                msg_type, topic, functools.partial(self._on_message, index), qos, callback_group=group
            )
            for index, (msg_type, topic, qos) in enumerate(inputs)
        ]
        self._timer = None
        if partial_timeout_ns is not None:
            period_ns = poll_period_ns or max(partial_timeout_ns // 4, 1_000_000)
            # A steady clock: polling goes on while a replay's /clock is slow or paused.
            self._timer = node.create_timer(
                period_ns / _NS_PER_S,
                self._on_timer,
                callback_group=group,
                clock=Clock(clock_type=ClockType.STEADY_TIME),
            )

    def reset(self) -> None:
        """Forget every queued message and the time order (e.g. after the source clock jumped back)."""
        with self._lock:
            self.sync = ApproximateTimeSync(*self._sync_args)

    def _on_message(self, index: int, msg: Any) -> None:
        if self._accept is not None and not self._accept(index, msg):
            return
        with self._lock:
            self._deliver(self.sync.add(index, stamp_to_ns(msg.header.stamp), msg, time.monotonic_ns()))

    def _on_timer(self) -> None:
        with self._lock:
            self._deliver(self.sync.poll(arrival_now_ns=time.monotonic_ns()))

    def _deliver(self, sets: list[SyncedSet]) -> None:
        for synced in sets:
            self._callback(*synced.messages)

    def destroy(self) -> None:
        """Remove the subscriptions and the timer from the node."""
        for sub in self._subscriptions:
            self._node.destroy_subscription(sub)
        self._subscriptions = []
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None
