"""The worker's read path: a range of a file from its pages, or from the UFS on a miss."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, cast

from ..cache.index import PathWatcher
from ..cache.model import CachedFile, PageSpan, clamped, pages_in
from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..errors import NotFound
from ..policies import CacheRule
from ..ufs.filesystem import FileVersion, UnderFileSystem
from ..ufs.local_file import LocalFile
from .fills import DeferredFills, Fill, Page
from .freshness import Freshness, expired
from .miss_pages import MissPages, pages_bytes
from .mount_view import MountView
from .ownership import Ownership
from .page_fetch import PageFetcher
from .quota import QuotaAdmission
from .seams import PolicySource
from .streamed import StreamedRange, chunk_pages, read_rest


class UfsSpan(NamedTuple):
    """A range of a local UFS file read through, and that file, opened once (so what is
    sent is the file whose path was checked): no cache page is behind it, so no drop from
    the cache changes its bytes. Whoever receives it closes `file`. `roots`: the real
    paths under which a reader on this host may read the files of this UFS that the worker
    records nothing of itself, without asking, while the rules in force stay put (see
    `held_names`); () when a rule could need the worker at such a read (a quota, whose
    pages are stored before answering; a `skipCache` file, read through)."""

    file: LocalFile
    offset: int
    length: int
    roots: tuple[str, ...] = ()


class Reusable(NamedTuple):
    """A wholly cached file a reader on this host may read again without asking: where
    its bytes are, and the version they are of."""

    span: PageSpan
    version: FileVersion


class Reads:
    """Serves `read`: hits from the page store, misses fetched from the UFS and cached.

    Guarantees: a read answers the UFS bytes of the version recorded when the file was
    first cached, except that a miss of a local-disk file that no longer holds that
    version drops the copy and reads the file afresh (never half of each; a remote UFS's
    object is not checked on each miss); a copy the rules say may not be served (TTL,
    `maxAge`) is read afresh;
    a `skipCache` file is read straight through and never stored; a miss is cached only
    if the quotas admit it and `ownership` says this worker is one of the file's owners. A
    miss is answered before it is stored (its pages are stored on an I/O thread right
    after, see `DeferredFills`, and for a local-disk file copied by the kernel from it;
    `settled` waits for that, and pages of a file freed or changed meanwhile are not
    stored), unless a quota governs the file; readers missing the same pages at once
    share one UFS read of them. Counts hits, misses and bytes in `counters`.
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
        ownership: Ownership | None = None,
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
        self.ownership = ownership
        self.misses = MissPages(store, rules, fetcher)
        self.shared = self.misses.shared  # pages being fetched, or fetched and not yet stored
        self.fills = DeferredFills(run_io, clock=clock)

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset+length)` of a file, from the cache or, on a miss, the UFS."""
        self.fills.note_read()
        ufs, uri = await self.mounts.open(path)
        data = cast(bytes, await self._answer(ufs, uri, offset, length, spans=False))  # no span
        self.counters["bytesServed"] += len(data)
        return data

    async def locate(
        self,
        path: str,
        offset: int = 0,
        length: int | None = None,
        cached_spans: bool = True,
        stream: bool = False,
    ) -> PageSpan | UfsSpan | bytes | StreamedRange:
        """`read`, except that a range whose pages are all cached and servable answers where
        its bytes are on disk (a `PageSpan`; not if `cached_spans` is false: while pages are
        being dropped) for a transport to send without copying them, and so does a range of
        a local UFS file none of whose pages is cached (a `UfsSpan`; of a file partly cached
        whose UFS file no longer holds the version cached, the copy is dropped first); with
        `stream`, a range of more than one chunk of pages (`streamed.STREAM_PAGES`) not on
        the local disk is answered once its first chunk is read (a `StreamedRange`), the
        rest as it arrives."""
        self.fills.note_read()
        ufs, uri = await self.mounts.open(path)
        policies = self.rules.policies
        if cached_spans and policies.cache_rule_for(uri)[0] is CacheRule.IMMUTABLE:
            info = self.store.file_info(uri)
            if info is not None and not expired(info, policies, self.clock.now()):
                span = self.store.span(uri, offset, length, self.clock.now())
                if span is not None:
                    self._count_hit(span.offset, span.length)
                    self.counters["bytesServed"] += span.length
                    return span
        found = await self._answer(ufs, uri, offset, length, spans=True, stream=stream)
        served = len(found) if isinstance(found, bytes) else found.length
        self.counters["bytesServed"] += served
        return found

    def when_stored(self, callback: Callable[[str], None]) -> None:
        """Call `callback(uri)` on the event loop each time the pages a read missed of a
        file are stored (the last fill queued for it is done)."""
        self.fills.on_stored = callback

    def watch_recorded(self, watcher: PathWatcher | None) -> None:
        """Tell `watcher` each file the page store records anything of, and stops
        recording (see `PageStore.watch_paths`); None: stop telling."""
        self.store.watch_paths(watcher)

    def rules_in_force(self) -> tuple[object, ...]:
        """What decides whether a cached copy may be served as it is: the policies and the
        mount table in force, each replaced whole when it changes."""
        return (self.rules.policies, self.mounts.table)

    async def settled(self) -> None:
        """Wait until the pages of every miss answered so far are stored (or not kept)."""
        await self.fills.settled()

    async def _answer(
        self,
        ufs: UnderFileSystem,
        uri: str,
        offset: int,
        length: int | None,
        spans: bool,
        stream: bool = False,
    ) -> bytes | PageSpan | StreamedRange:
        # A miss of our pages right before ours: they are stored first (one of others not).
        page, start = self.page_size, max(0, offset)
        last = None if length is None else (start + max(0, length - 1)) // page
        await self.fills.wait(uri, start // page, last)
        if self.ownership is not None:
            await self.ownership.confirm(uri)  # not ours? Unless the ring moved meanwhile
        pages = chunk_pages() if stream else 0
        if spans and self._metadata_only(ufs, uri, offset, length):
            found, fill, version, more = self._read(ufs, uri, offset, length, spans, pages)
        else:
            found, fill, version, more = await self.run_io(
                self._read, ufs, uri, offset, length, spans, pages
            )
        await self._store_later(uri, fill)
        if more is None or version is None:
            return found
        start, end = more  # the rest, read and sent a chunk at a time

        async def read_chunk(at: int, size: int) -> tuple[bytes, FileVersion | None]:
            data, fill, seen, _ = await self.run_io(self._read, ufs, uri, at, size, False)
            await self._store_later(uri, fill)
            return cast(bytes, data), seen

        rest = read_rest(read_chunk, version, start, end, pages * self.page_size)
        first = cast(bytes, found)
        return StreamedRange(len(first) + end - start, first, rest)

    def _metadata_only(
        self, ufs: UnderFileSystem, uri: str, offset: int, length: int | None
    ) -> bool:
        """Whether locating the range takes metadata calls only, no byte read or copied
        (so it is done on the event loop, as a transport opens the file it sends, and a
        block-by-block reader's answers wait for no I/O thread): a file on the local disk
        none of whose pages in the range is cached (a copy whose UFS file changed is
        dropped there too), cached by the rules, under no quota (whose pages would be
        stored before answering)."""
        if ufs.scheme != "file":
            return False
        policies = self.rules.policies
        if policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            return False
        if policies.any_quota and policies.quotas_for(uri):
            return False
        info = self.store.file_info(uri)
        if info is None:
            return True
        if info.complete:
            return False
        lacking, pages_in_range = self._lacking(uri, info, offset, length)
        return lacking == pages_in_range

    async def _store_later(self, uri: str, fill: Fill | None) -> None:
        """Queue `fill` to run after the answer; if too much waits already, run it now."""
        if fill is None:
            return
        if self.fills.reserve(fill.held):
            self.fills.start(uri, fill)
        else:  # too much waits to be stored: this read stores its own before answering
            await self.run_io(fill.run)

    async def reusable_span(self, path: str) -> Reusable | None:
        """Where all of a cached file's bytes are, and their version, if a reader on this
        host may read any of them again without asking, for as long as no page is dropped
        (it checks the change epoch): every page is cached, and no rule can make the copy
        unservable without dropping it (the `immutable` cache rule, no TTL). Counts
        nothing."""
        _, uri = await self.mounts.resolve(path)
        return self.reusable(uri)

    def reusable(self, uri: str) -> Reusable | None:
        """`reusable_span` of a UFS URI."""
        policies = self.rules.policies
        if policies.cache_rule_for(uri)[0] is not CacheRule.IMMUTABLE or policies.ttl_for(uri):
            return None
        info = self.store.file_info(uri)
        if info is None or not info.complete:
            return None
        span = self.store.span(uri, 0, None, None)  # located only: no page made recent
        return None if span is None else Reusable(span, info.version)

    def _count_hit(self, offset: int, length: int) -> None:
        self.counters["hits"] += pages_in(offset, length, self.page_size)
        self.counters["bytesFromCache"] += length

    def _read(
        self,
        ufs: UnderFileSystem,
        uri: str,
        offset: int,
        length: int | None,
        spans: bool,
        stream_pages: int = 0,
    ) -> tuple[bytes | PageSpan | UfsSpan, Fill | None, FileVersion | None, tuple[int, int] | None]:
        """The range's bytes (or, if `spans`, where a local UFS file holds them, when none of
        their pages is cached: see `locate`), what is left to store of its missing pages, if
        anything, and the version they are of (None: read straight through). With
        `stream_pages`, a range of more pages not on the local disk answers its first
        `stream_pages` pages only, and `[start, end)` of the rest (else None)."""
        store = self.store
        policies = self.rules.policies
        now = self.clock.now()
        if policies.cache_rule_for(uri)[0] is CacheRule.SKIP_CACHE:
            if store.file_info(uri) is not None:
                store.remove_file(uri)  # cached before the rule came: never served again
            return self._read_through(ufs, uri, offset, length), None, None, None
        info, status = self.freshness.servable(ufs, uri, policies, now)
        local = None  # the local UFS file, opened, if the range may be answered from it
        if info is not None and ufs.scheme == "file" and not info.complete:
            lacking, pages_in_range = self._lacking(uri, info, offset, length)
            if lacking:  # a miss of a file cached: the UFS file must still hold that version
                local = ufs.open_local(uri) if spans else None
                status = local.status if local is not None else ufs.stat(uri)
                if status.version != info.version:  # its cached pages are of the old one:
                    store.remove_file(uri)  # read afresh, never half of each
                    info = None
            if local is not None and info is not None and lacking < pages_in_range:
                local.close()  # a page of the range is cached: not from the UFS file
                local = None
        elif spans and info is None:
            local = ufs.open_local(uri)
            if local is not None:
                status = local.status  # of the file answered, whatever a stat saw before
        version = info.version if info is not None else (status or ufs.stat(uri)).version
        page_size = self.page_size
        size = version.size
        offset, end = clamped(offset, length, size)
        first, last = offset // page_size, max(end - 1, offset) // page_size
        wanted = range(first, last + 1) if end > offset else range(0)
        if info is not None and end > offset:
            # A whole hit: only the bytes asked for are read, in one call, copied once.
            hit = store.read(uri, offset, end - offset, now)
            if hit is not None:
                if local is not None:
                    local.close()  # stored meanwhile: answered from the cache
                self.counters["hits"] += len(wanted)
                self.counters["bytesFromCache"] += len(hit)
                return hit, None, version, None
        more = None
        if stream_pages and local is None and last - first >= stream_pages and end > offset:
            last = first + stream_pages - 1  # the first chunk now, the rest streamed after
            more = ((last + 1) * page_size, end)
            end = more[0]
            wanted = range(first, last + 1)
        pages: dict[int, Page] = {}
        if info is not None and local is None:
            for index in wanted:
                data = store.get_page(uri, index, self.clock.now())
                if data is not None:
                    pages[index] = data
        missing = [index for index in wanted if index not in pages]
        keep = True
        if info is None or missing:
            needed = pages_bytes(missing, size, page_size)
            keep = self.quota.admit(uri, needed, policies).allowed and self._owns(uri)
            if keep and info is None:
                store.set_file(uri, version, now)
        if end <= offset:
            if local is not None:
                local.close()
            return b"", None, version, None
        fill = None
        if local is None:
            fetched, fill, read = self.misses.fetch(ufs, uri, version, missing, keep)
            pages.update(fetched)
            missing = read  # another reader's pages, fetched meanwhile, count as hits
        elif keep and missing:
            # Answered from the UFS file first; the kernel copies its pages into the store
            # after, if the file still holds the version recorded (`MissPages.local_fill`).
            fill = self.misses.local_fill(ufs, uri, version, missing)
        from_ufs = set(missing)
        self.counters["hits"] += len(wanted) - len(from_ufs)
        self.counters["misses"] += len(from_ufs)
        if pages:
            self.counters["bytesFromCache"] += sum(
                len(pages[i]) for i in wanted if i not in from_ufs
            )
        self.counters["bytesFromUfs"] += pages_bytes(missing, size, page_size)
        if fill is not None and policies.any_quota and policies.quotas_for(uri):
            fill.run()  # under a quota: stored before answering, so usage is never behind
            fill = None
        if local is not None:
            roots = () if policies.any_quota or policies.any_skip else ufs.local_roots()
            return UfsSpan(local, offset, end - offset, roots), fill, version, None
        skip, stop = offset - first * page_size, end - first * page_size
        if last == first:
            return bytes(pages[first][skip:stop]), fill, version, more
        parts = [pages[first][skip:]]
        parts += [pages[index] for index in range(first + 1, last)]
        parts.append(pages[last][: stop - (last - first) * page_size])
        return b"".join(parts), fill, version, more

    def _lacking(
        self, uri: str, info: CachedFile, offset: int, length: int | None
    ) -> tuple[int, int]:
        """How many of the range's pages are not cached, and how many it has (0, 0 if it is
        empty, or if the file was dropped meanwhile: then it reads as a file not cached)."""
        start, end = clamped(offset, length, info.version.size)
        if end <= start:
            return 0, 0
        try:
            missing = self.store.missing_pages(uri, start, end - start)
        except NotFound:  # dropped by another thread since `info` was read
            return 0, 0
        return len(missing), pages_in(start, end - start, self.page_size)

    def _owns(self, uri: str) -> bool:
        return self.ownership is None or self.ownership.owns(uri)

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
