"""The worker's read path: a range of a file from its pages, or from the UFS on a miss."""

from __future__ import annotations

from collections.abc import Mapping

from ..cache.model import PageSpan, page_runs
from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..policies import CacheRule
from ..ufs.filesystem import UnderFileSystem
from .freshness import Freshness, expired
from .mount_view import MountView
from .page_fetch import PageFetcher
from .quota import QuotaAdmission
from .seams import PolicySource

# What a worker counts of its reads, reported by `stats` and `GET /api/v1/nodes`.
READ_COUNTERS = {"hits": 0, "misses": 0, "bytesFromCache": 0, "bytesFromUfs": 0, "bytesServed": 0}


def read_metrics(counters: Mapping[str, int]) -> dict[str, float]:
    """A worker's read counters, and its hit ratio (pages hit of pages read; 0 before any)."""
    metrics: dict[str, float] = {name: counters.get(name, 0) for name in READ_COUNTERS}
    pages = metrics["hits"] + metrics["misses"]
    metrics["hitRatio"] = round(metrics["hits"] / pages, 4) if pages else 0.0
    return metrics


class Reads:
    """Serves `read`: hits from the page store, misses fetched from the UFS and cached.

    Guarantees: a read answers the UFS bytes of the version recorded when the file was
    first cached; a copy the rules say may not be served (TTL, `maxAge`) is read afresh;
    a `skipCache` file is read straight through and never stored; a miss is cached only
    if the quotas admit it. Counts hits, misses and bytes in `counters`.
    """

    def __init__(
        self,
        store: PageStore,
        mounts: MountView,
        rules: PolicySource,
        freshness: Freshness,
        quota: QuotaAdmission,
        fetcher: PageFetcher,
        counters: dict[str, int],
        clock: Clock,
        run_io: RunIo,
        page_size: int,
    ) -> None:
        self.store = store
        self.mounts = mounts
        self.rules = rules
        self.freshness = freshness
        self.quota = quota
        self.fetcher = fetcher
        self.counters = counters
        self.clock = clock
        self.run_io = run_io
        self.page_size = page_size

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset+length)` of a file, from the cache or, on a miss, the UFS."""
        ufs, uri = await self.mounts.open(path)
        data = await self.run_io(self._read, ufs, uri, offset, length)
        self.counters["bytesServed"] += len(data)
        return data

    async def locate(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> PageSpan | bytes:
        """`read`, except that a range whose pages are all cached and servable answers where
        its bytes are on disk (a `PageSpan`) for a transport to send without copying them."""
        ufs, uri = await self.mounts.open(path)
        policies = self.rules.policies
        if policies.cache_rule_for(uri)[0] is CacheRule.IMMUTABLE:  # no UFS check, no drop
            info = self.store.file_info(uri)
            if info is not None and not expired(info, policies, self.clock.now()):
                span = self.store.span(uri, offset, length, self.clock.now())
                if span is not None:
                    self._count_hit(span.offset, span.length)
                    self.counters["bytesServed"] += span.length
                    return span
        data = await self.run_io(self._read, ufs, uri, offset, length)
        self.counters["bytesServed"] += len(data)
        return data

    async def reusable_span(self, path: str) -> PageSpan | None:
        """Where all of a cached file's bytes are, if a reader on this host may read any of
        them again without asking, for as long as no page is dropped (it checks the change
        epoch): every page is cached, and no rule can make the copy unservable without
        dropping it (the `immutable` cache rule, no TTL). Counts nothing."""
        _, uri = await self.mounts.resolve(path)
        policies = self.rules.policies
        if policies.cache_rule_for(uri)[0] is not CacheRule.IMMUTABLE or policies.ttl_for(uri):
            return None
        info = self.store.file_info(uri)
        if info is None or not info.complete:
            return None
        return self.store.span(uri, 0, None, self.clock.now())

    def _count_hit(self, offset: int, length: int) -> None:
        size = self.page_size
        self.counters["hits"] += (offset + length - 1) // size - offset // size + 1 if length else 0
        self.counters["bytesFromCache"] += length

    def _read(self, ufs: UnderFileSystem, uri: str, offset: int, length: int | None) -> bytes:
        store = self.store
        policies = self.rules.policies
        now = self.clock.now()
        if policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            if store.file_info(uri) is not None:
                store.remove_file(uri)  # cached before the rule came: never served again
            return self._read_through(ufs, uri, offset, length)
        info, status = self.freshness.servable(ufs, uri, policies, now)
        if info is None:
            version = (status or ufs.stat(uri)).version
        else:
            version = info.version
        page_size = self.page_size
        size = version.size
        offset = max(0, min(offset, size))
        end = size if length is None else min(size, offset + max(0, length))
        first, last = offset // page_size, max(end - 1, offset) // page_size
        wanted = range(first, last + 1) if end > offset else range(0)
        if info is not None and end > offset:
            # A whole hit: only the bytes asked for are read, in one call, copied once.
            hit = store.read(uri, offset, end - offset, now)
            if hit is not None:
                self.counters["hits"] += len(wanted)
                self.counters["bytesFromCache"] += len(hit)
                return hit
        pages: dict[int, bytes] = {}
        if info is not None:
            for index in wanted:
                data = store.get_page(uri, index, self.clock.now())
                if data is not None:
                    pages[index] = data
        missing = [index for index in wanted if index not in pages]
        keep = True
        if info is None or missing:
            needed = sum(min(page_size, size - index * page_size) for index in missing)
            keep = self.quota.admit(uri, needed, policies).allowed
            if keep and info is None:
                store.set_file(uri, version, now)
        if end <= offset:
            return b""
        hits = len(pages)
        for start, stop in page_runs(missing):
            fetched = self.fetcher.fetch(ufs, uri, version, start, stop, keep=keep)
            pages.update(zip(range(start, stop), fetched, strict=True))
        self.counters["hits"] += hits
        self.counters["misses"] += len(missing)
        self.counters["bytesFromCache"] += sum(len(pages[i]) for i in pages if i not in missing)
        self.counters["bytesFromUfs"] += sum(len(pages[i]) for i in missing)
        data = b"".join(pages[index] for index in range(first, last + 1))
        return data[offset - first * page_size : end - first * page_size]

    def _read_through(
        self, ufs: UnderFileSystem, uri: str, offset: int, length: int | None
    ) -> bytes:
        """Bytes straight from the UFS, stored nowhere (a `skipCache` file)."""
        if length is not None and length <= 0:
            return b""
        data = ufs.read(uri, max(0, offset), length)
        self.counters["misses"] += -(-len(data) // self.page_size)
        self.counters["bytesFromUfs"] += len(data)
        return data
