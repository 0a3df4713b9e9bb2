"""The apply's heartbeat: a status line on stderr at least every few seconds while work is
pending. Internal: no stable Python API."""

from __future__ import annotations

import math
import threading
import time

from .seams import Progress, ThrottleBudget
from .settle import Round

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat"]

HEARTBEAT_SECONDS = 10.0  # the longest silence on stderr while work is pending


class Heartbeat:
    """A line on stderr at least every `every` seconds while the apply has work pending:
    done/total, items Graph throttled, and when the budget lets the next request go.
    `graph` is the client; its `budget` (a `ThrottleBudget`), when it has one, is read."""

    def __init__(self, emit: Progress | None, *, total: int, graph: object, every: float) -> None:
        self._emit, self._total, self._graph, self._every = emit, total, graph, every
        self.finished = 0  # changes of earlier rounds
        self.current: Round | None = None
        self.waiting_until = 0.0  # the applier's own wait (monotonic), before a re-read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="apply-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self._emit is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def line(self) -> str:
        done = self.finished + (len(self.current.done) if self.current else 0)
        budget: ThrottleBudget | None = getattr(self._graph, "budget", None)
        throttled = getattr(budget, "throttled_items", 0)
        wait = max(
            self.waiting_until - time.monotonic(), budget.resume_in() if budget is not None else 0.0
        )
        text = f"apply: {done}/{self._total} done, {throttled} throttled"
        return text + (f", resuming in {math.ceil(wait)} s" if wait > 0 else ", sending")

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            assert self._emit is not None
            self._emit(self.line())
