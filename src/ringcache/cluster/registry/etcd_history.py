"""The recent event history of an etcd, kept by one watch, so reading it takes no replay.

etcd serves a watch from a past revision through its "unsynced" path, which it drains
every 100 ms; a watch that is caught up gets each event as it is committed. So one
caught-up watch on every key, opened once, reads history in milliseconds, and older
history falls back to a replay.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterator

import grpc
from aetcd import rpc

log = logging.getLogger(__name__)

ALL_KEYS = (b"\0", b"\0")  # etcd's (key, range_end) for every non-empty key
RETRY_SECONDS = 0.5


class EtcdHistory:
    """The events of every revision after `start`, as a caught-up watch delivers them.

    Guarantees: `read(revision, head, timeout)` returns every event from `revision`
    through at least `head`, in order, or None when it cannot (the revision is older
    than what is kept, or the watch is behind for longer than `timeout`); it never
    returns a partial answer. At most `keep` events are kept (the oldest are dropped
    whole revisions at a time). The watch runs in a daemon thread and reconnects
    after an error from the revision after the last one it saw.
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

    def _restart_at(self, compact_revision: int) -> None:
        with self._changed:
            self._events.clear()
            self._revisions.clear()
            self._first = compact_revision
            self._seen = compact_revision - 1
            self._changed.notify_all()
