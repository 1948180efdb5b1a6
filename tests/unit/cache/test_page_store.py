from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.cache.layout import PageLayout, file_key
from ringcache.cluster.cache.store import PageStore
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


def test_pages_of_one_file_are_evicted_one_by_one(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 3 * PAGE, PAGE)
    cache_file(store, "big", content(3 * PAGE))
    store.get_page("big", 0, 1.0)
    assert cache_file(store, "x", content(PAGE)) == [("big", 1)]
    info = store.file_info("big")
    assert (info.pages, info.complete) == (2, False)
    assert store.missing_pages("big") == [1]


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


def test_a_file_evicted_superseded_or_removed_leaves_no_data_file(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 4 * PAGE, PAGE)
    for name in "abcd":
        cache_file(store, name, content(PAGE))
    cache_file(store, "e", content(2 * PAGE))  # evicts a and b whole
    assert len(data_files(tmp_path)) == 3  # c, d and e
    store.set_file("c", version(PAGE, etag="new"), 1.0)
    store.remove_file("d")
    assert data_files(tmp_path) == [
        tmp_path / file_key("e", 2 * PAGE, 1.0, None)[:2] / file_key("e", 2 * PAGE, 1.0, None)
    ]
