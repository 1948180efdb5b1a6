"""`SpanSender` on real connections over 127.0.0.1: spans of a data file go out after what
the transport had buffered, each checked before its last byte; a failed check or a
transport closed meanwhile ends the connection short, never with a wrong byte."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ringcache.cluster.cache.model import PageSpan
from ringcache.dataserver.span_sender import UNCORKED_FROM, SpanSender

DATA = os.urandom(UNCORKED_FROM + 300 * 1024)  # room for a span sent uncorked
AHEAD = b"A" * (4 << 20)  # more than a socket takes at once: the transport keeps the rest


def exchange(
    tmp_path: Path, answer: Callable[[asyncio.StreamWriter, str], Awaitable[None]]
) -> tuple[bytes, BaseException | None]:
    """What a client reads to the connection's end while the server runs `answer`, and
    what `answer` raised."""
    path = tmp_path / "data"
    path.write_bytes(DATA)
    raised: list[BaseException | None] = [None]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer(writer, str(path))
        except Exception as exc:  # the test looks at it
            raised[0] = exc
        finally:
            writer.close()

    async def main() -> bytes:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.1)  # the server's transport fills up meanwhile
        try:
            return await reader.read()
        finally:
            writer.close()
            server.close()

    return asyncio.run(main()), raised[0]


def test_spans_go_out_after_what_the_transport_buffered(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter, path: str) -> None:
        writer.write(AHEAD)
        assert writer.transport.get_write_buffer_size() > 0
        sender = SpanSender(writer)
        try:
            await sender.start()
            await sender.send_span(PageSpan(path, 10, 300 * 1024), lambda: True)
            await sender.send_span(PageSpan(path, 0, 0), lambda: True)
            await sender.send_span(PageSpan(path, 5, 1000), lambda: True)  # copied
            await sender.send_span(PageSpan(path, 7, UNCORKED_FROM), lambda: True)  # uncorked
            await sender.send_span(PageSpan(path, 3, 70 * 1024), lambda: True)
        finally:
            sender.close()

    received, raised = exchange(tmp_path, answer)
    assert raised is None
    expected = DATA[10 : 10 + 300 * 1024] + DATA[5:1005] + DATA[7 : 7 + UNCORKED_FROM]
    assert received == AHEAD + expected + DATA[3 : 3 + 70 * 1024]


@pytest.mark.parametrize("length", [1000, 300 * 1024, UNCORKED_FROM])
def test_a_span_failing_its_check_ends_the_answer_before_its_last_byte(
    tmp_path: Path, length: int
) -> None:
    async def answer(writer: asyncio.StreamWriter, path: str) -> None:
        sender = SpanSender(writer)
        try:
            await sender.start()
            await sender.send_span(PageSpan(path, 0, 2000), lambda: True)
            await sender.send_span(PageSpan(path, 2000, length), lambda: False)
        finally:
            sender.close()

    received, raised = exchange(tmp_path, answer)
    assert isinstance(raised, ConnectionResetError)
    assert received[:2000] == DATA[:2000]  # the span before came whole
    assert len(received) < 2000 + length  # never the last byte of the one dropped


def test_a_transport_closed_meanwhile_ends_the_sending(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter, path: str) -> None:
        sender = SpanSender(writer)
        try:
            await sender.start()
            asyncio.get_running_loop().call_later(0.02, writer.transport.abort)
            for _ in range(100):  # 60 MB: more than the client reads before the abort
                await sender.send_span(PageSpan(path, 0, len(DATA)), lambda: True)
        finally:
            sender.close()

    received, raised = exchange(tmp_path, answer)
    assert isinstance(raised, ConnectionResetError)
    assert len(received) < 100 * len(DATA)


def test_a_span_whose_data_file_is_gone_ends_the_answer(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter, path: str) -> None:
        sender = SpanSender(writer)
        try:
            await sender.start()
            await sender.send_span(PageSpan(path + ".gone", 0, 100), lambda: True)
        finally:
            sender.close()

    received, raised = exchange(tmp_path, answer)
    assert isinstance(raised, ConnectionResetError) and received == b""
