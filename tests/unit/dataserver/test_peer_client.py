"""`HttpPeerPages` against servers on 127.0.0.1 that keep, close, or cut connections:
connections are kept and reused, a kept one the server closed is replaced silently, an
answer cut short is PEER_SHORT_READ and never taken as bytes."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker.peers import (
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    Arriving,
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


class Sunk:
    """A sink into a real page store: each file arriving stored as the worker's is (its
    pages listed only once all its bytes came); `raising` makes it fail instead."""

    def __init__(self, root: Path, files: list[tuple[str, FileVersion]]) -> None:
        self.store = PageStore(root / "pages", 1 << 30, page_size=256)
        self.files = files
        self.raising: BaseException | None = None

    def __call__(self, i: int, arriving: Arriving) -> None:
        if self.raising is not None:
            raise self.raising
        path, version = self.files[i]
        pages = arriving.pages(256)
        self.store.put_pages(path, 0, pages, 0.0, version=version, unchanged=arriving.arrived)

    def held(self) -> dict[str, bytes | None]:
        return {p: self.store.read(p, 0, None, 0.0) for p, _ in self.files}


FILES = [(f"file:///d/{i:02d}", VERSION) for i in range(3)]


def files_answer(sent: int | None = None, length: int | None = None, close: bool = False):
    """A files call answered with every file held (each 1000 bytes of its last digits),
    announcing `length` bytes in the first answer (the body's own by default, and in
    every later one), sending `sent` of them (all by default), then closing the
    connection if `close`."""
    answers: list[int] = []

    async def behaviour(reader, writer, _: int) -> bool:
        await reader.readuntil(b"\r\n\r\n")
        body = bytes([1] * 3) + b"".join(bytes([i]) * 1000 for i in range(3))
        announced = len(body) if length is None or answers else length
        answers.append(1)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % announced
        writer.write(head + body[:sent])
        await writer.drain()
        return not close

    return behaviour


def test_files_arrive_straight_into_the_store_on_a_kept_connection(tmp_path: Path) -> None:
    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        for _ in range(2):
            sink = Sunk(tmp_path, FILES)
            assert await pages.receive_whole(PEER, FILES, sink) is True
            assert sink.held() == {p: bytes([i]) * 1000 for i, (p, _) in enumerate(FILES)}
            sink.store.close()
            shutil.rmtree(tmp_path / "pages")
        assert len(accepted) == 1

    serving(files_answer(), test)


@pytest.mark.parametrize("sent", [3, 500, 1003, 1500])
def test_a_files_answer_cut_short_keeps_only_the_files_that_came_whole(
    tmp_path: Path, sent: int
) -> None:
    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        sink = Sunk(tmp_path, FILES)
        with pytest.raises(PeerFetchFailed) as short:
            await pages.receive_whole(PEER, FILES, sink)
        assert short.value.reason == PEER_SHORT_READ
        came = {FILES[0][0]: b"\0" * 1000} if sent >= 1003 else {}
        assert {p: d for p, d in sink.held().items() if d is not None} == came
        assert sink.store.stats().used_bytes == len(came) * 1000

    serving(files_answer(sent=sent, close=True), test)


@pytest.mark.parametrize("length", [3 + 2500, 3 + 3500])
def test_a_files_answer_announcing_other_than_its_files_is_refused_whole(
    tmp_path: Path, length: int
) -> None:
    """Fewer bytes announced than the files held need (or more): nothing is taken, and
    the connection, whose next answer cannot be found, is not kept."""

    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        sink = Sunk(tmp_path, FILES)
        with pytest.raises(PeerFetchFailed) as wrong:
            await pages.receive_whole(PEER, FILES, sink)
        assert wrong.value.reason == PEER_SHORT_READ
        assert sink.held() == {p: None for p, _ in FILES}
        await pages.receive_whole(PEER, FILES, Sunk(tmp_path / "again", FILES))
        assert len(accepted) == 2

    serving(files_answer(length=length), test)


def test_what_the_sink_raises_ends_the_call_and_its_connection(tmp_path: Path) -> None:
    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        sink = Sunk(tmp_path, FILES)
        sink.raising = OSError(errno.ENOSPC, "disk full")
        with pytest.raises(OSError) as raised:
            await pages.receive_whole(PEER, FILES, sink)
        assert raised.value is sink.raising  # the sink's own, not taken for a peer's cut
        sink.raising = None
        await pages.receive_whole(PEER, FILES, sink)
        assert sink.held() == {p: bytes([i]) * 1000 for i, (p, _) in enumerate(FILES)}
        assert len(accepted) == 2  # the first connection was mid-answer: not kept

    serving(files_answer(), test)


@pytest.mark.parametrize("status", [404, 500])
def test_a_files_call_answered_other_than_200_is_unavailable_and_nothing_is_sunk(
    tmp_path: Path, status: int
) -> None:
    async def refuse(reader, writer, _: int) -> bool:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"status":"no","reason":"PEER_NOT_HELD"}' + b" " * 3000  # as long as files
        head = b"HTTP/1.1 %d No\r\nContent-Length: %d\r\n\r\n" % (status, len(body))
        writer.write(head + body)
        await writer.drain()
        return True

    async def test(pages: HttpPeerPages, accepted: list[int]) -> None:
        sink = Sunk(tmp_path, FILES)
        with pytest.raises(PeerFetchFailed) as refused:
            await pages.receive_whole(PEER, FILES, sink)
        assert refused.value.reason == PEER_UNAVAILABLE
        assert sink.held() == {p: None for p, _ in FILES}

    serving(refuse, test)
