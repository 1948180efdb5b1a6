"""Several blocking reads in flight at once, their answers taken in order.

A remote store answers a ranged read after a round trip (tens of ms for an S3 GET); a
large file read one range after another pays that wait once per range. A real S3 client
keeps a few ranges in flight instead; `ReadAhead` is that, for any blocking call. The
simulator passes one that runs the calls inline and charges their overlapping waits once
per `in_flight` of them (`simulations.costs.MeteredReadAhead`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

A = TypeVar("A")
R = TypeVar("R")

READ_THREADS = 32  # a worker's threads for reads ahead, over all its lanes


class ReadAhead(Protocol):
    def __call__(
        self, call: Callable[[A], R], items: Sequence[A], in_flight: int
    ) -> Iterator[R]: ...


class ThreadedReadAhead:
    """`call(item)` for each item, up to `in_flight` at once on a shared thread pool
    (started on first use), answers in the order of `items`.

    Guarantees: at most `in_flight` answers are held at a time (bounded memory); the first
    call's error is raised when its answer is due, and calls not yet started are then
    cancelled, as they are when the caller stops taking answers.
    """

    def __init__(self, threads: int = READ_THREADS) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __call__(self, call: Callable[[A], R], items: Sequence[A], in_flight: int) -> Iterator[R]:
        if in_flight <= 1 or len(items) <= 1:
            return (call(item) for item in items)
        return self._ahead(call, items, in_flight)

    def _ahead(self, call: Callable[[A], R], items: Sequence[A], in_flight: int) -> Iterator[R]:
        pool = self._started()
        pending: deque[Future[Any]] = deque()
        upcoming = iter(items)
        try:
            for item in upcoming:
                pending.append(pool.submit(call, item))
                if len(pending) >= in_flight:
                    break
            while pending:
                answer = pending.popleft().result()
                for item in upcoming:  # one more in flight for the one answered
                    pending.append(pool.submit(call, item))
                    break
                yield answer
        finally:
            for future in pending:
                future.cancel()

    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="read-ahead")
            return self._pool

    def close(self) -> None:
        """Stop the pool's threads once their calls are done (a closed one starts anew)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
