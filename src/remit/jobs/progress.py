"""The throttle between a handler's progress reports and the store.

A handler may report progress after every row; the store gets at most one write per job
every ``interval_seconds``. A report that comes too soon is held as *pending* (the newest
one wins) and written by the worker's heartbeat a moment later; the last step of a job
(``done >= total``) is always written at once.

>>> clock = iter([0.0, 0.1, 0.2, 0.3]).__next__
>>> t = ProgressThrottle(interval_seconds=0.25, clock=clock)
>>> t.offer(1, (1, 10, "a")), t.offer(1, (2, 10, "b")), t.take_pending(1)
(True, False, (2, 10, 'b'))
>>> t.offer(1, (10, 10, "done")), t.take_pending(1)
(True, None)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

State = tuple[int, int, str]  # done, total, message


class ProgressThrottle:
    """Last write time and pending report per job, shared by the threads of a process."""

    def __init__(
        self, interval_seconds: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}
        self._pending: dict[int, State] = {}

    def offer(self, job_id: int, state: State) -> bool:
        """True: write ``state`` now. False: it is held as pending."""
        done, total, _ = state
        with self._lock:
            now = self._clock()
            last = self._last.get(job_id)
            if (
                (total > 0 and done >= total)
                or last is None
                or (now - last >= self.interval_seconds)
            ):
                self._last[job_id] = now
                self._pending.pop(job_id, None)
                return True
            self._pending[job_id] = state
            return False

    def take_pending(self, job_id: int) -> State | None:
        """The held report (to write it now), if any."""
        with self._lock:
            state = self._pending.pop(job_id, None)
            if state is not None:
                self._last[job_id] = self._clock()
            return state

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._last.pop(job_id, None)
            self._pending.pop(job_id, None)


# One per process: the worker's handler thread offers, its heartbeat thread takes.
throttle = ProgressThrottle()
