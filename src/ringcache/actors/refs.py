"""The one seam through which ringcache calls Ray actors."""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from ..cluster.errors import RingcacheError, Unavailable


def _unwrap(exc: RayTaskError) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, RingcacheError) else exc


class RayRef:
    """An actor handle behind `ActorRef.call`; domain errors arrive as themselves."""

    def __init__(self, handle: ray.actor.ActorHandle, name: str = "") -> None:
        self.handle = handle
        self.name = name

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        pending = self.handle.call.remote(method, *args, **kwargs)
        try:
            return await pending
        except asyncio.CancelledError:
            # The caller gave up (a shutdown, a timeout): the actor need not finish the call,
            # and Ray must not retry it against an actor that is being stopped.
            ray.cancel(pending)
            raise
        except RayTaskError as exc:
            raise _unwrap(exc) from None
        except RayActorError as exc:
            raise Unavailable(f"actor {self.name or self.handle} is unavailable: {exc}") from exc

    def call_sync(self, method: str, *args: Any, timeout: float | None = 60, **kwargs: Any) -> Any:
        """The same call from synchronous code (drivers, the client, the CLI)."""
        try:
            return ray.get(self.handle.call.remote(method, *args, **kwargs), timeout=timeout)
        except RayTaskError as exc:
            raise _unwrap(exc) from None
        except (RayActorError, GetTimeoutError) as exc:
            raise Unavailable(f"actor {self.name or self.handle} is unavailable: {exc}") from exc

    def __reduce__(self):
        return (RayRef, (self.handle, self.name))

    def __repr__(self) -> str:
        return f"RayRef({self.name})"


class RayPeers:
    """Workers found by name in the cluster's Ray namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._refs: dict[str, RayRef] = {}

    def worker(self, worker_id: str) -> RayRef:
        ref = self._refs.get(worker_id)
        if ref is None:
            try:
                handle = ray.get_actor(worker_id, namespace=self.namespace)
            except ValueError as exc:
                raise Unavailable(f"worker {worker_id} has no actor: {exc}") from exc
            ref = self._refs[worker_id] = RayRef(handle, worker_id)
        return ref

    def forget(self, worker_id: str) -> None:
        self._refs.pop(worker_id, None)
