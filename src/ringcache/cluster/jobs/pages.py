"""One page of a file job on its way: sent to the workers, retried, counted.

A page keeps its own counters and failures until the run commits it; its files are held
only while they load (a page that has loaded is its counters, its cursor and its failures).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from ..clock import Clock
from .dispatch import Dispatcher
from .model import RETRYABLE, FailureReason
from .source import Page
from .work import FileWork, failure_entry

UFS_ATTEMPTS = 4


class PageWork:
    """A page on its way through the flow: its own counters until it is committed.

    A retry page (`generation` set) moves no cursor; committing it starts a new
    generation of failed files and drops the old one.
    """

    def __init__(self, page: Page, counters: dict[str, int], generation: int | None = None):
        self.page = page
        self.counters = counters
        self.generation = generation
        self.failed: list[dict[str, str]] = list(page.failures)
        self.size = len(page.files)  # files it holds until it has loaded
        self.task: asyncio.Task | None = None


class PageLoader:
    """Loads a page: every file answered once, failed ones retried with backoff.

    UFS errors get UFS_ATTEMPTS attempts; worker trouble (a worker gone or failing) gets
    `retry_window` seconds, long enough for the ring to move on to the workers alive.
    """

    def __init__(
        self, work: FileWork | None, dispatcher: Dispatcher, clock: Clock, retry_window: float
    ) -> None:
        self.work = work
        self.dispatcher = dispatcher
        self.clock = clock
        self.retry_window = retry_window

    async def load(self, page_work: PageWork) -> None:
        work, counters, page = self.work, page_work.counters, page_work.page
        assert work is not None, "a run without file work loads no pages"
        for failure in page.failures:  # a root that could not be listed: one failed file
            failure.setdefault("size", 0)
            counters["scannedFiles"] += 1
            counters["failedFiles"] += 1
        for status in page.files:
            work.scanned(counters, status)
        pending, page.files = page.files, []  # held only while they load
        first_failure: dict[str, float] = {}
        attempts: dict[str, int] = defaultdict(int)
        delay = 0.5
        while pending:
            retry = []
            async for answered in self.dispatcher.attempt(work, pending):
                for status, outcome in answered:
                    if outcome.failed:
                        now = self.clock.now()
                        if self._should_retry(
                            status.path, outcome.reason, attempts, first_failure, now
                        ):
                            retry.append(status)
                            continue
                        page_work.failed.append(failure_entry(status, outcome))
                    work.count(counters, status, outcome)
            pending = retry
            if pending:
                await self.clock.sleep(delay)
                delay = min(delay * 2, 8.0)

    def _should_retry(
        self,
        path: str,
        reason: str,
        attempts: dict[str, int],
        first_failure: dict[str, float],
        now: float,
    ) -> bool:
        if reason not in RETRYABLE:
            return False
        attempts[path] += 1
        first_failure.setdefault(path, now)
        if reason == FailureReason.UFS_READ_FAILED:
            return attempts[path] < UFS_ATTEMPTS
        return now - first_failure[path] < self.retry_window
