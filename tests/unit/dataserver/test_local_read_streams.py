"""A same-host miss of a remote UFS file is sent as it is read: whole, or cut short so the
client never takes part of it for the whole (it reads over HTTP instead)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from ringcache.client.local_reads import LocalReads
from ringcache.cluster.errors import UfsError
from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.cluster.worker.streamed import StreamedRange
from ringcache.dataserver import LocalReadServer

WORKER = "worker-streams"
URI = "s3://bucket/a.bin"


class StreamingReads:
    """What the server asks of `Reads`, every range answered as a streamed miss whose
    chunks fail from `fail_at` on (None: never)."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.streamed = 0

    async def locate(self, path: str, offset: int, length: int | None, **kwargs) -> StreamedRange:
        assert kwargs.get("stream") is True
        self.streamed += 1
        return StreamedRange(sum(map(len, self.chunks)), self.chunks[0], self._rest())

    async def _rest(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self.chunks[1:], start=1):
            await asyncio.sleep(0)
            if index == self.fail_at:
                raise UfsError("the object changed while it was sent")
            yield chunk

    async def reusable_span(self, path: str) -> None:
        return None

    def rules_in_force(self) -> tuple[object, ...]:
        return ()

    def when_stored(self, callback) -> None:
        pass  # nothing is ever stored here

    def watch_recorded(self, watcher) -> None:
        pass  # nor recorded


def serve_and_read(tmp_path: Path, reads: StreamingReads, port: int, times: int = 1) -> list:
    async def main() -> list:
        epoch = ChangeEpoch(tmp_path / "epoch")
        server = LocalReadServer(reads, None, epoch, WORKER, port=port)  # type: ignore[arg-type]
        await server.start()
        try:
            client = LocalReads()
            address = f"127.0.0.1:{port}"
            return [
                await asyncio.to_thread(client.read, WORKER, URI, 0, None, address)
                for _ in range(times)
            ]
        finally:
            await server.stop()

    return asyncio.run(main())


def test_a_streamed_miss_arrives_whole(tmp_path: Path) -> None:
    chunks = [os.urandom(300_000) for _ in range(4)]
    reads = StreamingReads(chunks)
    assert serve_and_read(tmp_path, reads, 41011) == [b"".join(chunks)]


def test_a_streamed_miss_cut_short_is_never_taken_for_the_whole(tmp_path: Path) -> None:
    chunks = [os.urandom(300_000) for _ in range(4)]
    reads = StreamingReads(chunks, fail_at=2)
    # None: the caller reads over HTTP; the socket is let go and a new one serves the next.
    assert serve_and_read(tmp_path, reads, 41012, times=2) == [None, None]
    assert reads.streamed == 2
