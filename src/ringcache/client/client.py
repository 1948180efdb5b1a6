"""Reading through the cache: each read goes straight to the worker that owns the file."""

from __future__ import annotations

import time
from typing import Any, Protocol

from ..cluster.errors import Unavailable
from ..cluster.ring.hash_ring import HashRing
from ..cluster.ufs.mounts import MountPoint, MountTable

RING_REFRESH_SECONDS = 5.0


class Transport(Protocol):
    """How the client reaches the actors: Ray handles or an in-process cluster."""

    def coordinator(self, method: str, *args: Any) -> Any: ...

    def worker(self, worker_id: str, method: str, *args: Any) -> Any: ...


class CacheClient:
    """Reads files by cluster path (`/data/a.bin`) or UFS URI through the owning worker.

    The client keeps its own copy of the ring and mount table, refreshed every few seconds
    and whenever a worker cannot be reached, so a read is one call to one worker.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._ring = HashRing([])
        self._mounts = MountTable([])
        self._refreshed = float("-inf")

    def refresh(self) -> None:
        snapshot = self.transport.coordinator("ring_snapshot")
        self._ring = HashRing(snapshot["workers"], virtual_nodes=snapshot["virtualNodes"])
        mounts = self.transport.coordinator("list_mounts")
        self._mounts = MountTable(MountPoint.from_dict(m) for m in mounts)
        self._refreshed = time.monotonic()

    def _current(self) -> None:
        if time.monotonic() - self._refreshed > RING_REFRESH_SECONDS:
            self.refresh()

    def resolve(self, path: str) -> str:
        """The UFS URI of a cluster path or UFS URI."""
        self._current()
        try:
            return self._mounts.resolve(path)[1]
        except Exception:
            self.refresh()  # a mount added since our last look
            return self._mounts.resolve(path)[1]

    def owners(self, path: str, count: int = 1) -> list[str]:
        self._current()
        return self._ring.owners(self.resolve(path), count)

    def _on_owner(self, path: str, method: str, *args: Any) -> Any:
        uri = self.resolve(path)
        for attempt in range(3):
            owners = self._ring.owners(uri, 1)
            if not owners:
                raise Unavailable("the cluster has no live workers")
            try:
                return self.transport.worker(owners[0], method, uri, *args)
            except Unavailable:
                if attempt == 2:
                    raise
                self.refresh()  # the owner left; the ring will have moved on
        raise AssertionError("unreachable")

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset + length)` of the file (to its end when length is None)."""
        return self._on_owner(path, "read", offset, length)

    def stat(self, path: str) -> dict[str, Any]:
        """`{"path", "size", "mtime", "etag", "type"}` of a file or directory."""
        return self.transport.coordinator("stat", path)

    def list_dir(self, path: str) -> list[dict[str, Any]]:
        """The entries directly under a directory, each with its cluster path."""
        return self.transport.coordinator("list_dir", path)


class RayTransport:
    """Calls over Ray, finding actors by name in the cluster's namespace."""

    def __init__(self, namespace: str) -> None:
        import ray

        from ..actors.refs import RayPeers, RayRef
        from ..actors.shells import COORDINATOR_NAME

        self._peers = RayPeers(namespace)
        handle = ray.get_actor(COORDINATOR_NAME, namespace=namespace)
        self._coordinator = RayRef(handle, COORDINATOR_NAME)

    def coordinator(self, method: str, *args: Any) -> Any:
        return self._coordinator.call_sync(method, *args)

    def worker(self, worker_id: str, method: str, *args: Any) -> Any:
        try:
            return self._peers.worker(worker_id).call_sync(method, *args)
        except Unavailable:
            self._peers.forget(worker_id)
            raise


class LocalTransport:
    """Calls into an in-process `LocalCluster`."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def coordinator(self, method: str, *args: Any) -> Any:
        return self.cluster.run(self.cluster.coordinator_ref.call(method, *args))

    def worker(self, worker_id: str, method: str, *args: Any) -> Any:
        ref = self.cluster.peers.worker(worker_id)
        return self.cluster.run(ref.call(method, *args))


_current: CacheClient | None = None


def connect(
    address: str | None = "auto", namespace: str = "ringcache", *, cluster: Any = None
) -> CacheClient:
    """A client of the cluster at a Ray `address` (or of an in-process `cluster`).

    The newest client is also the one `fsspec.open("ringcache:///...")` uses.
    """
    global _current
    if cluster is not None:
        transport: Transport = LocalTransport(cluster)
    else:
        import ray

        if not ray.is_initialized():
            ray.init(address=address, namespace=namespace, log_to_driver=False)
        transport = RayTransport(namespace)
    _current = CacheClient(transport)
    return _current


def current_client() -> CacheClient:
    if _current is None:
        return connect()
    return _current
