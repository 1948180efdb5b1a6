"""A miss's pages: each read from the UFS once however many readers miss it at once, and
what is left to store of them once the read has answered (a `Fill`): the bytes read, or,
for a file on the local disk, its pages copied by the kernel."""

from __future__ import annotations

from functools import partial

from ..cache.model import CapacityExceeded, page_runs
from ..cache.store import PageStore
from ..errors import UfsError
from ..policies import CacheRule
from ..ufs.filesystem import FileVersion, UnderFileSystem
from .fills import WAIT_SECONDS, Fill, Page, SharedFetches
from .page_fetch import PageFetcher
from .seams import PolicySource

FETCH_PAGES = 16  # pages per ranged UFS read on a miss: few round trips, bounded memory


def pages_bytes(indexes: list[int], size: int, page_size: int) -> int:
    """The bytes in pages `indexes` (distinct, in any order) of a file of `size` bytes."""
    if not indexes:
        return 0
    first, last = min(indexes), max(indexes)
    if last - first + 1 == len(indexes):  # one run, as a miss's pages mostly are
        return min(size, (last + 1) * page_size) - first * page_size
    return sum(min(page_size, size - index * page_size) for index in indexes)


class MissPages:
    """Fetches a miss's pages and makes the fills that store them.

    Guarantees: a page missed by several readers at once is read from the UFS by one of
    them (`shared`); a fill stores nothing of a file freed, dropped, replaced or put
    under `skipCache` since it was read (`still_wanted`), and a local file's fill nothing
    unless the file still holds the version read, before and after the copy (else the
    file's record is dropped, so the next read reads it afresh).
    """

    def __init__(self, store: PageStore, rules: PolicySource, fetcher: PageFetcher) -> None:
        self.store = store
        self.rules = rules
        self.fetcher = fetcher
        self.shared = SharedFetches()

    def still_wanted(self, uri: str, version: FileVersion) -> bool:
        """Whether a miss's pages may still be stored: the file is recorded at the version
        read (not freed, dropped or replaced since) and no rule keeps it out now."""
        info = self.store.file_info(uri)
        skip = self.rules.policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE
        return info is not None and info.version == version and not skip

    def fetch(
        self, ufs: UnderFileSystem, uri: str, version: FileVersion, missing: list[int], keep: bool
    ) -> tuple[dict[int, Page], Fill | None, list[int]]:
        """The missing pages, each read from the UFS by one reader however many miss it at
        once; (if `keep`) what is left to store of those this reader read; and which pages
        this reader read from the UFS."""
        shared = self.shared
        mine, theirs = shared.claim(uri, version, missing)
        pages: dict[int, Page] = {}
        read: list[int] = []
        try:
            for start, stop in page_runs(mine):
                for chunk in range(start, stop, FETCH_PAGES):
                    chunk_stop = min(stop, chunk + FETCH_PAGES)
                    fetched = self.fetcher.read(ufs, uri, version, chunk, chunk_stop)
                    shared.settle(uri, chunk, fetched)
                    pages.update(zip(range(chunk, chunk + len(fetched)), fetched, strict=True))
        except BaseException as exc:
            shared.fail(uri, mine, exc)
            raise
        for index, future in theirs.items():
            try:
                pages[index] = future.result(WAIT_SECONDS)
            except Exception:  # their fetch failed (or hangs): ours, then
                pages[index] = self.fetcher.read(ufs, uri, version, index, index + 1)[0]
                read.append(index)
        read += mine
        if not keep:
            shared.forget(uri, mine)
        if not keep or not mine:
            return pages, None, read
        kept = [(index, pages[index]) for index in mine]
        size = sum(len(page) for _, page in kept)
        fill = Fill(
            lambda: self._keep(uri, version, kept),
            size,
            lambda: shared.forget(uri, mine),
            pages=(min(mine), max(mine)),
        )
        return pages, fill, read

    def _keep(self, uri: str, version: FileVersion, pages: list[tuple[int, Page]]) -> None:
        """Store pages read through (runs of them at a time), then stop sharing them."""
        try:
            if not self.still_wanted(uri, version):
                return
            for start, stop in page_runs([index for index, _ in pages]):
                run = [page for index, page in pages if start <= index < stop]
                self.fetcher.keep(uri, version, start, run)
        finally:
            self.shared.forget(uri, [index for index, _ in pages])

    def _copy_local(
        self, ufs: UnderFileSystem, uri: str, version: FileVersion, missing: list[int]
    ) -> None:
        """Copy the missing pages from the local UFS file into the store, by the kernel, if
        the file still holds `version` before and after (else what was recorded is dropped:
        a file changed since it was answered is read afresh next time, never half of each).
        The file is opened here, not when the fill was queued: fills waiting in their
        thousands hold no descriptor each."""
        if not self.still_wanted(uri, version):
            return
        try:
            local = ufs.open_local(uri)
        except UfsError:  # gone, or unreadable now: nothing of it is kept
            local = None
        if local is None:
            self._drop_version(uri, version)
            return
        with local:
            if local.version != version:
                self._drop_version(uri, version)
                return
            try:
                self.fetcher.copy_local(local.fd, uri, version, page_runs(missing))
            except CapacityExceeded:
                pass  # served anyway; the store is too small to keep it all
            if local.version_now() != version:
                self._drop_version(uri, version)

    def _drop_version(self, uri: str, version: FileVersion) -> None:
        info = self.store.file_info(uri)
        if info is not None and info.version == version:
            self.store.remove_file(uri)

    def local_fill(
        self, ufs: UnderFileSystem, uri: str, version: FileVersion, missing: list[int]
    ) -> Fill:
        """What stores the `missing` pages of a local UFS file: a copy by the kernel."""
        needed = pages_bytes(missing, version.size, self.fetcher.page_size)
        copy = partial(self._copy_local, ufs, uri, version, list(missing))
        return Fill(copy, needed, in_memory=False, pages=(min(missing), max(missing)))
