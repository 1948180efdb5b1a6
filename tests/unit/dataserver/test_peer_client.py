"""`HttpPeerPages` against servers on 127.0.0.1 that keep, close, or cut connections:
connections are kept and reused, a kept one the server closed is replaced silently, an
answer cut short is PEER_SHORT_READ and never taken as bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import pytest

from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker.peers import (
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    PeerAddresses,
    PeerFetchFailed,
)
from ringcache.dataserver import HttpPeerPages

from .test_peer_pages_contract import Records

PEER = "worker-peer"
VERSION = FileVersion(1000, 1.5, None)
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def answer_whole(reader, writer, _: int) -> bool:
    """Answers a range call with its 1000 bytes of "x"; a files call with every file held,
    each 1000 bytes of its name's last two digits; keeps the connection."""
    target = (await reader.readuntil(b"\r\n\r\n")).split(b" ")[1].decode()
    path, _, query = target.partition("?")
    asked = {name: values[0] for name, values in parse_qs(query).items()}
    if path == "/v1/peer/files":
        files = json.loads(asked["files"])
        assert all(f[1:] == [1000, 1.5, None] for f in files)
        body = bytes([1] * len(files)) + b"".join(bytes([int(f[0][-2:])]) * 1000 for f in files)
    else:
        assert path.startswith("/v1/peer/range/")
        assert (asked["size"], asked["mtime"], asked["length"]) == ("1000", "1.5", "1000")
        body = b"x" * 1000
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    return True


def serving(behaviour: Behaviour, test: Callable[[HttpPeerPages, list[int]], Awaitable[None]]):
    """Run `test(pages, connections)` against a server acting out `behaviour` on each
    request (`connections` counts those accepted)."""

    async def main() -> None:
        accepted: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(1)
            number = 0
            try:
                while await behaviour(reader, writer, number):
                    number += 1
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pages = HttpPeerPages(PeerAddresses(Records({PEER: f"127.0.0.1:{port}"})))
        try:
            await test(pages, accepted)
        finally:
            pages.close()
            server.close()

    asyncio.run(main())


def test_connections_are_kept_and_reused() -> None:
    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        for _ in range(5):
            assert await pages.fetch(PEER, "file:///a", VERSION, 0, 1000) == b"x" * 1000
        assert len(accepted) == 1
        # Paths long enough for several files calls, pipelined on the same connection.
        files = [(f"file:///{'d' * 1000}/{i:02d}", VERSION) for i in range(40)]
        answers = await pages.fetch_whole(PEER, files)
        assert [bytes(a) for a in answers] == [bytes([i]) * 1000 for i in range(40)]
        assert len(accepted) == 1

    serving(answer_whole, test)


def test_a_kept_connection_the_server_closed_is_replaced_silently() -> None:
    async def once(reader, writer, number: int) -> bool:
        await answer_whole(reader, writer, number)
        return False  # then closes: as an idle timeout does

    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        for _ in range(3):
            assert await pages.fetch(PEER, "file:///a", VERSION, 0, 1000) == b"x" * 1000
            await asyncio.sleep(0.05)  # the close has reached the client's socket
        assert len(accepted) == 3

    serving(once, test)


def test_an_answer_cut_short_is_a_short_read() -> None:
    async def cut(reader, writer, _: int) -> bool:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 300)
        await writer.drain()
        return False

    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        with pytest.raises(PeerFetchFailed) as short:
            await pages.fetch(PEER, "file:///a", VERSION, 0, 1000)
        assert short.value.reason == PEER_SHORT_READ
        assert len(accepted) == 1  # a fresh connection cut: not tried again

    serving(cut, test)


def test_a_wrong_length_or_a_server_error_is_never_taken_as_bytes() -> None:
    answered: list[int] = []

    async def odd(reader, writer, _: int) -> bool:
        await reader.readuntil(b"\r\n\r\n")
        answered.append(1)
        if len(answered) == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"y" * 10)
        else:
            body = b'{"status":"boom"}'
            writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 17\r\n\r\n" + body)
        await writer.drain()
        return True

    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        with pytest.raises(PeerFetchFailed) as wrong:
            await pages.fetch(PEER, "file:///a", VERSION, 0, 1000)
        assert wrong.value.reason == PEER_SHORT_READ
        with pytest.raises(PeerFetchFailed) as error:
            await pages.fetch(PEER, "file:///a", VERSION, 0, 1000)
        assert error.value.reason == PEER_UNAVAILABLE and "boom" in error.value.message

    serving(odd, test)


def test_waiting_on_peers_never_takes_the_threads_a_server_in_the_process_needs() -> None:
    """The server answers only after work on the loop's default executor (as a worker's
    data server reads its pages); with that executor two threads wide and four exchanges
    in flight, a client waiting in those threads would starve the server until it timed
    out."""

    async def after_disk_work(reader, writer, number: int) -> bool:
        await asyncio.to_thread(lambda: None)  # the server's own I/O, on the default pool
        return await answer_whole(reader, writer, number)

    async def test(pages: HttpPeerPages, _: list[int]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        pages.timeout = 5.0
        asked = [pages.fetch(PEER, f"/f{i}", VERSION, 0, 1000) for i in range(8)]
        answers = await asyncio.wait_for(asyncio.gather(*asked), 20)
        assert [bytes(a) for a in answers] == [b"x" * 1000] * 8

    serving(after_disk_work, test)
