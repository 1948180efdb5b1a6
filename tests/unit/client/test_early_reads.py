"""A local-disk miss read early: kept only for the same file and range the owner handed over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.client import early_reads
from ringcache.client.early_reads import EarlyRead, EarlyReads, local_path


def uri_of(path: Path) -> str:
    return f"file://{path}"


def handed(path: Path) -> int:
    return os.open(path, os.O_RDONLY)


def test_the_range_read_early_is_taken_for_the_same_file_and_range(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    (tmp_path / "a.bin").write_bytes(data)
    early = EarlyRead.start(uri_of(tmp_path / "a.bin"), 100, 5000)
    assert early is not None and early.data == data[100:5100]
    fd = handed(tmp_path / "a.bin")
    try:
        assert early.take(fd, 100, 5000) == data[100:5100]
        assert early.take(fd, 100, 4000) == data[100:4100]  # the owner saw a shorter file
        assert early.take(fd, 100, 5001) is None  # more than was read early
        assert early.take(fd, 99, 10) is None  # another range
    finally:
        os.close(fd)


def test_bytes_of_another_file_are_never_taken(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "b.bin").write_bytes(b"b" * 100)
    early = EarlyRead.start(uri_of(tmp_path / "a.bin"), 0, None)
    assert early is not None and early.data == b"a" * 100
    fd = handed(tmp_path / "b.bin")  # what the owner handed over is another inode
    try:
        assert early.take(fd, 0, 100) is None
    finally:
        os.close(fd)
    # The name now holds another file (replaced since the early read): not taken either.
    os.replace(tmp_path / "b.bin", tmp_path / "a.bin")
    fd = handed(tmp_path / "a.bin")
    try:
        assert early.take(fd, 0, 100) is None
    finally:
        os.close(fd)


def test_a_whole_file_read_early_is_clamped_to_its_end(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"0123456789")
    assert EarlyRead.start(uri_of(tmp_path / "a.bin"), 4, None).data == b"456789"
    assert EarlyRead.start(uri_of(tmp_path / "a.bin"), 4, 100).data == b"456789"
    assert EarlyRead.start(uri_of(tmp_path / "a.bin"), 50, 3).data == b""


def test_nothing_is_read_early_but_a_regular_local_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")  # its open would wait for a writer, were it not refused
    (tmp_path / "big.bin").write_bytes(b"x" * 100)
    monkeypatch.setattr(early_reads, "EARLY_MOST", 50)
    for uri in [
        uri_of(tmp_path / "dir"),
        uri_of(tmp_path / "fifo"),
        uri_of(tmp_path / "missing.bin"),
        uri_of(tmp_path / "big.bin"),  # more than EARLY_MOST
        "s3://bucket/a.bin",
        f"file://{tmp_path}/../{tmp_path.name}/big.bin",  # not canonical: left to the owner
        f"file://{tmp_path}/a\0b",
    ]:
        assert EarlyRead.start(uri, 0, None) is None, uri
    assert EarlyRead.start(uri_of(tmp_path / "big.bin"), 60, 10) is not None  # 40 bytes


def test_local_path_only_of_canonical_file_uris() -> None:
    assert local_path("file:///data/a.bin") == "/data/a.bin"
    assert local_path("file:///data/./a.bin") is None
    assert local_path("file:///data//a.bin") is None
    assert local_path("s3://b/a.bin") is None


@pytest.mark.parametrize("answers", [[True], [False], [True, False], [False, True]])
def test_an_early_read_begins_only_after_a_miss_of_a_local_file(
    tmp_path: Path, answers: list[bool]
) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc")
    reads = EarlyReads()
    assert reads.begin("w1", uri_of(tmp_path / "a.bin"), 0, None) is None  # nothing known
    for ufs_miss in answers:
        reads.answered("w1", ufs_miss)
    began = reads.begin("w1", uri_of(tmp_path / "a.bin"), 0, None)
    assert (began is not None) == answers[-1]
    if began is not None:
        assert began.data == b"abc"
    assert reads.begin("w2", uri_of(tmp_path / "a.bin"), 0, None) is None  # per worker
