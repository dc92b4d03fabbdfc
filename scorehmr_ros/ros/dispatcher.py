"""Bounded set queue (drop-oldest) and the dispatcher thread that empties it in batches."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Dispatcher:
    """``put`` (executor thread) queues an item, dropping the oldest beyond ``capacity()``; one
    thread hands up to ``batch_size()`` queued items to ``process`` at a time. An exception from
    ``process`` goes to ``on_error`` and the thread carries on."""

    def __init__(
        self,
        process: Callable[[list], None],
        on_error: Callable[[Exception], None],
        capacity: Callable[[], int],
        batch_size: Callable[[], int],
        name: str = "scorehmr_dispatcher",
    ) -> None:
        self._process, self._on_error = process, on_error
        self._capacity, self._batch_size = capacity, batch_size
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._running = False
        self._name = name
        self._thread: threading.Thread | None = None

    def put(self, item) -> bool:
        """Queue ``item``; returns False when an older item had to be dropped for it."""
        with self._cond:
            dropped = len(self._queue) >= self._capacity()
            if dropped:
                self._queue.popleft()
            self._queue.append((time.monotonic(), item))
            self._cond.notify()
        return not dropped

    def pending(self) -> int:
        """Items queued and not yet handed to ``process``."""
        with self._cond:
            return len(self._queue)

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._running

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (after the batch in progress) and forget what is queued."""
        with self._cond:
            self._running = False
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout_s)
        self._thread = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue:
                    self._cond.wait(timeout=0.2)
                if not self._running:
                    return
                n = min(len(self._queue), self._batch_size())
                batch = [self._queue.popleft()[1] for _ in range(n)]
            try:
                self._process(batch)
            except Exception as exc:  # never let one bad batch kill the thread
                self._on_error(exc)
