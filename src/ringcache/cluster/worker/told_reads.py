"""What readers on the worker's host read without asking, as they tell it afterwards.

A same-host client reads on from a local UFS file handed over for a miss, reads local
UFS files its owner records nothing of (`held_names`), and reads a cached file its owner
published (`published`) or handed over whole, without asking; it notes each range to the
owner (`client.read_notes`, `dataserver.local_reads`), which
takes the notes here: a UFS file's ranges are stored as the misses they were, a cached
file's counted as the hits they were.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable

from ..cache.model import clamped, page_runs, page_spans, pages_in
from ..cache.store import PageStore
from ..clock import Clock
from ..errors import NotFound
from ..policies import CacheRule
from .mount_view import MountView
from .reads import UfsSpan
from .seams import PolicySource

# `Reads.locate`: a range's answer, as any read's.
Locate = Callable[[str, int, int], Awaitable[object]]


class ToldReads:
    """Takes the notes of reads made without asking: what `locate` would have done and
    counted had each been asked for (see the methods).

    Guarantees: a note changes nothing but what asking would have (the pages a miss
    stores, the counters, the pages' recency); a note of a file outside every mount
    raises as `locate` does."""

    def __init__(
        self,
        locate: Locate,
        store: PageStore,
        mounts: MountView,
        rules: PolicySource,
        clock: Clock,
        counters: dict[str, int],
        page_size: int,
    ) -> None:
        self.locate = locate
        self.store = store
        self.mounts = mounts
        self.rules = rules
        self.clock = clock
        self.counters = counters
        self.page_size = page_size

    async def noted(self, path: str, ranges: list[tuple[int, int]]) -> None:
        """Ranges `(offset, length)` a reader here read itself from a local UFS file (one
        this worker handed it, or recorded nothing of, `client.local_reads`): each run of
        their pages not cached is stored and counted once, as `Reads.locate` would (over
        `page_spans`'s spans); pages cached by now, and a file the rules no longer cache,
        are left alone."""
        ufs, uri = await self.mounts.open(path)
        if ufs.scheme != "file":
            return  # only a local file is handed over to be read again
        if self.rules.policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            return
        page = self.page_size
        for offset, end in page_spans(ranges, page):
            try:
                missing = self.store.missing_pages(uri, offset, end - offset)
            except NotFound:  # not recorded: the whole span
                runs = [(offset, end)]
            else:
                runs = [(max(offset, a * page), min(end, b * page)) for a, b in page_runs(missing)]
            for start, stop in runs:
                found = await self.locate(path, start, stop - start)
                if isinstance(found, UfsSpan):
                    found.file.close()

    async def served(self, path: str, ranges: list[tuple[int, int]]) -> None:
        """Ranges `(offset, length)` a reader here read itself from this worker's cached
        files without asking (published, `published`, or held): each counted as the hit
        it was, and its pages made most recent, as `Reads.locate` would; ranges over pages
        no longer cached are left alone. One store call per span of pages (`page_spans`),
        not per range: a random reader's note lists thousands."""
        _, uri = await self.mounts.resolve(path)
        info = self.store.file_info(uri)
        if info is None:
            return
        size = info.version.size
        within = (clamped(offset, length, size) for offset, length in ranges if offset >= 0)
        ranges = [(start, end - start) for start, end in within if end > start]
        now, page = self.clock.now(), self.page_size
        spans = page_spans(ranges, page)
        cached = [s for s in spans if self.store.span(uri, s[0], s[1] - s[0], now) is not None]
        if len(cached) < len(spans):  # some no longer cached: only ranges in the others
            ends = [end for _, end in cached]
            ranges = [
                (offset, length)
                for offset, length in ranges
                if (at := bisect.bisect_right(ends, offset)) < len(cached)
                and cached[at][0] <= offset
            ]
        hits = sum(pages_in(offset, length, page) for offset, length in ranges)
        served = sum(length for _, length in ranges)
        self.counters["hits"] += hits
        self.counters["bytesFromCache"] += served
        self.counters["bytesServed"] += served
