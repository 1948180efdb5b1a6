"""A miss from a remote UFS, streamed: answered once its first chunk of pages is read, the
rest as it arrives, every chunk's pages stored after; a file changed between chunks cuts
the stream short instead of mixing versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.cluster.errors import UfsError
from ringcache.cluster.ufs.filesystem import UnderFileSystem
from ringcache.cluster.worker import streamed
from ringcache.cluster.worker.streamed import StreamedRange

from .fakes import PAGE, Parts


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two pages, and a UFS with no local path (as S3 is)."""
    monkeypatch.setattr(streamed, "STREAM_PAGES", 2)
    monkeypatch.setattr(UnderFileSystem, "open_local", lambda self, uri: None)


def test_a_remote_miss_is_streamed_in_chunks_and_stored_whole(tmp_path: Path, run, remote) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(7 * PAGE + 5)
    uri = parts.write("a.bin", data)
    parts.write("b.bin", data)

    async def scenario() -> tuple[bytes, list[int], bytes | object]:
        await parts.mounts.refresh()
        found = await parts.reads.locate("/data/a.bin", 10, None, stream=True)
        assert isinstance(found, StreamedRange) and found.length == len(data) - 10
        assert found.first == data[10 : 2 * PAGE]  # to the end of the first chunk
        rest = [chunk async for chunk in found.rest]
        await parts.reads.settled()
        short = await parts.reads.locate("/data/b.bin", 1, 2 * PAGE - 1, stream=True)
        return found.first + b"".join(rest), [len(chunk) for chunk in rest], short

    body, sizes, short = run(scenario())
    assert body == data[10:] and sizes == [2 * PAGE, 2 * PAGE, PAGE + 5]
    assert short == data[1 : 2 * PAGE]  # one chunk or less: plain bytes
    info = parts.store.file_info(uri)
    assert info is not None and info.complete and info.cached_bytes == len(data)
    assert parts.counters["misses"] == 8 + 2
    assert parts.counters["bytesServed"] == len(data) - 10 + 2 * PAGE - 1


def test_a_file_changed_between_chunks_cuts_the_stream_short(tmp_path: Path, run, remote) -> None:
    parts = Parts(tmp_path)
    old, new = os.urandom(6 * PAGE), os.urandom(6 * PAGE + 1)
    uri = parts.write("a.bin", old)

    async def scenario() -> list[bytes]:
        await parts.mounts.refresh()
        found = await parts.reads.locate("/data/a.bin", stream=True)
        assert isinstance(found, StreamedRange) and found.first == old[: 2 * PAGE]
        await parts.reads.settled()
        parts.store.remove_file(uri)  # freed, and the file replaced, mid-answer
        (parts.ufs_root / "a.bin").write_bytes(new)
        got: list[bytes] = []
        with pytest.raises(UfsError, match="changed while it was sent"):
            async for chunk in found.rest:
                got.append(chunk)
        return got

    assert run(scenario()) == []
