"""The reference seam: cluster logic reaches another actor only through `ActorRef.call`.

The in-process runtime uses `LocalRef` (an object living on its own event loop), the Ray
runtime wraps actor handles, the simulator adds modelled latency. The logic never knows which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class ActorRef(Protocol):
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run `method` on the actor and return its result (or raise its error)."""


class Peers(Protocol):
    def worker(self, worker_id: str) -> ActorRef:
        """A reference to the worker with this id (it may be gone by the time it is called)."""


class WritesNoticed:
    """A registry reference that calls `on_write` after each call that may change a key
    under one of `prefixes` (put, put_many, delete, delete_prefix), once the call has
    returned or failed. Writes elsewhere (job checkpoints, say) go by unnoticed."""

    WRITES = frozenset({"put", "put_many", "delete", "delete_prefix"})

    def __init__(
        self, ref: ActorRef, on_write: Callable[[], None], prefixes: tuple[str, ...]
    ) -> None:
        self.ref = ref
        self.on_write = on_write
        self.prefixes = prefixes

    def __repr__(self) -> str:
        return f"WritesNoticed({self.ref!r})"

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self.ref.call(method, *args, **kwargs)
        finally:
            if method in self.WRITES and self._touches(method, args, kwargs):
                self.on_write()

    def _touches(self, method: str, args: tuple, kwargs: dict[str, Any]) -> bool:
        """Whether the call may have written under our prefixes; yes when unsure (a
        malformed call, which the registry refused anyway)."""
        try:
            if method == "put_many":
                items = args[0] if args else kwargs["items"]
                if not isinstance(items, list | tuple):  # an iterator the call used up
                    return True
                keys = [key for key, _ in items]
            else:
                keys = [args[0] if args else kwargs.get("key", kwargs.get("prefix"))]
        except (KeyError, TypeError, ValueError):
            return True
        if not all(isinstance(key, str) for key in keys):
            return True
        if method == "delete_prefix":  # a wider prefix covers ours too
            return any(p.startswith(keys[0]) or keys[0].startswith(p) for p in self.prefixes)
        return any(key.startswith(self.prefixes) for key in keys)


class LocalRef:
    """An object served by one event loop, callable from any loop or thread, like an actor.

    Calls from other loops are handed to the owner loop, so the object sees one caller
    at a time per await point, as a Ray async actor would.
    """

    def __init__(self, target: object, loop: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self.loop = loop

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        coroutine = getattr(self.target, method)(*args, **kwargs)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return await coroutine
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wrap_future(future)

    def __repr__(self) -> str:
        return f"LocalRef({type(self.target).__name__})"


class LocalPeers:
    """Worker references held in a dict, for runtimes where every actor is in one process."""

    def __init__(self) -> None:
        self.refs: dict[str, ActorRef] = {}

    def worker(self, worker_id: str) -> ActorRef:
        try:
            return self.refs[worker_id]
        except KeyError:
            from .errors import Unavailable

            raise Unavailable(f"worker {worker_id} is not reachable") from None
