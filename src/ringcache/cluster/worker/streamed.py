"""A miss from a remote UFS answered as its bytes arrive: the range read in chunks of pages
(the ranged UFS reads a miss makes anyway), each sent on while the next is read, each
chunk's pages stored after, as any miss's are."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ..errors import UfsError
from ..ufs.filesystem import FileVersion
from .miss_pages import FETCH_PAGES

log = logging.getLogger(__name__)

# Pages per chunk of a streamed range: one ranged UFS read of a miss, so streaming a range
# asks the UFS no more often than answering it whole would (a shorter range is not streamed).
STREAM_PAGES = FETCH_PAGES

# Reads `[offset, offset + length)`; answers its bytes and the version they are of, having
# queued the storing of its missed pages (so a chunk read to its end is always stored).
ChunkReader = Callable[[int, int], Awaitable[tuple[bytes, FileVersion | None]]]


@dataclass(frozen=True)
class StreamedRange:
    """A range of `length` bytes answered as it is read from the UFS: `first` is read
    already; `rest` yields the others in order and raises, short of `length`, if a chunk
    cannot be read or is of another version than `first`. Then the answer must be cut
    short (its receiver must never take it whole). Close `rest` (`aclose`) if it is not
    read to its end: the chunk read ahead is still waited for, and its pages stored."""

    length: int
    first: bytes
    rest: AsyncIterator[bytes]


def chunk_pages() -> int:
    """Pages per chunk of a streamed range."""
    return STREAM_PAGES


async def read_rest(
    read_chunk: ChunkReader, version: FileVersion, offset: int, end: int, step: int
) -> AsyncIterator[bytes]:
    """`[offset, end)` in chunks of `step` bytes (`offset` on a chunk boundary), each read
    while the one before it is sent; raises UfsError on a chunk of another version or
    short of its length (the file changed meanwhile)."""
    ahead: asyncio.Future[tuple[bytes, FileVersion | None]] | None = None
    try:
        position = offset
        ahead = asyncio.ensure_future(read_chunk(position, min(step, end - position)))
        while ahead is not None:
            data, seen = await ahead
            ahead = None
            wanted = min(step, end - position)
            if seen != version or len(data) != wanted:
                raise UfsError(f"the file changed while it was sent ({position}..{end})")
            position += wanted
            if position < end:
                ahead = asyncio.ensure_future(read_chunk(position, min(step, end - position)))
            yield data
    finally:
        if ahead is not None:  # closed early: the chunk in flight still stores its pages
            try:
                await asyncio.shield(ahead)
            except Exception:
                log.warning("a chunk read ahead of a streamed answer failed", exc_info=True)


async def relay(found: StreamedRange, send: Callable[[bytes], Awaitable[object]]) -> int:
    """Send `found.first`, then each chunk of `found.rest` as it arrives (a transport's
    `send`); the bytes sent, short of `found.length` if a chunk could not be read (logged):
    then the transport must cut its answer short. A connection error is raised."""
    await send(found.first)
    sent = len(found.first)
    async with contextlib.aclosing(found.rest) as rest:
        try:
            async for chunk in rest:
                await send(chunk)
                sent += len(chunk)
        except ConnectionError:
            raise
        except Exception:
            log.warning("a streamed answer was cut short", exc_info=True)
    return sent
