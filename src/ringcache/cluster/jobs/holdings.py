"""What the cluster holds, file by file: every live worker's cache listing merged in order.

Each worker lists its cache sorted by UFS path, so a k-way merge yields each file once with
every worker that holds it, a page per worker in memory at a time, and resumes after a path.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..refs import Peers

log = logging.getLogger(__name__)

PAGE = 1000


@dataclass
class Holding:
    """One cached file: its version and the workers holding it whole (or in part)."""

    path: str
    size: int
    mtime: float | None
    etag: str | None
    complete: set[str] = field(default_factory=set)
    partial: set[str] = field(default_factory=set)

    @property
    def holders(self) -> set[str]:
        return self.complete | self.partial


class _Cursor:
    def __init__(self, worker_id: str, peers: Peers, start_after: str | None) -> None:
        self.worker_id = worker_id
        self.peers = peers
        self.after = start_after
        self.page: list[dict[str, Any]] = []
        self.position = 0
        self.exhausted = False

    async def head(self) -> dict[str, Any] | None:
        if self.position >= len(self.page) and not self.exhausted:
            try:
                ref = self.peers.worker(self.worker_id)
                self.page = await ref.call("list_cached", self.after, PAGE)
            except Exception as exc:  # an unreachable worker holds nothing we can use
                log.warning("listing %s failed: %s", self.worker_id, exc)
                self.page = []
            self.position = 0
            self.exhausted = len(self.page) < PAGE
            if self.page:
                self.after = self.page[-1]["path"]
        return self.page[self.position] if self.position < len(self.page) else None

    def advance(self) -> None:
        self.position += 1


class _IndexCursor(_Cursor):
    """Files the global file index says only departed workers held: lost copies to restore."""

    def __init__(self, lost: LostFiles, live: set[str], start_after: str | None) -> None:
        super().__init__("", None, start_after)  # type: ignore[arg-type]
        self.lost = lost
        self.live = live

    async def head(self) -> dict[str, Any] | None:
        while self.position >= len(self.page) and not self.exhausted:
            page = await self.lost(self.after, PAGE)
            self.exhausted = len(page) < PAGE
            if page:
                self.after = page[-1]["path"]
            self.page = [e for e in page if e["workers"] and not set(e["workers"]) & self.live]
            self.position = 0
        return self.page[self.position] if self.position < len(self.page) else None


LostFiles = Callable[[str | None, int], Awaitable[list[dict[str, Any]]]]


async def holdings(
    peers: Peers,
    workers: list[str],
    start_after: str | None = None,
    lost: LostFiles | None = None,
) -> AsyncIterator[Holding]:
    """Every file cached on `workers`, in path order, after `start_after`; with `lost`, also
    the files only departed workers held, as holdings without holders."""
    cursors = [_Cursor(worker_id, peers, start_after) for worker_id in sorted(workers)]
    if lost is not None:
        cursors.append(_IndexCursor(lost, set(workers), start_after))
    heap: list[tuple[str, int]] = []
    for i, cursor in enumerate(cursors):
        if (entry := await cursor.head()) is not None:
            heap.append((entry["path"], i))
    heapq.heapify(heap)
    while heap:
        path = heap[0][0]
        entries: list[tuple[str, dict[str, Any]]] = []
        while heap and heap[0][0] == path:
            _, i = heapq.heappop(heap)
            entry = await cursors[i].head()
            assert entry is not None
            entries.append((cursors[i].worker_id, entry))
            cursors[i].advance()
            if (following := await cursors[i].head()) is not None:
                heapq.heappush(heap, (following["path"], i))
        yield _holding(path, entries)


def _holding(path: str, entries: list[tuple[str, dict[str, Any]]]) -> Holding:
    """The version of the first whole copy wins; copies of another version count as partial."""
    held = [(worker_id, entry) for worker_id, entry in entries if worker_id]
    if not held:  # known only to the file index: nobody live holds it
        entry = entries[0][1]
        return Holding(path, entry["length"], entry.get("mtime"), entry.get("etag"))
    entries = held
    whole = [entry for _, entry in entries if entry["complete"]]
    model = whole[0] if whole else entries[0][1]
    version = (model["length"], model.get("mtime"), model.get("etag"))
    holding = Holding(path, *version)
    for worker_id, entry in entries:
        same = (entry["length"], entry.get("mtime"), entry.get("etag")) == version
        (holding.complete if same and entry["complete"] else holding.partial).add(worker_id)
    return holding
