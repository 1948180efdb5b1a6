"""Pages copied from an open file by the kernel (`FileRange`) instead of through Python."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ringcache.cluster.cache import layout as page_layout
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
    from ringcache.cluster.ufs.filesystem import ufs_for

    local = ufs_for("file:///")
    assert local.local_path(f"file://{tmp_path}/a.bin") == f"{tmp_path}/a.bin"
    assert local.local_path(f"file://{tmp_path}/x/../a.bin") == f"{tmp_path}/a.bin"
    assert local.local_path(f"file://{tmp_path}//a.bin") == f"{tmp_path}/a.bin"
    assert ufs_for("memory:///").local_path("memory:///a.bin") is None
