"""What the cluster holds, file by file: every live worker's cache listing merged in order.

Each worker lists its cache sorted by UFS path, so a k-way merge yields each file once with
every worker that holds it, a page per worker in memory at a time, and resumes after a path.

Given the ring, a worker leaves out of its pages the files it owns alone and holds whole
(`list_unsettled`): a rebalance has nothing to do for those unless another worker holds
them too, and then that worker lists them and the owner's skip puts it back among the
whole holders (the owner's copy counts as whole whatever its version). After a scale-out
most of the cache is settled, so most of it is never sent; the skipped paths still count,
so `scanned` is every distinct file walked.
"""

from __future__ import annotations

import heapq
import logging
from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..refs import Peers

log = logging.getLogger(__name__)

PAGE = 1000
MARKER = "settledTo"  # a listing page's marker entry: settled files up to its path


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


class HoldingsChunk:
    """A stretch of the walk: its holdings, in path order; `scanned`, the distinct files it
    covered (holdings and settled files alike); `last`, the path it ends at."""

    __slots__ = ("holdings", "scanned", "last")

    def __init__(self, holdings: list[Holding], scanned: int, last: str | None) -> None:
        self.holdings = holdings
        self.scanned = scanned
        self.last = last


RingSpec = Callable[[], dict[str, Any]]  # the ring to split listings by, as `list_unsettled`


class _Cursor:
    """One worker's listing (`list_unsettled`), a page at a time; `entry` is the current
    one (None: done). `skipped` keeps the settled paths until a chunk counts them, and a
    page whose last files were settled ends in a marker entry at the last path looked at,
    so the cursor lists no further before the merge gets there.
    """

    def __init__(
        self, worker_id: str, peers: Peers, start_after: str | None, ring: RingSpec
    ) -> None:
        self.worker_id = worker_id
        self.peers = peers
        self.after = start_after
        self.ring = ring
        self.page: list[dict[str, Any]] = []
        self.position = 0
        self.exhausted = False
        self.skipped: list[str] = []

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
            ring = self.ring()
            known = {k: v for k, v in ring.items() if k != "workers"}  # the ring's name
            answer = await ref.call("list_unsettled", self.after, PAGE, known)
            if answer.get("unknownRing"):  # its first page of this ring: send the workers
                answer = await ref.call("list_unsettled", self.after, PAGE, ring)
        except Exception as exc:  # an unreachable worker holds nothing we can use
            log.warning("listing %s failed: %s", self.worker_id, exc)
            self.exhausted = True
            return []
        page, skipped, last = answer["entries"], answer["skipped"], answer["last"]
        self.exhausted = answer["done"]
        self.skipped.extend(skipped)
        if last is not None:
            self.after = last
        if skipped and (not page or skipped[-1] > page[-1]["path"]):
            page = [*page, {"path": skipped[-1], MARKER: True}]
        return page

    def take_settled(self, upto: str | None) -> list[str]:
        """The settled paths up to `upto` (all, if None), no longer kept."""
        cut = len(self.skipped) if upto is None else bisect_right(self.skipped, upto)
        taken, self.skipped = self.skipped[:cut], self.skipped[cut:]
        return taken


class _IndexCursor(_Cursor):
    """Files the global file index says only departed workers held: lost copies to restore."""

    def __init__(self, lost: LostFiles, live: set[str], start_after: str | None) -> None:
        super().__init__("", None, start_after, None)  # type: ignore[arg-type]  # its own pages
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
    ring: RingSpec,
    start_after: str | None = None,
    lost: LostFiles | None = None,
    chunk: int = PAGE,
) -> AsyncIterator[HoldingsChunk]:
    """Every file cached on `workers`, in path order, after `start_after`, in chunks that
    cover about `chunk` files; with `lost`, also the files only departed workers held, as
    holdings without holders. A file a worker owns alone on `ring` and holds whole
    (settled) is counted in `scanned`; it makes a holding only if another worker holds it
    too, and then with that owner among the whole holders."""
    cursors = [_Cursor(w, peers, start_after, ring) for w in sorted(workers)]
    if lost is not None:
        cursors.append(_IndexCursor(lost, set(workers), start_after))
    heap: list[tuple[str, int]] = []
    for i, cursor in enumerate(cursors):
        if (entry := await cursor.fill()) is not None:
            heap.append((entry["path"], i))
    heapq.heapify(heap)
    found: list[Holding] = []
    path = start_after
    # How many settled files the walk has passed is counted now and then, not per step.
    count_every, steps = max(8, len(cursors) // 4), 0
    while heap:
        path = heap[0][0]
        entries: list[tuple[str, dict[str, Any]]] = []
        while heap and heap[0][0] == path:
            i = heap[0][1]
            cursor = cursors[i]
            page, position = cursor.page, cursor.position + 1
            if MARKER not in page[position - 1]:
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
        if entries:
            found.append(_holding(path, entries))
        steps += 1
        if len(found) >= chunk or (
            steps % count_every == 0 and len(found) + _settled_before(cursors, path) >= chunk
        ):
            yield _chunk_at(found, cursors, path)
            found = []
    if found or any(cursor.skipped for cursor in cursors):
        yield _chunk_at(found, cursors, None, path)


def _settled_before(cursors: list[_Cursor], path: str) -> int:
    return sum(bisect_right(c.skipped, path) for c in cursors if c.skipped)


def _chunk_at(
    found: list[Holding], cursors: list[_Cursor], upto: str | None, last: str | None = None
) -> HoldingsChunk:
    """The chunk of `found` and the settled paths up to `upto` (all, if None): an owner
    that skipped a file someone else lists holds it whole."""
    settled = {p: c.worker_id for c in cursors if c.skipped for p in c.take_settled(upto)}
    for holding in found:
        owner = settled.pop(holding.path, None)
        if owner is not None:
            holding.complete.add(owner)
    return HoldingsChunk(found, len(found) + len(settled), upto if upto is not None else last)


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
