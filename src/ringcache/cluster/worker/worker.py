"""The worker: a page store on local disk, filled from the UFS, kept in the ring by its lease."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ...config import WorkerConfig
from ..cache.store import PageStore
from ..environment import Environment
from ..errors import NotFound
from ..refs import ActorRef, LocalPeers, Peers
from ..ring.membership import NodeRecord, live_key, node_key
from ..ufs.mount_store import read_mount_entries, table_of
from ..ufs.mounts import MountTable
from .lanes import LocalDisks
from .loads import BatchPath
from .policies import PolicyPath
from .reads import ReadPath
from .throttle import Throttle
from .transfers import RebalancePath

log = logging.getLogger(__name__)


def load_or_create_worker_id(cache_dir: Path) -> str:
    """The id kept in the cache directory, so a restarted worker keeps its identity and data."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    id_file = cache_dir / "worker-id"
    if id_file.exists():
        return id_file.read_text().strip()
    worker_id = f"worker-{uuid.uuid4()}"
    id_file.write_text(worker_id + "\n")
    return worker_id


class Worker(ReadPath, BatchPath, RebalancePath, PolicyPath):
    """Caches UFS files as pages on local disk and serves reads of them.

    Guarantees: a read answers the UFS bytes of the version recorded when the file was first
    cached (Alluxio's `immutable` default); a page is served only once it is whole on disk;
    the worker holds a live key in the registry exactly while its lease is kept alive.
    """

    def __init__(
        self,
        worker_id: str,
        config: WorkerConfig,
        registry: ActorRef,
        env: Environment,
        *,
        cache_dir: Path,
        lease_ttl: float,
        host: str = "127.0.0.1",
        ray_node_id: str | None = None,
        peers: Peers | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.peers = peers or LocalPeers()  # other workers, for moving data between them
        self.config = config
        self.registry = registry
        self.env = env
        self.clock = env.clock
        self.cache_dir = cache_dir
        self.lease_ttl = lease_ttl
        self.host = host
        self.ray_node_id = ray_node_id
        self.store: PageStore | None = None
        self.mounts = MountTable([])
        self.mounts_generation = 0
        self._mount_entries: tuple[str, ...] = ()
        self._mounts_lock = asyncio.Lock()
        self.lease = 0
        self.start_time = 0.0
        self.last_heartbeat: float | None = None
        self.counters = {"hits": 0, "misses": 0, "bytesFromCache": 0, "bytesFromUfs": 0}
        self._loaded_by: OrderedDict[str, str] = OrderedDict()
        self._throttles: dict[str, Throttle] = {}
        self._heartbeat: asyncio.Task | None = None
        self._stopped = False
        self._local_disks = LocalDisks()  # which mounts' files need no lanes to wait
        self._local_lanes = asyncio.Lock()  # held by a batch of local-disk files
        self._init_policies()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        self.store = await self.env.run_io(
            self.env.store_factory,
            self.cache_dir / "pages",
            self.config.capacity,
            self.config.page_size,
        )
        self.start_time = self.clock.now()
        await self.refresh_mounts()
        await self._start_policies()
        await self._register()
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())
        return self.worker_id

    async def _register(self) -> None:
        record = NodeRecord(
            id=self.worker_id,
            host=self.host,
            ray_node_id=self.ray_node_id,
            capacity_bytes=self.config.capacity,
            start_time=self.start_time,
        )
        self.lease = await self.registry.call("lease_grant", self.lease_ttl)
        await self.registry.call("put", node_key(self.worker_id), record.encode())
        await self.registry.call("put", live_key(self.worker_id), self.host, lease=self.lease)
        self.last_heartbeat = self.clock.now()

    async def _heartbeat_loop(self) -> None:
        while not self._stopped:
            await self.clock.sleep(self.config.heartbeat_interval)
            if self._stopped:
                break
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """Keep the lease alive (re-registering if it lapsed) and pick up mount changes."""
        if self._stopped:
            return  # a stopped or decommissioned worker must not rejoin behind our back
        try:
            try:
                await self.registry.call("lease_keepalive", self.lease)
            except NotFound:
                log.warning("%s: lease lapsed, registering again", self.worker_id)
                await self._register()
            self.last_heartbeat = self.clock.now()
            await self.refresh_mounts()
            await self._refresh_policies()
        except Exception:  # the loop must outlive a registry restart; next beat retries
            log.exception("%s: heartbeat failed", self.worker_id)

    async def refresh_mounts(self, seen: int | None = None) -> None:
        """Re-read the mount table; rebuilt only when it changed. With `seen` (a generation
        the caller found stale), skipped if another caller refreshed meanwhile, so a burst of
        misses costs one registry read, not one per file."""
        async with self._mounts_lock:
            if seen is not None and seen != self.mounts_generation:
                return
            entries = await read_mount_entries(self.registry)
            if entries != self._mount_entries:
                self.mounts = table_of(entries)
                self._mount_entries = entries
            self.mounts_generation += 1

    async def stop(self) -> None:
        """Stop heartbeating; the lease lapses and the ring drops this worker."""
        self._stopped = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._stop_policies()

    async def decommission(self) -> None:
        """Leave the cluster now: revoke the lease so the ring changes at once."""
        await self.stop()
        try:
            await self.registry.call("lease_revoke", self.lease)
        except NotFound:
            pass  # already lapsed: the goal, leaving the ring, is reached either way

    async def stats(self) -> dict[str, Any]:
        store = self._require_store().stats()
        return {
            "id": self.worker_id,
            "capacityBytes": store.capacity_bytes,
            "usedBytes": store.used_bytes,
            "cachedFiles": store.cached_files,
            "pages": store.pages,
            "startTime": self.start_time,
            "lastHeartbeat": self.last_heartbeat,
            **self.counters,
        }
