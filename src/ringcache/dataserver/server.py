"""The worker's data server: HTTP/1.1 on its own port, cached pages sent by the kernel."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Awaitable, Callable, Sequence

from ..cluster.cache.model import PageSpan
from ..cluster.worker.reads import UfsSpan
from ..cluster.worker.streamed import StreamedRange, relay
from .alluxio import Answer, PageSpans, status_answer
from .http11 import MAX_HEAD, BadRequest, Request, bearer_matches, read_request, response_head
from .span_sender import COPY_BELOW, SpanSender

DEFAULT_PORT = 28080  # Alluxio's worker HTTP port
PORT_TRIES = 100  # workers sharing a host take the next free ports
MAX_IN_FLIGHT = 64  # requests answered at once; more wait, so memory and threads stay bounded
IDLE_TIMEOUT = 120.0  # seconds a kept-alive connection may wait for its next request

Handler = Callable[[Request], Awaitable[Answer]]
UNAUTHORIZED = status_answer(401, "this data server needs Authorization: Bearer <cluster token>")


def bind_socket(host: str, port: int, tries: int = PORT_TRIES) -> socket.socket:
    """A listening TCP socket on `port`, else the next free one (`port` 0: any free one)."""
    for candidate in [port] if port == 0 else range(port, min(port + tries, 65536)):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, candidate))
            sock.listen(1024)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no free port in {port}..{port + tries - 1} on {host}")


class DataServer:
    """Serves one handler (a worker's `AlluxioWorkerApi`) over HTTP/1.1 on a bound socket.

    Guarantees: with a `token`, a request without `Authorization: Bearer <token>` is
    answered 401 with a JSON status, and nothing else; connections are kept alive between
    requests (closed after `idle_timeout` seconds without one); at most `max_in_flight`
    requests are answered at once; a cached range goes from the cache file to the socket
    by `os.sendfile` (never through Python); a range streamed from the UFS is sent as it
    arrives, and cut short (the connection reset) if the rest cannot be read, so a client
    never takes part of it for the whole; a malformed request is answered 4xx and closes
    only its own connection; `stop` closes the listener and every open connection.
    """

    def __init__(
        self,
        handler: Handler,
        sock: socket.socket,
        max_in_flight: int = MAX_IN_FLIGHT,
        idle_timeout: float = IDLE_TIMEOUT,
        token: str | None = None,
    ) -> None:
        self.handler = handler
        self.token = token
        self.idle_timeout = idle_timeout
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._slots = asyncio.Semaphore(max_in_flight)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task] = {}

    @property
    def address(self) -> str:
        """`host:port` as clients reach it."""
        return f"{self.host}:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, sock=self.sock, limit=MAX_HEAD)
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        # Each connection sees its end and returns: a task cancelled instead would be
        # reported as an error by asyncio's stream callback (Python 3.11).
        if self._connections:
            await asyncio.wait(list(self._connections.values()), timeout=5)

    def abort(self) -> None:
        """Stop as a crash would: no new connection, every open one reset, mid-answer or not."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections[writer] = asyncio.current_task()  # type: ignore[assignment]
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        request = await read_request(reader)
                except TimeoutError:
                    break  # an idle kept-alive connection: its resources go back
                except BadRequest as exc:
                    await self._send(writer, status_answer(exc.status, exc.message), False)
                    break
                if request is None:
                    break
                if self.token is not None and not bearer_matches(request.authorization, self.token):
                    await self._send(writer, UNAUTHORIZED, request.keep_alive)
                    continue
                async with self._slots:
                    await self._answer(writer, request)
                if not request.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        finally:
            self._connections.pop(writer, None)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, request: Request) -> None:
        answer = await self.handler(request)
        body = answer.body
        if isinstance(body, StreamedRange):
            await self._stream(writer, answer.status, answer.content_type, body, request)
            return
        if isinstance(body, PageSpan) and body.length:
            try:
                handle = open(body.path, "rb", buffering=0)  # noqa: SIM115 - closed below
            except FileNotFoundError:
                # Dropped since it was located: asked again, it is read or located afresh.
                answer = await self.handler(request)
                if isinstance(answer.body, PageSpan):
                    answer = status_answer(503, "the cached copy was dropped while read")
                await self._send(writer, answer, request.keep_alive)
                return
            with handle:  # open, the data file outlives an unlink until the send is done
                await self._send_opened(writer, answer, request, body, handle.fileno())
            return
        if isinstance(body, UfsSpan):  # the UFS file itself, as it was opened and checked
            with body.file:
                await self._send_opened(writer, answer, request, body, body.file.fd)
            return
        if isinstance(body, PageSpans):
            head = response_head(
                answer.status, body.length, answer.content_type, request.keep_alive
            )
            writer.write(head + body.head)
            await self._send_spans(writer, body.spans, answer.valid)
            return
        await self._send(writer, answer, request.keep_alive)

    async def _send_opened(
        self,
        writer: asyncio.StreamWriter,
        answer: Answer,
        request: Request,
        span: PageSpan | UfsSpan,
        opened: int,
    ) -> None:
        """One span's bytes, from its file open as `opened`: copied if small, else sent by
        the kernel, checked by `answer.valid` before they count as sent."""
        if span.length <= COPY_BELOW:
            data = os.pread(opened, span.length, span.offset)
            if len(data) == span.length and answer.valid():
                await self._send(writer, Answer(answer.status, data), request.keep_alive)
                return
            raise ConnectionResetError("a page was dropped while read: the client retries")
        head = response_head(answer.status, span.length, answer.content_type, True)
        writer.write(head if request.keep_alive else head.replace(b"keep-alive", b"close"))
        await self._send_spans(writer, [span], answer.valid, opened)

    async def _send_spans(
        self,
        writer: asyncio.StreamWriter,
        spans: Sequence[PageSpan | UfsSpan],
        valid: Callable[[], bool],
        opened: int | None = None,
    ) -> None:
        """Each span's bytes (from `opened` if given, for one span), each checked before
        its last byte: a span dropped while sent, or before, cuts the answer there (the
        connection reset), so a client keeps the spans that came whole and never takes
        one that did not."""
        sender = SpanSender(writer)
        try:
            await sender.start()
            for span in spans:
                await sender.send_span(span, valid, opened)
        finally:
            sender.close()

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str,
        body: StreamedRange,
        request: Request,
    ) -> None:
        """Send a streamed range chunk by chunk; reset the connection if it ends short."""
        head = response_head(status, body.length, content_type, request.keep_alive)
        writer.write(head)

        async def send(chunk: bytes) -> None:
            await writer.drain()  # the chunk before is on its way: the next is read
            writer.write(chunk)

        sent = await relay(body, send)
        if sent != body.length:
            writer.transport.abort()
            raise ConnectionResetError("a streamed answer ended short: the client retries")
        await writer.drain()

    async def _send(self, writer: asyncio.StreamWriter, answer: Answer, keep_alive: bool) -> None:
        body = b"" if not isinstance(answer.body, bytes) else answer.body  # an empty span
        writer.write(response_head(answer.status, len(body), answer.content_type, keep_alive))
        writer.write(body)
        await writer.drain()
