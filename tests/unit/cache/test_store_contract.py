"""The page store's contract, run on every medium: the disk (real workers) and sizes only
(the simulator, its eviction order per file or, as `simulate train` has it, per page).
Accounting, capacity, eviction order, versions, partial files, access times and listings
are the store's, the same whatever holds the bytes; what only the disk does (its journal,
recovery, hole punching, file ranges) is tested in test_page_store*.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ringcache.cluster.cache.medium import OneThread, SizeMedium
from ringcache.cluster.cache.store import CapacityExceeded, PageStore
from ringcache.cluster.errors import InvalidArgument, NotFound
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.simulations.cluster import PagedSizeMedium

PAGE = 16


class Media:
    """Opens page stores over one medium, and says what its reads answer."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.opened = 0

    def open(self, capacity_bytes: int, page_size: int = PAGE) -> PageStore:
        if self.kind != "disk":  # as simulated: `simulate train` evicts per page
            medium = PagedSizeMedium() if self.kind == "paged-sizes" else SizeMedium()
            return PageStore(medium, capacity_bytes, page_size, lock=OneThread())
        self.opened += 1  # a fresh directory per store, as each is a fresh disk
        return PageStore(self.root / f"store-{self.opened}", capacity_bytes, page_size)

    def bytes(self, data: bytes) -> bytes:
        """What a read of `data` answers: the bytes themselves, or zeros of their length."""
        return data if self.kind == "disk" else bytes(len(data))


@pytest.fixture(params=["disk", "sizes", "paged-sizes"])
def media(request: pytest.FixtureRequest, tmp_path: Path) -> Media:
    return Media(request.param, tmp_path)


def version(size: int, mtime: float = 1.0, etag: str | None = None) -> FileVersion:
    return FileVersion(size, mtime, etag)


def content(size: int, seed: int = 0) -> bytes:
    return bytes((seed + i) % 251 for i in range(size))


def got(data: bytes | memoryview | None) -> bytes | None:
    return None if data is None else bytes(data)


def cache_file(store: PageStore, path: str, data: bytes, now: float = 0.0, **kw: str) -> list:
    """Record `path` and put all its pages one by one; returns everything evicted."""
    store.set_file(path, version(len(data)), now, **kw)
    evicted = []
    for index in range(0, len(data), store.page_size):
        chunk = data[index : index + store.page_size]
        evicted += store.put_page(path, index // store.page_size, chunk, now)
    return evicted


def test_put_and_read_a_whole_file(media: Media) -> None:
    store = media.open(1000, PAGE)
    data = content(40)
    cache_file(store, "file:///a", data)
    assert got(store.read("file:///a", 0, None, 1.0)) == media.bytes(data)
    info = store.file_info("file:///a")
    assert info is not None
    assert (info.pages, info.cached_bytes, info.complete) == (3, 40, True)
    assert info.version == version(40) and info.last_access == 1.0
    assert store.stats().used_bytes == 40 and store.stats().pages == 3


def test_partial_last_page(media: Media) -> None:
    store = media.open(1000, PAGE)
    store.set_file("f", version(20), 0)
    store.put_page("f", 1, content(4), 0)
    assert got(store.get_page("f", 1, 0)) == media.bytes(content(4))
    with pytest.raises(InvalidArgument, match="4 bytes"):
        store.put_page("f", 1, content(16), 0)
    with pytest.raises(InvalidArgument, match="16 bytes"):
        store.put_page("f", 0, content(4), 0)
    with pytest.raises(InvalidArgument, match="out of range"):
        store.put_page("f", 2, b"", 0)
    assert store.file_info("f").cached_bytes == 4


def test_ranged_reads_across_pages(media: Media) -> None:
    store = media.open(1000, PAGE)
    data = content(50)
    cache_file(store, "f", data)
    for offset, length in [(0, 1), (15, 2), (10, 30), (16, 16), (47, 3), (0, 50), (5, None)]:
        expected = data[offset:] if length is None else data[offset : offset + length]
        assert got(store.read("f", offset, length, 0)) == media.bytes(expected), (offset, length)
    assert got(store.read("f", 45, 100, 0)) == media.bytes(data[45:])  # clamped to the file size
    assert got(store.read("f", 80, 10, 0)) == media.bytes(b"")
    with pytest.raises(InvalidArgument):
        store.read("f", -1, 2, 0)


def test_read_needs_every_page_of_the_range(media: Media) -> None:
    store = media.open(1000, PAGE)
    data = content(48)
    store.set_file("f", version(48), 0)
    store.put_page("f", 0, data[:16], 0)
    store.put_page("f", 2, data[32:], 0)
    assert got(store.read("f", 0, 16, 0)) == media.bytes(data[:16])
    assert store.read("f", 10, 10, 0) is None
    assert store.read("f", 0, None, 0) is None
    assert store.read("unknown", 0, 1, 0) is None
    assert store.missing_pages("f", 0, None) == [1]
    assert store.missing_pages("f", 0, 16) == []
    assert store.missing_pages("f", 17, 100) == [1]
    assert store.file_info("f").complete is False
    with pytest.raises(NotFound):
        store.missing_pages("unknown", 0, None)


def test_empty_file_is_complete_once_recorded(media: Media) -> None:
    store = media.open(1000, PAGE)
    store.set_file("empty", version(0), 0)
    assert got(store.read("empty", 0, None, 0)) == media.bytes(b"")
    assert store.file_info("empty").complete is True
    assert store.missing_pages("empty") == []


def test_put_page_needs_a_recorded_file_unless_given_its_version(media: Media) -> None:
    store = media.open(1000, PAGE)
    with pytest.raises(NotFound):
        store.put_page("f", 0, content(16), 0)
    store.put_page("f", 0, content(16), 0, version=version(16))
    assert got(store.read("f", 0, None, 0)) == media.bytes(content(16))


def test_reading_touches_pages(media: Media) -> None:
    store = media.open(3 * PAGE, PAGE)
    for name in "abc":
        cache_file(store, name, content(PAGE))
    assert store.read("a", 0, 1, 5.0) is not None  # a becomes the most recent
    assert store.get_page("b", 0, 6.0) is not None  # then b
    assert cache_file(store, "d", content(PAGE)) == [("c", 0)]
    assert cache_file(store, "e", content(PAGE)) == [("a", 0)]
    assert store.file_info("b").last_access == 6.0


def test_a_file_larger_than_the_store_keeps_its_newest_pages(media: Media) -> None:
    store = media.open(2 * PAGE, PAGE)
    evicted = cache_file(store, "huge", content(4 * PAGE))
    assert evicted == [("huge", 0), ("huge", 1)]
    assert store.missing_pages("huge") == [0, 1]


def test_remove_file(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "f", content(40))
    assert store.remove_file("f") == 40
    assert store.remove_file("f") == 0
    assert store.file_info("f") is None and store.stats() == store.stats().__class__(1000, 0, 0, 0)


def test_capacity_exceeded(media: Media) -> None:
    store = media.open(PAGE - 1, PAGE)
    cache_file(store, "small", content(PAGE - 1))
    store.set_file("f", version(PAGE), 0)
    with pytest.raises(CapacityExceeded) as caught:
        store.put_page("f", 0, content(PAGE), 0)
    assert caught.value.reason == "CAPACITY_EXCEEDED"
    assert caught.value.status_code == 507
    assert store.file_info("small").complete  # nothing was evicted in vain


def test_list_files_pages_in_path_order(media: Media) -> None:
    store = media.open(10_000, PAGE)
    names = [f"file:///d/{n:03}" for n in range(25)]
    for name in reversed(names):
        cache_file(store, name, content(5))
    store.remove_file(names[3])
    seen, cursor = [], None
    while page := store.list_files(start_after=cursor, limit=10):
        assert len(page) <= 10
        seen += [f.path for f in page]
        cursor = page[-1].path
        # Added mid-listing: one after the cursor is seen, one before it is not.
        cache_file(store, "file:///d/015b", content(1))
        cache_file(store, "file:///d/000b", content(1))
    expected = sorted([n for n in names if n != names[3]] + ["file:///d/015b"])
    assert seen == expected


def test_priority_levels_evict_low_before_medium_before_high(media: Media) -> None:
    store = media.open(3 * PAGE, PAGE)
    store.set_file("high", version(PAGE), 0, priority="HIGH")
    store.put_page("high", 0, content(PAGE), 0)
    cache_file(store, "medium", content(PAGE))
    store.set_file("low", version(PAGE), 0, priority="LOW")
    store.put_page("low", 0, content(PAGE), 0)
    # "high" is the least recently used, yet LOW goes first, then MEDIUM.
    assert cache_file(store, "x", content(PAGE)) == [("low", 0)]
    assert cache_file(store, "y", content(PAGE)) == [("medium", 0)]
    assert cache_file(store, "z", content(PAGE)) == [("x", 0)]
    store.set_priority("high", "LOW")
    assert cache_file(store, "w", content(PAGE)) == [("high", 0)]
    with pytest.raises(InvalidArgument):
        store.set_file("bad", version(1), 0, priority="URGENT")


def test_held_gives_each_paths_version_and_bytes_as_file_info_does(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "/whole", content(40))
    store.set_file("/part", version(40, etag="e"), 0.0)
    store.put_page("/part", 2, content(8), 0.0)  # the short last page only
    store.set_file("/empty", version(0), 0.0)
    store.set_file("/recorded", version(20), 0.0)  # no page yet
    paths = ["/whole", "/part", "/empty", "/recorded", "/unknown"]
    assert store.held(paths) == [
        (version(40), 40),
        (version(40, etag="e"), 8),
        (version(0), 0),
        None,
        None,
    ]
    for path, held in zip(paths, store.held(iter(paths)), strict=True):
        info = store.file_info(path)
        if held is not None:
            assert held == (info.version, info.cached_bytes)


def test_put_pages_with_a_version_records_the_file_at_the_priority_given(media: Media) -> None:
    store = media.open(1000, PAGE)
    store.put_pages(
        "/new", 0, [content(PAGE), content(4)], 0.0, version=version(20), priority="HIGH"
    )
    info = store.file_info("/new")
    assert (info.version, info.priority, info.complete) == (version(20), "HIGH", True)
    store.put_pages("/new", 0, [content(PAGE)], 1.0, version=version(20), priority="LOW")
    assert store.file_info("/new").priority == "LOW"  # as set_file moves a cached file
    store.put_pages("/new", 1, [content(4)], 2.0, version=version(20))
    assert store.file_info("/new").priority == "LOW"  # no priority: the level stays
    store.put_pages("/plain", 0, [content(4)], 0.0, version=version(4))
    assert store.file_info("/plain").priority == "MEDIUM"
    with pytest.raises(InvalidArgument):
        store.put_pages("/bad", 0, [content(4)], 0.0, version=version(4), priority="URGENT")
    assert store.file_info("/bad") is None


def test_list_held_is_list_files_in_brief(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "/b", content(40))
    store.set_file("/a", version(40, etag="e"), 0.0)
    store.put_page("/a", 1, content(PAGE), 0.0)
    store.set_file("/c", version(0), 0.0)
    for after, limit in ((None, 10), ("/a", 1), ("/b", 5), ("/c", 5)):
        brief = [
            (f.path, f.version, f.cached_bytes, f.complete)
            for f in store.list_files(start_after=after, limit=limit)
        ]
        assert store.list_held(start_after=after, limit=limit) == brief
    assert [path for path, *_ in store.list_held()] == ["/a", "/b", "/c"]
    assert store.list_held(limit=2)[0] == ("/a", version(40, etag="e"), PAGE, False)
    with pytest.raises(InvalidArgument):
        store.list_held(limit=0)


def test_lru_eviction_order_and_capacity(media: Media) -> None:
    store = media.open(4 * PAGE, PAGE)
    for name in "abcd":
        assert cache_file(store, name, content(PAGE)) == []
    assert cache_file(store, "e", content(2 * PAGE)) == [("a", 0), ("b", 0)]
    assert store.file_info("a") is None and store.file_info("b") is None
    assert store.stats().used_bytes == 4 * PAGE
    assert store.paths() == ["c", "d", "e"]


def test_capacity_is_never_exceeded_and_used_bytes_add_up(media: Media) -> None:
    capacity = 5 * PAGE + 7
    store = media.open(capacity, PAGE)
    for number in range(60):
        cache_file(store, f"f{number:02}", content((number % 12) * 7, number), now=number)
        stats = store.stats()
        files = store.list_files(limit=1000)
        assert stats.used_bytes <= capacity
        assert stats.used_bytes == sum(f.cached_bytes for f in files)
        assert stats.pages == sum(f.pages for f in files)
        assert stats.cached_files == len(files)


def test_a_page_is_checked_before_it_is_stored(media: Media) -> None:
    store = media.open(10 * PAGE, PAGE)
    with pytest.raises(InvalidArgument):
        store.put_page("f", True, content(PAGE), 0.0, version=version(2 * PAGE))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        store.put_page("f", -1, content(PAGE), 0.0, version=version(2 * PAGE))
    with pytest.raises(InvalidArgument):
        store.put_pages("f", 0, [content(PAGE), content(PAGE + 1)], 0.0, version=version(2 * PAGE))
    assert store.file_info("f").pages == 0  # a run with a page of the wrong size: none of it
    assert store.get_page("f", -1, 0.0) is None and store.get_page("f", 7, 0.0) is None


def test_version_change_drops_old_pages(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "f", content(40))
    store.set_file("f", version(40), 9.0)  # same version: nothing changes
    assert store.file_info("f").pages == 3 and store.file_info("f").cached_at == 0.0
    store.set_file("f", version(40, etag="new"), 10.0)
    info = store.file_info("f")
    assert (info.pages, info.cached_bytes, info.cached_at) == (0, 0, 10.0)
    assert store.read("f", 0, 1, 10.0) is None
    assert store.stats().used_bytes == 0 and store.stats().pages == 0


def test_access_times_follow_the_caller_clock(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "f", content(40), now=3.0)
    info = store.file_info("f")
    assert (info.cached_at, info.last_access) == (3.0, 3.0)
    store.get_page("f", 1, 7.0)
    assert store.file_info("f").last_access == 7.0
    store.read("f", 0, 5, 8.0)
    store.read("missing", 0, 5, 9.0)
    info = store.file_info("f")
    assert (info.cached_at, info.last_access) == (3.0, 8.0)
    store.put_pages("f", 0, [content(PAGE)], 11.0)  # held already: still an access
    assert store.file_info("f").last_access == 11.0


def test_eviction_goes_low_then_medium_then_high_and_least_recent_first(media: Media) -> None:
    store = media.open(6 * PAGE, PAGE)
    cache_file(store, "old", content(2 * PAGE), priority="MEDIUM")
    cache_file(store, "low", content(2 * PAGE), priority="LOW")
    cache_file(store, "recent", content(2 * PAGE), priority="MEDIUM")
    store.read("old", 0, None, 5.0)  # all of old: now more recent than recent, at any grain
    evicted = cache_file(store, "new", content(3 * PAGE))
    assert evicted == [("low", 0), ("low", 1), ("recent", 0)]
    assert store.file_info("low") is None  # lost its last page: forgotten
    assert store.file_info("recent").pages == 1
    store.set_priority("old", "HIGH")
    assert cache_file(store, "next", content(2 * PAGE)) == [("recent", 1), ("new", 0)]
    assert store.file_info("old").priority == "HIGH"
    with pytest.raises(InvalidArgument):
        store.set_priority("old", "URGENT")
    with pytest.raises(NotFound):
        store.set_priority("gone", "LOW")


def test_the_grain_of_recency_is_the_mediums(media: Media) -> None:
    """A hit on one page of a file: on disk (and the paged simulator) that page becomes
    recent; in the simulator's default, the whole file does, and the file then gives up
    its lowest page first."""
    store = media.open(3 * PAGE, PAGE)
    cache_file(store, "big", content(3 * PAGE))
    store.get_page("big", 0, 1.0)
    expected = ("big", 0) if media.kind == "sizes" else ("big", 1)
    assert cache_file(store, "x", content(PAGE)) == [expected]
    info = store.file_info("big")
    assert (info.pages, info.complete) == (2, False)
    assert store.missing_pages("big") == [expected[1]]


def test_lacking_whole_names_the_paths_not_held_whole_in_order(media: Media) -> None:
    store = media.open(1000, PAGE)
    cache_file(store, "whole", content(40))
    cache_file(store, "empty", b"")
    store.set_file("part", version(40), 0.0)
    store.put_page("part", 0, content(PAGE), 0.0)
    asked = ["part", "whole", "none", "empty"]
    assert store.lacking_whole(asked) == ["part", "none"]
    complete = {p for p in asked if (info := store.file_info(p)) is not None and info.complete}
    assert store.lacking_whole(asked) == [p for p in asked if p not in complete]


def test_discard_forgets_every_file_and_frees_all_room(media: Media) -> None:
    store = media.open(10 * PAGE, PAGE)
    for name in ["a", "b"]:
        cache_file(store, name, content(40))
    store.discard()
    assert store.paths() == [] and store.list_files() == []
    assert store.file_info("a") is None and store.stats().used_bytes == 0
    assert cache_file(store, "c", content(10 * PAGE)) == []  # the whole capacity is free


def test_a_run_of_pages_stored_at_once_ends_as_page_by_page_would(media: Media) -> None:
    """`put_pages` takes a shortcut for a run that fits whole; the result, evictions and
    eviction order included, is that of storing its pages one by one."""

    def drive(store: PageStore, one_by_one: bool) -> list:
        rng = random.Random(5)
        sizes = {f"f{i:02}": rng.randrange(0, 9 * PAGE) for i in range(30)}
        log = []
        for step in range(400):
            path = rng.choice(sorted(sizes))
            size = sizes[path]
            pages = -(-size // PAGE)
            if not pages:
                continue
            first = rng.randrange(pages)
            count = rng.randrange(1, pages - first + 1)
            data = [content(min(PAGE, size - i * PAGE), i) for i in range(first, first + count)]
            if rng.random() < 0.1:  # now and then a page of the wrong length: none is stored
                data[-1] = data[-1] + b"x"
                with pytest.raises(InvalidArgument):
                    store.put_pages(path, first, data, float(step), version=version(size))
                continue
            if one_by_one:
                evicted = []
                for index, page in enumerate(data, first):
                    evicted += store.put_page(path, index, page, float(step), version=version(size))
            else:
                evicted = store.put_pages(path, first, data, float(step), version=version(size))
            log.append((evicted, store.file_info(path), store.stats()))
            if rng.random() < 0.05:
                store.remove_file(path)
        files = [store.file_info(path) for path in sorted(sizes)]
        held = store.held(sorted(sizes))
        # What is held adds up: each file's bytes are those of the pages it holds.
        for info in files:
            if info is not None:
                missing = store.missing_pages(info.path)
                size, count = info.version.size, -(-info.version.size // PAGE)
                held_pages = [i for i in range(count) if i not in missing]
                counted = sum(min(PAGE, size - i * PAGE) for i in held_pages)
                assert (info.cached_bytes, info.pages) == (counted, len(held_pages))
        assert store.stats().used_bytes == sum(info.cached_bytes for info in files if info)
        assert store.lacking_whole(sorted(sizes)) == [
            info.path if info else path
            for path, info in zip(sorted(sizes), files, strict=True)
            if info is None or not info.complete
        ]
        # What goes next, in order: a file as large as the store evicts everything.
        flush = cache_file(store, "flush", content(40 * PAGE), now=1000.0)
        return [log, files, held, store.list_held(), flush, store.stats()]

    at_once = drive(media.open(40 * PAGE, PAGE), one_by_one=False)
    assert drive(media.open(40 * PAGE, PAGE), one_by_one=True) == at_once
    assert any(evicted for evicted, *_ in at_once[0])  # some runs evicted pages


class Meter:
    """Counts what a `SizeMedium` charges, as the simulator's `IoMeter` would."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.read: list[int] = []

    def disk_write(self, nbytes: int) -> None:
        self.written.append(nbytes)

    def disk_read(self, nbytes: int) -> None:
        self.read.append(nbytes)


def test_the_size_medium_charges_every_page_written_or_read_at_its_length() -> None:
    meter = Meter()
    store = PageStore(SizeMedium(meter), 1000, PAGE)
    store.put_pages("f", 0, [content(PAGE), content(PAGE), content(8)], 0.0, version=version(40))
    store.put_page("f", 2, content(8), 0.0)  # held already: nothing written
    assert sum(meter.written) == 40
    assert got(store.read("f", 10, 20, 1.0)) == bytes(20)
    assert got(store.get_page("f", 2, 1.0)) == bytes(8)
    assert store.read("f", 0, 0, 1.0) == b"" and store.read("g", 0, 5, 1.0) is None
    assert meter.read == [20, 8]


def test_span_locates_only_ranges_held_whole_on_a_medium_that_keeps_files(media: Media) -> None:
    store = media.open(capacity_bytes=100 * PAGE)
    data = content(3 * PAGE + 5)
    cache_file(store, "a", data)
    store.set_file("b", version(2 * PAGE), 0.0)
    store.put_page("b", 0, content(PAGE), 0.0)  # page 1 of b is missing
    span = store.span("a", PAGE - 3, PAGE + 6, now=5.0)
    assert store.span("b", 0, None, now=5.0) is None  # not held whole
    assert store.span("missing", 0, 1, now=5.0) is None
    if media.kind != "disk":
        assert span is None  # no file holds the bytes: readers go through `read`
        return
    assert span is not None and (span.offset, span.length) == (PAGE - 3, PAGE + 6)
    with open(span.path, "rb") as data_file:
        data_file.seek(span.offset)
        assert data_file.read(span.length) == data[PAGE - 3 : 2 * PAGE + 3]
    assert store.file_info("a").last_access == 5.0  # located is as good as read
    assert store.span("a", 0, None, now=None) is not None  # located only: not read
    assert store.file_info("a").last_access == 5.0
    clamped = store.span("a", 3 * PAGE, 100, now=6.0)
    assert clamped is not None and clamped.length == 5  # clamped to the file, as `read` is
