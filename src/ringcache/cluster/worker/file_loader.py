"""One file cached whole, from the UFS or a local disk: the unit of a load batch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ..cache.model import DEFAULT_PRIORITY, page_runs
from ..cache.store import PageStore
from ..clock import Clock
from ..policies import CacheRule
from ..policies.quota_check import quota_failure
from ..results import FileResult, filtered, loaded, skipped
from ..ufs.filesystem import FileVersion, UnderFileSystem
from ..ufs.read_ahead import ReadAhead
from .freshness import expired
from .page_fetch import PageFetcher
from .quota import QuotaAdmission
from .seams import PolicySource
from .throttle import Throttle

LOADED_BY_MEMORY = 100_000  # files remembered per worker as loaded by which job
# Pages per ranged UFS read of a load: the first read of a run asks for UFS_RUN_PAGES, each
# next one for twice as many, up to UFS_RUN_MOST_PAGES; UFS_READS_IN_FLIGHT of a file's reads
# run at once. A small file costs one modest read; a large one pays its UFS's latency (tens
# of ms an S3 GET) once per UFS_READS_IN_FLIGHT reads, not once per read, with at most
# UFS_READS_IN_FLIGHT * UFS_RUN_MOST_PAGES pages in memory per lane.
UFS_RUN_PAGES = 8
UFS_RUN_MOST_PAGES = 16
UFS_READS_IN_FLIGHT = 4


class FileLoader:
    """Caches one file whole, under the rules; blocking (it runs on an I/O thread).

    Guarantees: a file is either cached whole at the version asked or, on any error,
    not cached at all; a `skipCache` file is never stored; a new file gets its priority
    rule's level; quotas are checked unless the coordinator's gate already did. Remembers
    which job loaded each file (the last LOADED_BY_MEMORY), so a job resumed after a
    coordinator restart counts its own earlier loads as loaded, not skipped.
    """

    def __init__(
        self,
        store: PageStore,
        rules: PolicySource,
        quota: QuotaAdmission,
        fetcher: PageFetcher,
        clock: Clock,
        page_size: int,
        read_ahead: ReadAhead,
    ) -> None:
        """`read_ahead` runs a file's ranged reads a few at once."""
        self.store = store
        self.rules = rules
        self.quota = quota
        self.fetcher = fetcher
        self.clock = clock
        self.page_size = page_size
        self.read_ahead = read_ahead
        self._loaded_by: OrderedDict[str, str] = OrderedDict()

    def load(
        self,
        ufs: UnderFileSystem,
        uri: str,
        version: FileVersion | None,
        options: dict[str, Any],
        throttle: Throttle | None,
    ) -> FileResult:
        """Cache `uri` whole (`version` as a listing saw it, else looked up); its result."""
        store = self.store
        policies = self.rules.policies
        if policies.any_skip and policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            if store.file_info(uri) is not None:
                store.remove_file(uri)  # cached before the rule came: never cached again
            return filtered(uri, version.size if version else 0)
        version = version or ufs.stat(uri).version
        job_id = options.get("jobId")
        cached = store.file_info(uri)
        if cached is not None and expired(cached, policies, self.clock.now()):
            store.remove_file(uri)  # past its TTL: loading caches it afresh
            cached = None
        if cached is not None and cached.complete:
            # A file this same job loaded before a coordinator restart counts as loaded.
            ours = job_id is not None and self._loaded_by.get(uri) == job_id
            unchanged = cached.version == version
            if not ours and (
                options.get("skipIfExists") or (options.get("ifChanged") and unchanged)
            ):
                return skipped(uri, cached.version.size)
        # The coordinator's gate checked quotas if `quotaChecked`.
        if policies.any_quota and not options.get("quotaChecked"):
            held = cached.cached_bytes if cached is not None and cached.version == version else 0
            verdict = self.quota.admit(uri, version.size - held, policies)
            if not verdict.allowed:
                return quota_failure(uri, verdict)
        local = ufs.open_local(uri)  # what is copied is the file checked, opened once
        if local is not None and local.version != version:
            version = local.version  # changed since it was listed: loaded as it is now
        priority = None
        if cached is not None and cached.version == version:
            store.set_file(uri, version, self.clock.now())
            missing = page_runs(store.missing_pages(uri, 0, version.size))  # runs of pages
        else:  # no page is cached yet (a racing loader's are skipped)
            # A new file (or version) gets its rule's level, named here as we know it is new.
            priority = policies.priority_for(uri) if policies.any_priority else DEFAULT_PRIORITY
            pages = -(-version.size // self.page_size)
            missing = [(0, pages)] if pages else []
            if not missing:  # else its first pages record it, with them
                store.set_file(uri, version, self.clock.now(), priority)
        try:
            if local is not None:
                with local:
                    self.fetcher.copy_local(local.fd, uri, version, missing, throttle, priority)
                missing = []
            for run_start, run_stop in missing:
                priority = self._fetch_run(
                    ufs, uri, version, run_start, run_stop, throttle, priority
                )
        except BaseException:
            store.remove_file(uri)  # no half-loaded file left behind to look cached
            raise
        if job_id is not None:
            self._loaded_by[uri] = job_id
            while len(self._loaded_by) > LOADED_BY_MEMORY:
                self._loaded_by.popitem(last=False)
        return loaded(uri, version.size)

    def _fetch_run(
        self,
        ufs: UnderFileSystem,
        uri: str,
        version: FileVersion,
        run_start: int,
        run_stop: int,
        throttle: Throttle | None,
        priority: str | None,
    ) -> str | None:
        """Read pages `[run_start, run_stop)` in growing ranges, a few in flight, and keep
        them in order; the priority still to record (None once pages were kept)."""
        page_size, size, fetcher = self.page_size, version.size, self.fetcher
        if run_stop - run_start <= UFS_RUN_PAGES:  # most files: one read, none to read ahead
            if throttle is not None:
                throttle.consume(min(size, run_stop * page_size) - run_start * page_size)
            pages = fetcher.read(ufs, uri, version, run_start, run_stop)
            fetcher.keep(uri, version, run_start, pages, priority)
            return None

        def read(pages: tuple[int, int]) -> list[memoryview]:
            start, stop = pages
            if throttle is not None:
                throttle.consume(min(size, stop * page_size) - start * page_size)
            return fetcher.read(ufs, uri, version, start, stop)

        ranges = list(growing_ranges(run_start, run_stop))
        answers = self.read_ahead(read, ranges, UFS_READS_IN_FLIGHT)
        for (start, _), pages in zip(ranges, answers, strict=True):
            fetcher.keep(uri, version, start, pages, priority)
            priority = None  # recorded: a rule changed since is the enforcer's to apply
        return priority


def growing_ranges(start: int, stop: int) -> Iterator[tuple[int, int]]:
    """Pages `[start, stop)` as consecutive `(start, stop)` reads: UFS_RUN_PAGES first,
    each next read twice the one before, up to UFS_RUN_MOST_PAGES."""
    size = UFS_RUN_PAGES
    while start < stop:
        end = min(stop, start + size)
        yield start, end
        start, size = end, min(size * 2, UFS_RUN_MOST_PAGES)
