from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.cluster.cache.layout import PageLayout, file_key
from ringcache.cluster.cache.store import CapacityExceeded, PageStore
from ringcache.cluster.errors import InvalidArgument, NotFound
from ringcache.cluster.ufs.filesystem import FileVersion

PAGE = 16


def version(size: int, mtime: float = 1.0, etag: str | None = None) -> FileVersion:
    return FileVersion(size, mtime, etag)


def content(size: int, seed: int = 0) -> bytes:
    return bytes((seed + i) % 251 for i in range(size))


def cache_file(store: PageStore, path: str, data: bytes, now: float = 0.0) -> list:
    """Record `path` and put all its pages; returns everything evicted on the way."""
    store.set_file(path, version(len(data)), now)
    evicted = []
    for index in range(0, len(data), store.page_size):
        chunk = data[index : index + store.page_size]
        evicted += store.put_page(path, index // store.page_size, chunk, now)
    return evicted


def data_files(root: Path) -> list[Path]:
    """The data files of cached files (one per file version, named by its key)."""
    return [p for p in root.rglob("*") if p.is_file() and len(p.name) == 40 and not p.suffix]


def held_bytes(root: Path) -> int:
    """Bytes the data files hold on disk (their holes left out), up to each file's end."""
    total = 0
    for path in data_files(root):
        fd = os.open(path, os.O_RDONLY)
        try:
            size, offset = os.fstat(fd).st_size, 0
            while offset < size:
                try:
                    start = os.lseek(fd, offset, os.SEEK_DATA)
                except OSError:  # ENXIO: no data after offset
                    break
                offset = os.lseek(fd, start, os.SEEK_HOLE)
                total += min(offset, size) - start
        finally:
            os.close(fd)
    return total


def test_put_and_read_a_whole_file(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    data = content(40)
    cache_file(store, "file:///a", data)
    assert store.read("file:///a", 0, None, 1.0) == data
    info = store.file_info("file:///a")
    assert info is not None
    assert (info.pages, info.cached_bytes, info.complete) == (3, 40, True)
    assert info.version == version(40) and info.last_access == 1.0
    assert store.stats().used_bytes == 40 and store.stats().pages == 3


def test_partial_last_page(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    store.set_file("f", version(20), 0)
    store.put_page("f", 1, content(4), 0)
    assert store.get_page("f", 1, 0) == content(4)
    with pytest.raises(InvalidArgument, match="4 bytes"):
        store.put_page("f", 1, content(16), 0)
    with pytest.raises(InvalidArgument, match="16 bytes"):
        store.put_page("f", 0, content(4), 0)
    with pytest.raises(InvalidArgument, match="out of range"):
        store.put_page("f", 2, b"", 0)
    assert store.file_info("f").cached_bytes == 4


def test_ranged_reads_across_pages(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    data = content(50)
    cache_file(store, "f", data)
    for offset, length in [(0, 1), (15, 2), (10, 30), (16, 16), (47, 3), (0, 50), (5, None)]:
        expected = data[offset:] if length is None else data[offset : offset + length]
        assert store.read("f", offset, length, 0) == expected, (offset, length)
    assert store.read("f", 45, 100, 0) == data[45:]  # clamped to the file size
    assert store.read("f", 80, 10, 0) == b""
    with pytest.raises(InvalidArgument):
        store.read("f", -1, 2, 0)


def test_read_needs_every_page_of_the_range(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    data = content(48)
    store.set_file("f", version(48), 0)
    store.put_page("f", 0, data[:16], 0)
    store.put_page("f", 2, data[32:], 0)
    assert store.read("f", 0, 16, 0) == data[:16]
    assert store.read("f", 10, 10, 0) is None
    assert store.read("f", 0, None, 0) is None
    assert store.read("unknown", 0, 1, 0) is None
    assert store.missing_pages("f", 0, None) == [1]
    assert store.missing_pages("f", 0, 16) == []
    assert store.missing_pages("f", 17, 100) == [1]
    assert store.file_info("f").complete is False
    with pytest.raises(NotFound):
        store.missing_pages("unknown", 0, None)


def test_empty_file_is_complete_once_recorded(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    store.set_file("empty", version(0), 0)
    assert store.read("empty", 0, None, 0) == b""
    assert store.file_info("empty").complete is True
    assert store.missing_pages("empty") == []


def test_put_page_needs_a_recorded_file_unless_given_its_version(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    with pytest.raises(NotFound):
        store.put_page("f", 0, content(16), 0)
    store.put_page("f", 0, content(16), 0, version=version(16))
    assert store.read("f", 0, None, 0) == content(16)


def test_lru_eviction_order_and_capacity(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 4 * PAGE, PAGE)
    for name in "abcd":
        assert cache_file(store, name, content(PAGE)) == []
    assert cache_file(store, "e", content(2 * PAGE)) == [("a", 0), ("b", 0)]
    assert store.file_info("a") is None and store.file_info("b") is None
    assert store.stats().used_bytes == 4 * PAGE
    assert len(data_files(tmp_path)) == 3  # c, d and e


def test_capacity_is_never_exceeded(tmp_path: Path) -> None:
    block = 4096  # pages of whole file-system blocks, so an evicted page frees its block
    capacity = 5 * block + 7
    store = PageStore(tmp_path, capacity, block)
    for number in range(60):
        cache_file(store, f"f{number:02}", content((number % 40) * 307, number), now=number)
        stats = store.stats()
        assert stats.used_bytes <= capacity
        assert stats.used_bytes == sum(f.cached_bytes for f in store.list_files(limit=1000))
        assert stats.used_bytes == held_bytes(tmp_path)


def test_reading_touches_pages(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 3 * PAGE, PAGE)
    for name in "abc":
        cache_file(store, name, content(PAGE))
    assert store.read("a", 0, 1, 5.0) is not None  # a becomes the most recent
    assert store.get_page("b", 0, 6.0) is not None  # then b
    assert cache_file(store, "d", content(PAGE)) == [("c", 0)]
    assert cache_file(store, "e", content(PAGE)) == [("a", 0)]
    assert store.file_info("b").last_access == 6.0


def test_pages_of_one_file_are_evicted_one_by_one(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 3 * PAGE, PAGE)
    cache_file(store, "big", content(3 * PAGE))
    store.get_page("big", 0, 1.0)
    assert cache_file(store, "x", content(PAGE)) == [("big", 1)]
    info = store.file_info("big")
    assert (info.pages, info.complete) == (2, False)
    assert store.missing_pages("big") == [1]


def test_a_file_larger_than_the_store_keeps_its_newest_pages(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 2 * PAGE, PAGE)
    evicted = cache_file(store, "huge", content(4 * PAGE))
    assert evicted == [("huge", 0), ("huge", 1)]
    assert store.missing_pages("huge") == [0, 1]


def test_version_change_drops_old_pages(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "f", content(40))
    store.set_file("f", version(40), 9.0)  # same version: nothing changes
    assert store.file_info("f").pages == 3 and store.file_info("f").cached_at == 0.0
    store.set_file("f", version(40, etag="new"), 10.0)
    info = store.file_info("f")
    assert (info.pages, info.cached_bytes, info.cached_at) == (0, 0, 10.0)
    assert store.read("f", 0, 1, 10.0) is None
    assert store.stats().used_bytes == 0 and data_files(tmp_path) == []


def test_remove_file(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "f", content(40))
    assert store.remove_file("f") == 40
    assert store.remove_file("f") == 0
    assert store.file_info("f") is None and store.stats() == store.stats().__class__(1000, 0, 0, 0)
    assert data_files(tmp_path) == []


def test_capacity_exceeded(tmp_path: Path) -> None:
    store = PageStore(tmp_path, PAGE - 1, PAGE)
    cache_file(store, "small", content(PAGE - 1))
    store.set_file("f", version(PAGE), 0)
    with pytest.raises(CapacityExceeded) as caught:
        store.put_page("f", 0, content(PAGE), 0)
    assert caught.value.reason == "CAPACITY_EXCEEDED"
    assert caught.value.status_code == 507
    assert store.file_info("small").complete  # nothing was evicted in vain


def test_reopen_recovers_pages_and_versions(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "file:///a", content(40), now=1.0)
    store.set_file("file:///b", FileVersion(20, None, "etag-b"), 2.0, priority="HIGH")
    store.put_page("file:///b", 0, content(16), 2.0)
    store.set_file("file:///empty", version(0), 3.0)

    again = PageStore(tmp_path, 1000, PAGE)
    assert again.read("file:///a", 0, None, 4.0) == content(40)
    b = again.file_info("file:///b")
    assert (b.version, b.pages, b.cached_at, b.priority) == (
        FileVersion(20, None, "etag-b"),
        1,
        2.0,
        "HIGH",
    )
    assert again.file_info("file:///empty").complete
    assert again.stats() == store.stats()


def test_reopen_ignores_half_written_and_damaged_pages(tmp_path: Path) -> None:
    block = 4096  # pages of whole file-system blocks, so a page can be a hole
    store = PageStore(tmp_path, 100 * block, block)
    cache_file(store, "f", content(3 * block + 8))
    key = file_key("f", 3 * block + 8, 1.0, None)
    data = tmp_path / key[:2] / key
    # Page 1 evicted (a hole again) but the process died before recording that ...
    PageLayout(tmp_path).punch(key, [(block, block)])
    with open(data, "r+b") as handle:
        handle.truncate(3 * block + 3)  # ... and page 3 cut short.
    # Page 1 of g written, the process died before listing it.
    store.set_file("g", version(2 * block), 0.0)
    store.put_page("g", 0, content(block, seed=3), 0.0)
    g_key = file_key("g", 2 * block, 1.0, None)
    with open(tmp_path / g_key[:2] / g_key, "r+b") as handle:
        handle.seek(block)
        handle.write(content(block))
    # h written whole, the process died before listing any of it.
    store.set_file("h", version(3 * block), 0.0)
    h_key = file_key("h", 3 * block, 1.0, None)
    (tmp_path / h_key[:2] / h_key).write_bytes(content(3 * block))
    (tmp_path / key[:2] / f"{key}.tmp").write_bytes(content(16))  # a rewrite in progress
    (tmp_path / key[:2] / f"{key}.0").write_bytes(content(16))  # a page of layout 1
    orphan = file_key("orphan", 16, 1.0, None)
    (tmp_path / orphan[:2] / orphan).write_bytes(content(16))  # no record of it
    (tmp_path / "00" / "unrelated-file").write_bytes(b"keep me")

    again = PageStore(tmp_path, 100 * block, block)
    assert again.missing_pages("f") == [1, 3]
    assert again.read("f", 0, block, 0) == content(block)
    assert again.read("f", 2 * block, block, 0) == content(3 * block)[2 * block :]
    assert again.read("f", 0, None, 0) is None
    assert again.missing_pages("g") == [1]
    assert again.read("g", 0, block, 0) == content(block, seed=3)
    assert again.file_info("h") is None
    for name in (f"{key}.tmp", f"{key}.0", orphan, h_key):
        assert not (tmp_path / name[:2] / name).exists(), name
    assert (tmp_path / "00" / "unrelated-file").read_bytes() == b"keep me"
    assert again.stats().used_bytes == 3 * block == held_bytes(tmp_path)
    assert {p.name for p in data_files(tmp_path)} == {key, g_key}


def test_reopen_with_a_smaller_capacity_evicts_the_oldest(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    for number, name in enumerate("abc"):
        cache_file(store, name, content(PAGE), now=float(number))
    again = PageStore(tmp_path, 2 * PAGE, PAGE)
    assert [f.path for f in again.list_files()] == ["b", "c"]


def test_reopen_with_another_page_size_drops_everything(tmp_path: Path) -> None:
    cache_file(PageStore(tmp_path, 1000, PAGE), "f", content(40))
    again = PageStore(tmp_path, 1000, 2 * PAGE)
    assert again.file_info("f") is None and data_files(tmp_path) == []


def test_a_page_deleted_behind_the_stores_back_is_a_miss(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "f", content(40))
    key = file_key("f", 40, 1.0, None)
    os.unlink(tmp_path / key[:2] / key)
    assert store.read("f", 0, None, 0) is None
    assert store.file_info("f") is None
    assert store.stats().used_bytes == 0


def test_list_files_pages_in_path_order(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 10_000, PAGE)
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


def test_priority_levels_evict_low_before_medium_before_high(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 3 * PAGE, PAGE)
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


def test_reopen_never_serves_pages_of_an_older_version(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "f", content(16, seed=1))
    old_key = file_key("f", 16, 1.0, None)
    old_data = (tmp_path / old_key[:2] / old_key).read_bytes()
    store.set_file("f", version(16, mtime=2.0), 1.0)
    # As if the process died before deleting the old data: it is still on disk.
    (tmp_path / old_key[:2] / old_key).write_bytes(old_data)
    again = PageStore(tmp_path, 1000, PAGE)
    assert again.file_info("f") is None or again.file_info("f").pages == 0
    assert again.read("f", 0, None, 0) is None
    assert data_files(tmp_path) == []


def test_reopen_skips_a_torn_journal_line(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 1000, PAGE)
    cache_file(store, "a", content(16))
    store.close()
    with open(tmp_path / "journal", "ab") as journal:
        journal.write(b'{"path":"b","size":1')  # a crash mid-append
    again = PageStore(tmp_path, 1000, PAGE)
    cache_file(again, "c", content(16))
    third = PageStore(tmp_path, 1000, PAGE)
    assert [f.path for f in third.list_files()] == ["a", "c"]


def test_removals_survive_a_reopen_and_the_journal_stays_small(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 4, PAGE)  # room for four 1-byte files
    for number in range(12_000):  # 24,000 journal records without compaction
        cache_file(store, f"f{number}", content(1), now=float(number))
    lines = (tmp_path / "journal").read_bytes().count(b"\n")
    assert lines <= 2 * 4 + 10_000
    again = PageStore(tmp_path, 4, PAGE)
    assert [f.path for f in again.list_files()] == [f"f{n}" for n in range(11_996, 12_000)]
    assert again.stats() == store.stats()


def test_held_gives_each_paths_version_and_bytes_as_file_info_does(tmp_path: Path) -> None:
    store = PageStore(tmp_path, capacity_bytes=1000, page_size=PAGE)
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


def test_put_pages_with_a_version_records_the_file_at_the_priority_given(tmp_path: Path) -> None:
    store = PageStore(tmp_path, capacity_bytes=1000, page_size=PAGE)
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


def test_list_held_is_list_files_in_brief(tmp_path: Path) -> None:
    store = PageStore(tmp_path, capacity_bytes=1000, page_size=PAGE)
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
