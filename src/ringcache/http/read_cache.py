"""Fast reads of state: GET answers served from memory, dropped when the state changes.

A GET of nodes, jobs, mounts or policies is otherwise an actor round trip or several (the
coordinator, the registry, each worker's stats). The registry holds all durable state and
tells a watcher about every write, by any client; so an answer may be kept until the
registry reports a write, and no longer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..cluster.refs import ActorRef
from ..cluster.registry import Compacted

log = logging.getLogger(__name__)

WATCH_TIMEOUT = 5.0  # seconds a watch waits for a write before it asks again
RETRY_SECONDS = 1.0
MAX_ENTRIES = 1024  # distinct GETs kept; queries come from callers, so the count is capped
# Not every answer is registry state: a worker's usage and a running job's counters change
# between writes, so an answer is also dropped after this many seconds.
MAX_AGE = 0.5


@dataclass
class _Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    at: float


class ReadCache:
    """ASGI middleware that serves repeated GETs from memory.

    Guarantees: an answer is served from memory only while the registry watch is running
    (started with the app's lifespan), only until the registry reports any write after it
    was computed, and for at most `max_age` seconds; a call of any other method through
    this app drops every answer before it runs and again once it answered, so the caller
    reads its own writes. Answers of 5xx are never kept.
    """

    def __init__(
        self,
        app: ASGIApp,
        registry: ActorRef | None,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.registry = registry
        self.max_age = max_age
        self.clock = clock
        self._answers: dict[bytes, _Answer] = {}
        self._generation = 0  # grows on every drop: an answer computed across one is not kept
        self._watching = False
        self._task: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            self.drop()
            try:
                await self.app(scope, receive, send)
            finally:
                self.drop()
            return
        if not self._watching:
            await self.app(scope, receive, send)
            return
        key = scope["method"].encode() + b" " + scope["path"].encode() + b"?"
        key += scope.get("query_string", b"")
        kept = self._answers.get(key)
        if kept is not None and self.clock() - kept.at <= self.max_age:
            await _replay(kept, send)
            return
        await self._compute(key, scope, receive, send)

    async def _compute(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        generation, started = self._generation, self.clock()
        answer = _Answer(0, [], b"", started)
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = message["status"]
                answer.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if answer.status < 500 and generation == self._generation:
            if len(self._answers) >= MAX_ENTRIES:
                self._answers.clear()
            answer.body = b"".join(parts)
            self._answers[key] = answer

    def drop(self) -> None:
        """Forget every answer (state changed, or may have)."""
        self._generation += 1
        self._answers.clear()

    # -- the watch -------------------------------------------------------------------------

    def _lifespan(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.registry is not None:
                self._task = asyncio.get_running_loop().create_task(self._watch())
            elif message["type"] == "lifespan.shutdown" and self._task is not None:
                self._watching = False
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            return message

        return watched

    async def _watch(self) -> None:
        """Drop the answers on every write to the registry; serve from memory only while
        watching (a failed watch serves every GET afresh until it runs again)."""
        assert self.registry is not None
        revision = 0
        while True:
            try:
                if not self._watching:
                    revision = await self.registry.call("revision") + 1
                    self.drop()
                    self._watching = True
                events, revision = await self.registry.call("watch", "/", revision, WATCH_TIMEOUT)
                if events:
                    self.drop()
            except asyncio.CancelledError:
                raise
            except Compacted:
                self._watching = False
            except Exception:  # a registry restart must not end the watch: retry shortly
                self._watching = False
                log.exception("the API's registry watch failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)


async def _replay(answer: _Answer, send: Send) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})
