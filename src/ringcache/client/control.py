"""How a client learns the cluster: the ring, the workers' data addresses, the mounts.

Control only: the bytes themselves always go over the workers' data servers. Over REST
(no Ray needed), over Ray (inside the Ray cluster), or into an in-process `LocalCluster`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from ..cluster.errors import RingcacheError, Unavailable

TIMEOUT = 30.0


class Control(Protocol):
    """The three questions a client asks the coordinator."""

    def ring(self) -> dict[str, Any]:
        """`{"workers": [...], "virtualNodes": n, "version": v}`."""
        ...

    def nodes(self) -> list[dict[str, Any]]:
        """Each worker as `GET /api/v1/nodes` lists it (`id`, `state`, `dataAddress`, ...)."""
        ...

    def mounts(self) -> list[dict[str, Any]]:
        """The mount table, as `GET /api/v1/mount` lists it."""
        ...


class RestControl:
    """The management REST API at `address` (`http://host:19999`), with a bearer token."""

    def __init__(self, address: str, token: str | None = None, timeout: float = TIMEOUT) -> None:
        self.base = address.rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    def ring(self) -> dict[str, Any]:
        return self._get("/ring")

    def nodes(self) -> list[dict[str, Any]]:
        return self._get("/nodes")["results"]

    def mounts(self) -> list[dict[str, Any]]:
        return self._get("/mount")["results"]

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = exc.read()[:200].decode("utf-8", "replace")
            raise RingcacheError(f"{self.base}{path} answered {exc.code}: {message}") from None
        except OSError as exc:
            raise Unavailable(f"cannot reach {self.base}: {exc}") from None


class Coordinator(Protocol):
    """A synchronous way to call the coordinator by method name (Ray or in-process)."""

    def __call__(self, method: str, *args: Any) -> Any: ...


class ActorControl:
    """The coordinator's own calls, through Ray or into an in-process cluster."""

    def __init__(self, call: Coordinator) -> None:
        self.call = call

    def ring(self) -> dict[str, Any]:
        return self.call("ring_snapshot")

    def nodes(self) -> list[dict[str, Any]]:
        return self.call("list_nodes")

    def mounts(self) -> list[dict[str, Any]]:
        return self.call("list_mounts")


def ray_coordinator(namespace: str) -> Coordinator:
    """Calls to the coordinator actor of the Ray cluster this process joined."""
    import ray

    from ..actors.refs import RayRef
    from ..actors.shells import COORDINATOR_NAME

    handle = ray.get_actor(COORDINATOR_NAME, namespace=namespace)
    return RayRef(handle, COORDINATOR_NAME).call_sync


def local_coordinator(cluster: Any) -> Coordinator:
    """Calls to the coordinator of an in-process `LocalCluster`."""

    def call(method: str, *args: Any) -> Any:
        return cluster.run(cluster.coordinator_ref.call(method, *args))

    return call
