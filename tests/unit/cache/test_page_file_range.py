"""Pages copied from an open file by the kernel (`FileRange`) instead of through Python:
by splice through a pipe, else `copy_file_range`, else plain reads and writes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ringcache.cluster.cache import layout as page_layout
from ringcache.cluster.cache import page_io, pipes
from ringcache.cluster.cache.layout import FileRange
from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ufs.filesystem import FileVersion


def test_file_range_pages_hold_the_source_bytes(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    (tmp_path / "src").write_bytes(data)
    store = PageStore(tmp_path / "pages", 1 << 20, page_size=4096)
    version = FileVersion(len(data), 1.0, None)
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        for index in range(3):
            length = min(4096, len(data) - index * 4096)
            store.put_page(
                "file:///src", index, FileRange(fd, index * 4096, length), 0.0, version=version
            )
    finally:
        os.close(fd)
    assert store.read("file:///src", 0, None, 1.0) == data
    assert store.stats().used_bytes == len(data)


def test_short_source_fails_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"x" * 100)
    store = PageStore(tmp_path / "pages", 1 << 20, page_size=4096)
    version = FileVersion(4096, 1.0, None)  # the listing said 4096, the file has 100
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        with pytest.raises(OSError):
            store.put_page("file:///src", 0, FileRange(fd, 0, 4096), 0.0, version=version)
    finally:
        os.close(fd)
    assert store.stats().used_bytes == 0 and store.read("file:///src", 0, None, 1.0) is None


def test_falls_back_to_plain_io_without_copy_file_range(tmp_path: Path, monkeypatch) -> None:
    def unsupported(*args: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(page_layout.os, "copy_file_range", unsupported)
    data = os.urandom(3000)
    (tmp_path / "src").write_bytes(data)
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        page_layout.write_atomic(str(tmp_path / "page"), FileRange(fd, 1000, 2000))
    finally:
        os.close(fd)
    assert (tmp_path / "page").read_bytes() == data[1000:3000]


def test_local_path_of_file_uris_only(tmp_path: Path) -> None:
    from ringcache.cluster.ufs.factory import ufs_for

    local = ufs_for("file:///")
    assert local.local_path(f"file://{tmp_path}/a.bin") == f"{tmp_path}/a.bin"
    assert local.local_path(f"file://{tmp_path}/x/../a.bin") == f"{tmp_path}/a.bin"
    assert local.local_path(f"file://{tmp_path}//a.bin") == f"{tmp_path}/a.bin"
    assert ufs_for("memory:///").local_path("memory:///a.bin") is None


def _counting_copies(monkeypatch) -> list[int]:
    """The lengths of the kernel copies asked for (the real copy still runs)."""
    calls: list[int] = []
    real = page_io._copy_range

    def counted(source: FileRange, fd: int, at: int | None = None) -> None:
        calls.append(source.length)
        real(source, fd, at)

    monkeypatch.setattr(page_io, "_copy_range", counted)
    return calls


def _refused(*args: object, **kwargs: object) -> int:
    raise OSError(errno.EINVAL, "not here")


def _copy_into_file(tmp_path: Path, data: bytes, offset: int, length: int, at: int) -> bytes:
    """`data[offset:offset + length]` copied to `at` of a fresh file; its bytes after."""
    (tmp_path / "src").write_bytes(data)
    source = os.open(tmp_path / "src", os.O_RDONLY)
    target = os.open(tmp_path / "dst", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        page_io.write_at(target, at, FileRange(source, offset, length))
        return os.pread(target, at + length + 1, 0)
    finally:
        os.close(source)
        os.close(target)


def test_a_range_is_spliced_a_pipe_at_a_time(tmp_path: Path, monkeypatch) -> None:
    assert pipes.splice_works[0], "no splice on this system"
    asked: list[int] = []
    splice = os.splice

    def counted(source: int, target: int, count: int, **offsets: int) -> int:
        if "offset_src" in offsets:
            asked.append(count)
        return splice(source, target, count, **offsets)

    monkeypatch.setattr(page_io.os, "splice", counted)
    monkeypatch.setattr(page_io.os, "copy_file_range", _refused)  # must not be needed
    data = os.urandom(3 * pipes.PIPE_BYTES + 5000)
    length = len(data) - 1000
    copied = _copy_into_file(tmp_path, data, 1000, length, 7)
    assert copied == bytes(7) + data[1000:]
    assert asked[0] == pipes.PIPE_BYTES and max(asked) <= pipes.PIPE_BYTES
    assert len(asked) >= 4 and pipes.splice_works[0]


def _counting_copy_file_range(monkeypatch) -> list[int]:
    """The lengths asked of each `copy_file_range` call (the real one does the copy)."""
    calls: list[int] = []
    copy = os.copy_file_range

    def counted(source: int, target: int, count: int, *offsets: int) -> int:
        calls.append(count)
        return copy(source, target, count, *offsets)

    monkeypatch.setattr(page_io.os, "copy_file_range", counted)
    return calls


def _splice_refused_at(monkeypatch, side: str) -> None:
    """Splices from a file (`side` "offset_src") or into one ("offset_dst") refused."""
    splice = os.splice

    def refused(source: int, target: int, count: int, **offsets: int) -> int:
        if side in offsets:
            raise OSError(errno.EINVAL, f"no splice with {side} here")
        return splice(source, target, count, **offsets)

    monkeypatch.setattr(page_io.os, "splice", refused)


def test_a_small_range_is_one_copy_file_range(tmp_path: Path, monkeypatch) -> None:
    def spliced(*args: object, **kwargs: object) -> int:
        raise AssertionError("a small range was spliced")

    monkeypatch.setattr(page_io.os, "splice", spliced)
    calls = _counting_copy_file_range(monkeypatch)
    data = os.urandom(pipes.KERNEL_COPY_BYTES + 10)
    length = pipes.KERNEL_COPY_BYTES
    assert _copy_into_file(tmp_path, data, 10, length, 0) == data[10:]
    assert calls == [length]


def test_a_source_without_splice_is_copied_by_copy_file_range(tmp_path: Path, monkeypatch) -> None:
    _splice_refused_at(monkeypatch, "offset_src")  # from files: no splice_read here
    calls = _counting_copy_file_range(monkeypatch)
    data = os.urandom(100_000)
    assert _copy_into_file(tmp_path, data, 10, 90_000, 4096) == bytes(4096) + data[10:90_010]
    assert calls == [90_000]
    assert pipes.splice_works[0]  # the source refused, not the data file: still on


def test_a_data_file_without_splice_is_written_from_the_pipe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipes, "splice_works", [True])
    _splice_refused_at(monkeypatch, "offset_dst")  # into files: no splice_write here
    data = os.urandom(2 * pipes.PIPE_BYTES + 3)
    assert _copy_into_file(tmp_path, data, 0, len(data), 0) == data
    assert not pipes.splice_works[0]  # turned off: the next copies go straight on


def test_plain_io_where_the_kernel_copies_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(page_io.os, "splice", _refused)
    monkeypatch.setattr(page_io.os, "copy_file_range", _refused)
    data = os.urandom(50_000)
    assert _copy_into_file(tmp_path, data, 100, 40_000, 0) == data[100:40_100]


def test_a_run_of_pages_of_a_local_file_is_one_kernel_copy(tmp_path: Path, monkeypatch) -> None:
    data = os.urandom(5 * 4096 + 123)
    (tmp_path / "src").write_bytes(data)
    store = PageStore(tmp_path / "pages", 1 << 20, page_size=4096)
    version = FileVersion(len(data), 1.0, None)
    calls = _counting_copies(monkeypatch)
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        pages = [FileRange(fd, i * 4096, min(4096, len(data) - i * 4096)) for i in range(6)]
        store.put_pages("file:///src", 0, pages, 0.0, version=version)
    finally:
        os.close(fd)
    assert calls == [len(data)]  # six pages, one call
    assert store.read("file:///src", 0, None, 1.0) == data
    store.close()
    reopened = PageStore(tmp_path / "pages", 1 << 20, page_size=4096)
    assert reopened.read("file:///src", 0, None, 1.0) == data  # and recovered whole


@pytest.mark.parametrize("page", [4096, 64 * 1024, 3 * 64 * 1024 + 4096])
def test_no_kernel_copy_spans_two_pages_of_the_data_file(
    tmp_path: Path, monkeypatch, page: int
) -> None:
    """The page cache then never keeps two pages in one folio: punching a page out lets
    its folios go whole, and never zeroes bytes a `sendfile` still has queued."""
    writes: list[tuple[int, int]] = []  # (offset in the data file, length) of each copy
    splice, copy = os.splice, os.copy_file_range

    def spliced(source: int, target: int, count: int, **offsets: int) -> int:
        moved = splice(source, target, count, **offsets)
        if "offset_dst" in offsets:
            writes.append((offsets["offset_dst"], moved))
        return moved

    def copied(source: int, target: int, count: int, *offsets: int) -> int:
        moved = copy(source, target, count, *offsets)
        writes.append((offsets[1], moved))
        return moved

    monkeypatch.setattr(page_io.os, "splice", spliced)
    monkeypatch.setattr(page_io.os, "copy_file_range", copied)
    data = os.urandom(9 * page + 100)
    (tmp_path / "src").write_bytes(data)
    layout = page_layout.PageLayout(tmp_path / "pages")
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        pieces = [
            (at, FileRange(fd, at, min(page, len(data) - at))) for at in range(0, len(data), page)
        ]
        assert layout.write_pages("k" * 40, pieces) == (10, None)
    finally:
        os.close(fd)
    assert layout.read("k" * 40, 0, len(data)) == data
    assert sum(length for _, length in writes) == len(data)
    crossing = [(at, n) for at, n in writes if at // page != (at + n - 1) // page]
    assert not crossing, crossing


def test_a_run_cut_short_keeps_its_whole_pages_and_nothing_of_the_rest(tmp_path: Path) -> None:
    layout = page_layout.PageLayout(tmp_path / "pages")
    data = os.urandom(2 * 4096 + 10)  # two pages whole, the third cut short
    (tmp_path / "src").write_bytes(data)
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        pieces = [(i * 4096, FileRange(fd, i * 4096, 4096)) for i in range(4)]
        written, failure = layout.write_pages("k" * 40, pieces)
    finally:
        os.close(fd)
    assert written == 2 and failure is not None and failure.errno == errno.EIO
    assert layout.read("k" * 40, 0, 2 * 4096) == data[: 2 * 4096]
    assert layout.whole("k" * 40, {0: (0, 4096), 1: (4096, 4096), 2: (8192, 4096)}) == {0, 1}


def test_ranges_not_end_to_end_are_copied_apart(tmp_path: Path, monkeypatch) -> None:
    layout = page_layout.PageLayout(tmp_path / "pages")
    data = os.urandom(4 * 4096)
    (tmp_path / "src").write_bytes(data)
    calls = _counting_copies(monkeypatch)
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        pieces = [
            (0, FileRange(fd, 0, 4096)),
            (4096, FileRange(fd, 4096, 4096)),  # follows: merged with the first
            (3 * 4096, FileRange(fd, 3 * 4096, 4096)),  # a gap in the data file
            (4 * 4096, b"y" * 100),  # bytes, not a range
        ]
        assert layout.write_pages("k" * 40, pieces) == (4, None)
    finally:
        os.close(fd)
    assert calls == [2 * 4096, 4096]
    assert layout.read("k" * 40, 0, 2 * 4096) == data[: 2 * 4096]
    assert layout.read("k" * 40, 3 * 4096, 4096) == data[3 * 4096 :]
    assert layout.read("k" * 40, 4 * 4096, 100) == b"y" * 100
