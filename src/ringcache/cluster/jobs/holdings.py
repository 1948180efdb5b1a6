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
    """One worker's listing, a page at a time; `entry` is the current one (None: done)."""

    def __init__(self, worker_id: str, peers: Peers, start_after: str | None) -> None:
        self.worker_id = worker_id
        self.peers = peers
        self.after = start_after
        self.page: list[dict[str, Any]] = []
        self.position = 0
        self.exhausted = False

    @property
    def entry(self) -> dict[str, Any] | None:
        return self.page[self.position] if self.position < len(self.page) else None

    async def advance(self) -> dict[str, Any] | None:
        """Move to the next entry, listing the next page when this one is used up."""
        self.position += 1
        if self.position < len(self.page):
            return self.page[self.position]
        return await self.fill()

    async def fill(self) -> dict[str, Any] | None:
        """The current entry, after listing the next page if this one is used up."""
        while self.position >= len(self.page) and not self.exhausted:
            self.page = await self._next_page()
            self.position = 0
        return self.entry

    async def _next_page(self) -> list[dict[str, Any]]:
        try:
            ref = self.peers.worker(self.worker_id)
            page = await ref.call("list_cached", self.after, PAGE)
        except Exception as exc:  # an unreachable worker holds nothing we can use
            log.warning("listing %s failed: %s", self.worker_id, exc)
            page = []
        self.exhausted = len(page) < PAGE
        if page:
            self.after = page[-1]["path"]
        return page


class _IndexCursor(_Cursor):
    """Files the global file index says only departed workers held: lost copies to restore."""

    def __init__(self, lost: LostFiles, live: set[str], start_after: str | None) -> None:
        super().__init__("", None, start_after)  # type: ignore[arg-type]
        self.lost = lost
        self.live = live

    async def _next_page(self) -> list[dict[str, Any]]:
        page = await self.lost(self.after, PAGE)
        self.exhausted = len(page) < PAGE
        if page:
            self.after = page[-1]["path"]
        return [e for e in page if e["workers"] and not set(e["workers"]) & self.live]


LostFiles = Callable[[str | None, int], Awaitable[list[dict[str, Any]]]]


async def holdings(
    peers: Peers,
    workers: list[str],
    start_after: str | None = None,
    lost: LostFiles | None = None,
    chunk: int = PAGE,
) -> AsyncIterator[list[Holding]]:
    """Every file cached on `workers`, in path order, after `start_after`, in lists of up to
    `chunk`; with `lost`, also the files only departed workers held, as holdings without
    holders."""
    cursors = [_Cursor(worker_id, peers, start_after) for worker_id in sorted(workers)]
    if lost is not None:
        cursors.append(_IndexCursor(lost, set(workers), start_after))
    heap: list[tuple[str, int]] = []
    for i, cursor in enumerate(cursors):
        if (entry := await cursor.fill()) is not None:
            heap.append((entry["path"], i))
    heapq.heapify(heap)
    found: list[Holding] = []
    while heap:
        path = heap[0][0]
        entries: list[tuple[str, dict[str, Any]]] = []
        while heap and heap[0][0] == path:
            i = heap[0][1]
            cursor = cursors[i]
            page, position = cursor.page, cursor.position + 1
            entries.append((cursor.worker_id, page[position - 1]))
            # The next entry of the page without a coroutine; `advance` lists the next page.
            if position < len(page):
                cursor.position = position
                following = page[position]
            else:
                following = await cursor.advance()
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following["path"], i))
        found.append(_holding(path, entries))
        if len(found) >= chunk:
            yield found
            found = []
    if found:
        yield found


def _holding(path: str, entries: list[tuple[str, dict[str, Any]]]) -> Holding:
    """The version of the first whole copy wins; copies of another version count as partial."""
    if len(entries) == 1 and entries[0][0] and entries[0][1]["complete"]:
        worker_id, entry = entries[0]  # the common case: one whole copy
        return Holding(path, entry["length"], entry.get("mtime"), entry.get("etag"), {worker_id})
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
