"""Reading through the cache: each read goes straight to the data server of the owner."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..cluster.errors import Unavailable
from ..cluster.paths import is_uri, normalize_cluster_path
from ..cluster.ring.build import build_ring, ring_from_snapshot
from ..cluster.ufs.browse import list_directory, stat_path
from ..cluster.ufs.factory import ufs_for
from ..cluster.ufs.filesystem import UnderFileSystem
from ..cluster.ufs.mounts import MountPoint, MountTable
from .control import ActorControl, Control, RestControl, local_coordinator, ray_coordinator
from .data import HttpDataPath
from .local_reads import LocalReads

RING_REFRESH_SECONDS = 5.0
ROUTES_KEPT = 100_000  # paths remembered with their URI and owner until the ring is read again
ATTEMPTS = 3  # owners tried, the ring read afresh between, before the UFS answers instead

T = TypeVar("T")

log = logging.getLogger(__name__)


class CacheClient:
    """Reads files by cluster path (`/data/a.bin`) or UFS URI through the owning worker.

    Guarantees: the client builds the cluster's own `HashRing` from what `control` says,
    refreshed every few seconds (in the background: no read waits for it) and whenever an
    owner cannot be reached, so a read is one HTTP request to one worker's data server;
    when no worker can answer (the owner died and the ring has not moved on yet, or no
    worker is left), the bytes are read from the UFS directly if `ufs_fallback` (the
    default), else Unavailable is raised. Errors the worker names (a missing file, a path
    under no mount) are raised, never papered over.
    """

    def __init__(
        self,
        control: Control,
        data: HttpDataPath,
        *,
        local: LocalReads | None = None,
        ufs_fallback: bool = True,
        ufs_factory: Callable[..., UnderFileSystem] = ufs_for,
    ) -> None:
        self.control = control
        self.data = data
        self.local = local
        self.ufs_fallback = ufs_fallback
        self.ufs_factory = ufs_factory
        self._ring = build_ring([])
        self._addresses: dict[str, str] = {}
        self._mounts = MountTable([])
        self._refreshed = float("-inf")
        self._refresher: threading.Thread | None = None  # the background refresh, if one runs
        self._refreshes = itertools.count()  # each refresh's turn, in the order they began
        self._applied = -1  # the turn of the refresh whose answers the client holds
        # Per path and URI, as of the last refresh: a read of a known file does no resolving.
        self._routes: dict[str, tuple[MountPoint, str]] = {}
        self._owners: dict[str, str | None] = {}

    def refresh(self) -> None:
        """Read the ring, the workers' data addresses and the mount table afresh (unless a
        refresh begun after this one ended first: then its answers stand)."""
        begun = next(self._refreshes)
        snapshot, nodes, mounts = self.control.ring(), self.control.nodes(), self.control.mounts()
        ring = ring_from_snapshot(snapshot, self._ring)
        if begun < self._applied:
            return
        self._applied = begun
        self._ring = ring
        self._addresses = {
            node["id"]: node["dataAddress"]
            for node in nodes
            if node.get("dataAddress") and node.get("state") == "ONLINE"
        }
        self._mounts = MountTable(MountPoint.from_dict(m) for m in mounts)
        self._routes, self._owners = {}, {}
        self._refreshed = time.monotonic()

    def _current(self) -> None:
        """Read the cluster's state afresh once it is RING_REFRESH_SECONDS old: before the
        first read; after that in the background, so no read waits on the coordinator (a
        read whose owner cannot answer reads it afresh itself, see `_on_owner`)."""
        if time.monotonic() - self._refreshed <= RING_REFRESH_SECONDS:
            return
        if self._refreshed == float("-inf"):
            self.refresh()
            return
        refresher = self._refresher
        if refresher is None or not refresher.is_alive():  # (not alive in a forked child)
            refresher = threading.Thread(
                target=self._refresh_in_background, name="ringcache-refresh", daemon=True
            )
            self._refresher = refresher
            refresher.start()

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        except Exception:  # the last state still routes reads; the next interval tries again
            log.warning(
                "reading the ring afresh failed; reads go on with the last one", exc_info=True
            )
            self._refreshed = time.monotonic()

    def _resolve(self, path: str) -> tuple[MountPoint, str]:
        self._current()
        route = self._routes.get(path)
        if route is not None:
            return route
        try:
            route = self._mounts.resolve(path)
        except Exception:
            self.refresh()  # a mount added since our last look
            route = self._mounts.resolve(path)
        if len(self._routes) >= ROUTES_KEPT:
            self._routes.clear()
        self._routes[path] = route
        return route

    def _owner(self, uri: str) -> str | None:
        """The first owner of `uri` under the ring as last read (None: no worker)."""
        try:
            return self._owners[uri]
        except KeyError:
            pass
        owners = self._ring.owners(uri, 1)
        if len(self._owners) >= ROUTES_KEPT:
            self._owners.clear()
        owner = self._owners[uri] = owners[0] if owners else None
        return owner

    def resolve(self, path: str) -> str:
        """The UFS URI of a cluster path or UFS URI."""
        return self._resolve(path)[1]

    def owners(self, path: str, count: int = 1) -> list[str]:
        uri = self.resolve(path)  # first: it may read the ring afresh
        return self._ring.owners(uri, count)

    def data_address(self, worker_id: str) -> str | None:
        """Where a worker's data server listens, as last learned."""
        return self._addresses.get(worker_id)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset + length)` of the file (to its end when length is None)."""
        mount, uri = self._resolve(path)
        local = self.local
        owner = None if local is None else self._owner(uri)
        if owner is not None:  # the common hot case first
            data = local.read_held(owner, uri, offset, length)  # type: ignore[union-attr]
            if data is not None:
                return data

        def from_worker(worker_id: str, address: str) -> bytes:
            if local is not None:  # a worker on this host: straight from its files
                tried = worker_id == owner  # what `read_held` reads is not looked for again
                data = local.read(worker_id, uri, offset, length, address, held_tried=tried)
                if data is not None:
                    return data
            return self.data.read(address, uri, offset, length)

        return self._on_owner(uri, from_worker, lambda: self._ufs(mount).read(uri, offset, length))

    def read_held(self, path: str, offset: int = 0, length: int | None = None) -> bytes | None:
        """The range, if this thread holds a descriptor of the file (on the owner's host:
        see `LocalReads.read_held`) and may read it again without asking anyone; else None."""
        return self._held(self._resolve(path)[1], offset, length)

    def _held(self, uri: str, offset: int, length: int | None) -> bytes | None:
        if self.local is None:
            return None
        owner = self._owner(uri)
        return None if owner is None else self.local.read_held(owner, uri, offset, length)

    def stat(self, path: str) -> dict[str, Any]:
        """`{"path", "size", "type"}` (and `mtime`, `etag` when known) of a file or directory."""
        if not is_uri(path) and normalize_cluster_path(path) == "/":
            return {"path": "/", "size": 0, "type": "directory"}
        mount, uri = self._resolve(path)
        local = self.local
        if local is not None and (owner := self._owner(uri)) is not None:
            published = local.published(owner, uri)
            if published is not None:  # its cached version, as reads of it answer now
                mtime_ms = int((published.mtime or 0) * 1000)
                return self._answer(uri, published.size, "file", mtime_ms, published.etag)
            found = local.unasked_stat(owner, uri)
            if found is not None:  # recorded nowhere: the UFS file's, as its owner answers
                return self._answer(uri, found.st_size, "file", int(found.st_mtime * 1000), None)

        def from_worker(worker_id: str, address: str) -> dict[str, Any]:
            found = None if self.local is None else self.local.info(worker_id, uri, address)
            return self._entry(found if found is not None else self.data.info(address, uri))

        return self._on_owner(
            uri, from_worker, lambda: stat_path(self._mounts, uri, self.ufs_factory)
        )

    def list_dir(self, path: str) -> list[dict[str, Any]]:
        """The entries directly under a directory, each with its cluster path."""
        if not is_uri(path) and normalize_cluster_path(path) == "/":
            return [{"path": m.path, "size": 0, "type": "directory"} for m in self._mounts.list()]
        mount, uri = self._resolve(path)
        return self._on_owner(
            uri,
            lambda _, address: [self._entry(e) for e in self.data.list(address, uri)],
            lambda: list_directory(self._mounts, uri, self.ufs_factory),
        )

    def _entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        kind = "directory" if entry["mType"] == "directory" else "file"
        return self._answer(
            entry["mUfsPath"],
            entry["mLength"],
            kind,
            entry.get("mLastModificationTimeMs"),
            entry.get("mContentHash"),
        )

    def _answer(
        self, uri: str, size: int, kind: str, mtime_ms: int | None, etag: str | None
    ) -> dict[str, Any]:
        answer = {"path": self._mounts.to_cluster_path(uri), "size": size, "type": kind}
        if mtime_ms:
            answer["mtime"] = mtime_ms / 1000
        if etag:
            answer["etag"] = etag
        return answer

    def _ufs(self, mount: MountPoint) -> UnderFileSystem:
        return self.ufs_factory(mount.ufs, mount.options)

    def _on_owner(self, uri: str, call: Callable[[str, str], T], fallback: Callable[[], T]) -> T:
        """`call(worker id, data address)` of the owner; the ring read afresh and the owner
        asked again while it cannot answer; then `fallback` (the UFS) if allowed."""
        self._current()
        for attempt in range(ATTEMPTS):
            owner = self._owner(uri)
            address = None if owner is None else self._addresses.get(owner)
            if address is not None:
                try:
                    return call(owner, address)
                except Unavailable:
                    pass  # the owner left or is leaving; the ring will move on
            if attempt < ATTEMPTS - 1:
                self.refresh()
        if self.ufs_fallback:
            return fallback()
        raise Unavailable(f"no worker could answer for {uri}")


_current: CacheClient | None = None


def connect(
    address: str | None = "auto",
    token: str | None = None,
    namespace: str = "ringcache",
    *,
    cluster: Any = None,
    ufs_fallback: bool = True,
    short_circuit: bool = True,
    remember: bool = True,
) -> CacheClient:
    """A client of the cluster whose REST API is at `address` (`http://host:19999`, no Ray
    needed), or of the Ray cluster at a Ray `address` ("auto": the one on this machine),
    or of an in-process `cluster`. Reads always go to the workers' data servers over HTTP,
    or, for a worker on this host, straight to its cache files (`short_circuit`).

    The newest client (unless `remember` is false) is the one `ringcache://` uses when
    no address is given in its storage options.
    """
    global _current
    if cluster is not None:
        control: Control = ActorControl(local_coordinator(cluster))
    elif address is not None and address.startswith(("http://", "https://")):
        control = RestControl(address, token)
    else:
        import ray

        if not ray.is_initialized():
            ray.init(address=address, namespace=namespace, log_to_driver=False)
        control = ActorControl(ray_coordinator(namespace))
    local = LocalReads(token) if short_circuit else None
    client = CacheClient(control, HttpDataPath(token), local=local, ufs_fallback=ufs_fallback)
    if remember:
        _current = client
    return client


def current_client() -> CacheClient:
    if _current is None:
        return connect()
    return _current
