"""A token bucket for byte rates, shared by the threads of one job on one worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttle:
    """Lets `rate` bytes per second through on average, with bursts up to one second's worth.

    Time comes from `now` and waiting is `sleep` (both blocking-side), so a simulator can
    charge the wait to virtual time instead of sleeping for real.
    """

    def __init__(
        self,
        rate: int,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.now = now
        self.sleep = sleep
        self._tokens = float(rate)
        self._last = now()
        self._lock = threading.Lock()

    def consume(self, amount: int) -> None:
        """Block (this thread) until `amount` bytes may pass."""
        with self._lock:
            now = self.now()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= amount
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)


class Throttles:
    """One `Throttle` per job on this worker, replaced when the job's rate changes.

    Guarantees: the calls of one job (loads, fetches, prunes; on any thread) share one
    bucket, so the job's rate holds across all of them.
    """

    def __init__(self, now: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.now = now
        self.sleep = sleep
        self._by_job: dict[str, Throttle] = {}

    def for_job(self, job_id: str | None, bandwidth: int | None) -> Throttle | None:
        """The job's throttle at `bandwidth` bytes/s; None without a limit."""
        if not bandwidth:
            return None
        key = job_id or ""
        throttle = self._by_job.get(key)
        if throttle is None or throttle.rate != bandwidth:
            throttle = self._by_job[key] = Throttle(bandwidth, now=self.now, sleep=self.sleep)
        return throttle
