"""The recent event history of an etcd, kept by one watch: history reads and wake-ups.

etcd serves a watch from a past revision through its "unsynced" path, which it drains
every 100 ms; a watch that is caught up gets each event as it is committed. So one
caught-up watch on every key, opened once, reads recent history in milliseconds (older
history falls back to a replay) and wakes parked watches on writes by any client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from aetcd import rpc

log = logging.getLogger(__name__)

ALL_KEYS = (b"\0", b"\0")  # etcd's (key, range_end) for every non-empty key
RETRY_SECONDS = 0.5


def prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """etcd's (key, range_end) for every key starting with `prefix`."""
    if not prefix:
        return ALL_KEYS
    start = prefix.encode()
    end = bytearray(start)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return start, b"\0"
    end[-1] += 1
    return start, bytes(end)


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    return start <= key and (end == b"\0" or key < end)


@dataclass(eq=False)
class _Waiter:
    """A parked `wait`: the keys and revision it waits for, and how to wake it."""

    start: bytes
    end: bytes
    revision: int
    loop: asyncio.AbstractEventLoop
    woken: asyncio.Future[None]

    def matches(self, event: rpc.Event) -> bool:
        return event.kv.mod_revision >= self.revision and in_range(
            event.kv.key, self.start, self.end
        )

    def wake(self) -> None:
        if not self.woken.done():
            self.woken.set_result(None)


class EtcdHistory:
    """The events of every revision after `start`, as a caught-up watch delivers them;
    also the registry's `ChangeFeed` for an etcd that other clients write to.

    Guarantees: `read(revision, head, timeout)` returns every event from `revision`
    through at least `head`, in order, or None when it cannot (the revision is older
    than what is kept, or the watch is behind for longer than `timeout`); it never
    returns a partial answer. At most `keep` events are kept (the oldest are dropped
    whole revisions at a time). The watch runs in a daemon thread and reconnects
    after an error from the revision after the last one it saw. `wait(prefix,
    revision)` returns once an event under `prefix` at `revision` or later is kept,
    whoever wrote it (at once when `revision` is older than what is kept).
    """

    def __init__(self, watch: rpc.WatchStub, start: int, *, keep: int = 100_000) -> None:
        self._stub = watch
        self._keep = keep
        self._events: list[rpc.Event] = []
        self._revisions: list[int] = []  # each event's revision, for bisecting
        self._first = start + 1  # the oldest revision whose events are all kept
        self._seen = start  # the newest revision whose events are all kept
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._call: grpc.Future | None = None
        self._waiters: set[_Waiter] = set()
        self._thread = threading.Thread(target=self._follow, name="etcd-history", daemon=True)
        self._thread.start()

    def read(self, revision: int, head: int, timeout: float) -> list[rpc.Event] | None:
        with self._changed:
            if revision < self._first:
                return None
            if not self._changed.wait_for(lambda: self._seen >= head, timeout):
                return None
            if revision < self._first:  # trimmed while we waited
                return None
            return self._events[bisect_left(self._revisions, revision) :]

    async def wait(self, prefix: str, revision: int) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(*prefix_range(prefix), revision, loop, loop.create_future())
        with self._changed:
            if revision < self._first:
                return
            kept = self._events[bisect_left(self._revisions, revision) :]
            if any(waiter.matches(event) for event in kept):
                return
            self._waiters.add(waiter)
        try:
            await waiter.woken
        finally:
            with self._changed:
                self._waiters.discard(waiter)

    def close(self) -> None:
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                self._watch_from(self._seen + 1)
            except grpc.RpcError as exc:
                if self._closed.is_set():
                    return
                log.debug("etcd history watch ended (%s); reconnecting", exc.code())
            self._closed.wait(RETRY_SECONDS)

    def _watch_from(self, start: int) -> None:
        key, range_end = ALL_KEYS
        create = rpc.WatchCreateRequest(key=key, range_end=range_end, start_revision=start)
        answers = self._stub.Watch(self._requests(create))
        self._call = answers
        for answer in answers:
            if answer.compact_revision:  # fell behind a compaction: keep only what follows
                self._restart_at(answer.compact_revision)
                return
            if answer.events:
                self._append(answer.events)

    def _requests(self, create: rpc.WatchCreateRequest) -> Iterator[rpc.WatchRequest]:
        yield rpc.WatchRequest(create_request=create)
        self._closed.wait()  # the stream stays open until close()

    def _append(self, events: list[rpc.Event]) -> None:
        with self._changed:
            for event in events:
                self._events.append(event)
                self._revisions.append(event.kv.mod_revision)
            # A response holds whole revisions, so all events up to its last are in.
            self._seen = max(self._seen, events[-1].kv.mod_revision)
            if len(self._events) > self._keep + self._keep // 10:  # trim in batches
                # Drop whole revisions: from the first revision of the event at the cut.
                cut = bisect_left(self._revisions, self._revisions[-self._keep])
                self._first = self._revisions[cut]
                del self._events[:cut], self._revisions[:cut]
            self._changed.notify_all()
            for waiter in [w for w in self._waiters if any(map(w.matches, events))]:
                self._waiters.discard(waiter)
                _call_soon(waiter.loop, waiter.wake)

    def _restart_at(self, compact_revision: int) -> None:
        with self._changed:
            self._events.clear()
            self._revisions.clear()
            self._first = compact_revision
            self._seen = compact_revision - 1
            self._changed.notify_all()


def _call_soon(loop: asyncio.AbstractEventLoop, callback) -> None:  # noqa: ANN001
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # the waiter's loop has closed: nobody is left to wake
        pass
