"""PageStore.put_pages (a run of pages per call) and its journal: batched, ordered, durable."""

from __future__ import annotations

import errno
import os
import random
import threading
from pathlib import Path

import pytest

from ringcache.cluster.cache import layout as page_layout
from ringcache.cluster.cache.layout import file_key
from ringcache.cluster.cache.medium import OneThread, SizeMedium
from ringcache.cluster.cache.store import CapacityExceeded, PageStore
from ringcache.cluster.errors import InvalidArgument, NotFound
from ringcache.cluster.ufs.filesystem import FileVersion

PAGE = 16


def version(size: int, mtime: float = 1.0) -> FileVersion:
    return FileVersion(size, mtime, None)


def content(size: int, seed: int = 0) -> bytes:
    return bytes((seed + i) % 251 for i in range(size))


def pages_of(data: bytes) -> list[bytes]:
    return [data[start : start + PAGE] for start in range(0, len(data), PAGE)]


def journal_lines(root: Path) -> int:
    return (root / "journal").read_bytes().count(b"\n")


def test_a_run_of_pages_reads_back_whole(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    data = content(5 * PAGE + 3)
    assert store.put_pages("f", 0, pages_of(data), 1.0, version=version(len(data))) == []
    assert store.read("f", 0, None, 2.0) == data
    assert store.file_info("f").complete
    assert store.stats().used_bytes == len(data) and store.stats().pages == 6


def test_a_run_from_the_middle_and_pages_already_cached(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    data = content(6 * PAGE)
    store.set_file("f", version(len(data)), 0.0)
    store.put_pages("f", 2, pages_of(data)[2:4], 0.0)
    assert store.missing_pages("f") == [0, 1, 4, 5]
    store.put_pages("f", 0, pages_of(data), 0.0)  # pages 2 and 3 are kept, not rewritten
    assert store.read("f", 0, None, 1.0) == data
    assert store.stats().pages == 6


def test_a_run_larger_than_the_store_keeps_its_newest_pages(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 2 * PAGE, PAGE)
    data = content(4 * PAGE)
    evicted = store.put_pages("huge", 0, pages_of(data), 0.0, version=version(len(data)))
    assert evicted == [("huge", 0), ("huge", 1)]  # as page by page
    assert store.missing_pages("huge") == [0, 1]
    assert store.read("huge", 2 * PAGE, 2 * PAGE, 1.0) == data[2 * PAGE :]
    assert store.stats().used_bytes == 2 * PAGE


def test_a_run_evicts_other_files_least_recent_first(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 4 * PAGE, PAGE)
    for name in ("old", "new"):
        store.put_pages(name, 0, pages_of(content(2 * PAGE)), 0.0, version=version(2 * PAGE))
    evicted = store.put_pages("f", 0, pages_of(content(3 * PAGE)), 1.0, version=version(48))
    assert evicted == [("old", 0), ("old", 1), ("new", 0)]
    assert store.file_info("old") is None
    assert store.stats().used_bytes <= 4 * PAGE


def test_a_page_of_the_wrong_size_stores_nothing_of_the_run(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    pages = pages_of(content(3 * PAGE))
    pages[2] = pages[2][:-1]
    with pytest.raises(InvalidArgument):
        store.put_pages("f", 0, pages, 0.0, version=version(3 * PAGE))
    assert store.missing_pages("f") == [0, 1, 2]
    assert store.stats().used_bytes == 0


def test_a_page_larger_than_the_store_fails_after_the_pages_before_it(tmp_path: Path) -> None:
    store = PageStore(tmp_path, PAGE - 1, PAGE)
    with pytest.raises(CapacityExceeded):
        store.put_pages("f", 0, pages_of(content(2 * PAGE)), 0.0, version=version(2 * PAGE))
    assert store.stats().used_bytes == 0


def test_a_failed_write_keeps_the_pages_before_it_and_releases_the_rest(
    tmp_path: Path, monkeypatch
) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    real_write = page_layout.write_at

    def write_at(fd, offset, data):
        if offset == 2 * PAGE:
            real_write(fd, offset, data[:5])  # a part of it reached the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, offset, data)

    monkeypatch.setattr(page_layout, "write_at", write_at)
    with pytest.raises(CapacityExceeded):
        store.put_pages("f", 0, pages_of(content(4 * PAGE)), 0.0, version=version(4 * PAGE))
    assert store.missing_pages("f") == [2, 3]
    assert store.stats().used_bytes == 2 * PAGE and store.stats().pages == 2


class ShortSizeMedium(SizeMedium):
    """An instant medium whose writes of a run stop after `room` pages, the disk full."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write_run(self, entry, first, pages, nbytes):
        return min(len(pages), self.room), OSError(errno.ENOSPC, "No space left on device")


def test_a_write_that_stops_on_an_instant_medium_keeps_the_pages_before_it() -> None:
    store = PageStore(ShortSizeMedium(room=2), 100 * PAGE, PAGE, lock=OneThread())
    with pytest.raises(CapacityExceeded):
        store.put_pages("f", 0, pages_of(content(4 * PAGE + 3)), 0.0, version=version(67))
    assert store.missing_pages("f") == [2, 3, 4]
    assert store.stats().used_bytes == 2 * PAGE and store.stats().pages == 2
    with pytest.raises(CapacityExceeded):  # the last page is short: its bytes released too
        store.put_pages("f", 2, pages_of(content(4 * PAGE + 3))[2:], 0.0)
    assert store.missing_pages("f") == [4]
    assert store.stats().used_bytes == 4 * PAGE and store.stats().pages == 4


def test_a_journal_batch_writes_its_records_once_at_the_end(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    store.put_pages("first", 0, [content(PAGE)], 0.0, version=version(PAGE))
    before = journal_lines(tmp_path)
    with store.journal_batch():
        for name in ("a", "b", "c"):
            store.set_file(name, version(PAGE), 0.0)
            store.put_pages(name, 0, [content(PAGE)], 0.0)
        assert journal_lines(tmp_path) == before  # staged, not written yet
    assert journal_lines(tmp_path) == before + 3
    again = PageStore(tmp_path, 100 * PAGE, PAGE)
    assert [f.path for f in again.list_files()] == ["a", "b", "c", "first"]


def test_a_journal_batch_writes_its_records_also_when_the_block_raises(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    with pytest.raises(RuntimeError), store.journal_batch():
        store.put_pages("a", 0, [content(PAGE)], 0.0, version=version(PAGE))
        raise RuntimeError("the loader failed")
    again = PageStore(tmp_path, 100 * PAGE, PAGE)
    assert [f.path for f in again.list_files()] == ["a"]


def test_concurrent_changes_reopen_to_the_same_state(tmp_path: Path) -> None:
    """Journal records written after the lock is released keep the order of the changes."""
    store = PageStore(tmp_path, 40 * PAGE, PAGE)
    paths = [f"f{number}" for number in range(12)]

    def churn(seed: int) -> None:
        chooser = random.Random(seed)
        for step in range(300):
            path = chooser.choice(paths)
            action = chooser.random()
            if action < 0.5:
                size = chooser.choice([PAGE, 3 * PAGE, 2 * PAGE + 5])
                data = content(size, seed=len(path))
                mtime = float(chooser.randrange(3))
                store.put_pages(path, 0, pages_of(data), float(step), version=version(size, mtime))
            elif action < 0.7:
                store.remove_file(path)
            elif action < 0.85:
                try:
                    store.set_priority(path, chooser.choice(["LOW", "MEDIUM", "HIGH"]))
                except NotFound:
                    pass  # not cached (any more)
            else:
                with store.journal_batch():
                    store.set_file(path, version(PAGE, 9.0), float(step))

    failures: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            churn(seed)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    def state(of: PageStore) -> dict:
        return {
            f.path: (f.version, f.priority, f.pages)
            for f in of.list_files()
            if f.pages or not f.version.size
        }

    assert store.stats().used_bytes <= store.capacity_bytes
    again = PageStore(tmp_path, 40 * PAGE, PAGE)
    assert state(again) == state(store)
    for cached in again.list_files():
        data = content(cached.version.size, seed=len(cached.path))
        missing = again.missing_pages(cached.path)
        for index in range(-(-cached.version.size // PAGE)):
            if index not in missing:
                page = again.get_page(cached.path, index, 0.0)
                assert page == data[index * PAGE : (index + 1) * PAGE]


def test_records_written_together_keep_their_order(tmp_path: Path) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    with store.journal_batch():
        store.put_pages("a", 0, [content(PAGE)], 0.0, version=version(PAGE, mtime=1.0))
        store.remove_file("a")
        store.put_pages("a", 0, [content(PAGE, seed=7)], 0.0, version=version(PAGE, mtime=2.0))
        store.set_priority("a", "HIGH")
    again = PageStore(tmp_path, 100 * PAGE, PAGE)
    cached = again.file_info("a")
    assert (cached.version.mtime, cached.priority, cached.pages) == (2.0, "HIGH", 1)
    assert again.read("a", 0, None, 0.0) == content(PAGE, seed=7)


def test_an_evicted_page_is_punched_out_only_once_its_eviction_is_on_record(
    tmp_path: Path,
) -> None:
    block = 4096
    store = PageStore(tmp_path, 3 * block, block)
    big = content(2 * block, seed=5)
    store.put_pages("big", 0, [big[:block], big[block:]], 0.0, version=version(2 * block))
    store.put_pages("x", 0, [content(block)], 1.0, version=version(block))
    data = (
        tmp_path / file_key("big", 2 * block, 1.0, None)[:2] / file_key("big", 2 * block, 1.0, None)
    )

    def page_0_is_a_hole() -> bool:
        with open(data, "rb") as handle:
            return os.lseek(handle.fileno(), 0, os.SEEK_HOLE) == 0

    with store.journal_batch():
        evicted = store.put_pages("y", 0, [content(block)], 2.0, version=version(block))
        assert evicted == [("big", 0)]
        assert store.missing_pages("big") == [0]
        # A crash now: the journal still lists the page, so its bytes must still be there.
        assert not page_0_is_a_hole()
        crashed = PageStore(tmp_path, 3 * block, block)
        assert crashed.read("big", 0, None, 3.0) == big
    assert page_0_is_a_hole()


def test_pages_written_for_a_file_removed_meanwhile_are_not_kept(
    tmp_path: Path, monkeypatch
) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    real_write = page_layout.write_at

    def write_at(fd, offset, data):
        real_write(fd, offset, data)
        if offset == PAGE:
            store.remove_file("f")  # another thread frees the file mid-load

    monkeypatch.setattr(page_layout, "write_at", write_at)
    store.put_pages("f", 0, pages_of(content(3 * PAGE)), 0.0, version=version(3 * PAGE))
    assert store.file_info("f") is None
    assert store.stats().used_bytes == 0
    key = file_key("f", 3 * PAGE, 1.0, None)
    assert not (tmp_path / key[:2] / key).exists()
    assert PageStore(tmp_path, 100 * PAGE, PAGE).file_info("f") is None


def test_a_crash_after_a_batch_wrote_its_pages_and_before_its_records_loses_only_the_batch(
    tmp_path: Path,
) -> None:
    store = PageStore(tmp_path, 100 * PAGE, PAGE)
    store.put_pages("kept", 0, [content(PAGE)], 0.0, version=version(PAGE))
    batch = [f"small{number}" for number in range(20)]
    with store.journal_batch():
        for name in batch:
            store.put_pages(name, 0, [content(PAGE, seed=3)], 0.0, version=version(PAGE))
        lines = journal_lines(tmp_path)
        data_files = {
            name: tmp_path / file_key(name, PAGE, 1.0, None)[:2] / file_key(name, PAGE, 1.0, None)
            for name in batch
        }
        assert all(path.exists() for path in data_files.values())  # the pages are written
        # A crash now: the batch's records are staged, none is in the journal.
        crashed = PageStore(tmp_path, 100 * PAGE, PAGE)
        assert [f.path for f in crashed.list_files()] == ["kept"]
        assert crashed.stats().used_bytes == PAGE
        assert crashed.read("kept", 0, None, 0.0) == content(PAGE)
        assert not any(path.exists() for path in data_files.values())  # their space freed
        assert journal_lines(tmp_path) == lines == 1
