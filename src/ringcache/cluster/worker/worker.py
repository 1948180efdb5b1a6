"""The worker: a page store on local disk, filled from the UFS, kept in the ring by its lease."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from ..config import WorkerConfig
from ..environment import Environment
from ..errors import NotFound, Unavailable
from ..policies.tracking import GovernedStore
from ..policies.watch import PolicyWatch
from ..refs import ActorRef, LocalPeers, Peers
from ..results import FileResult
from ..ring.alluxio_discovery import AlluxioDiscovery
from ..ring.membership import NodeRecord, live_key, node_key
from ..ring.policy import DEFAULT_POLICY
from .epoch import ChangeEpoch
from .index_reports import REPORT_LIMIT
from .lanes import LocalDisks
from .mount_view import MountView
from .ownership import Ownership
from .peers import ActorPeerPages, PeerPages
from .read_metrics import READ_COUNTERS
from .services import WorkerServices
from .transfers import Wanted

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


class Worker:
    """Caches UFS files as pages on local disk and serves reads of them.

    Guarantees: a read answers the UFS bytes of the version recorded when the file was first
    cached (Alluxio's `immutable` default); a page is served only once it is whole on disk;
    the worker holds a live key in the registry exactly while its lease is kept alive (and,
    given a `discovery`, its Alluxio service-discovery entry under the same lease).

    The worker itself is the shell: identity, lease and heartbeat, lifecycle, and the calls
    other actors make by name, each handed to one of its services (`WorkerServices`), which
    exist once `start` has opened the page store. Before that, a call is Unavailable.
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
        data_address: str | None = None,
        change_epoch: ChangeEpoch | None = None,
        discovery: AlluxioDiscovery | None = None,
        peer_pages: PeerPages | None = None,
        virtual_nodes: int | None = None,
        ring_policy: str = DEFAULT_POLICY,
    ) -> None:
        self.worker_id = worker_id
        self.peers = peers or LocalPeers()  # other workers, for moving data between them
        # How pages are copied from peers: their data servers, else their actor calls.
        self.peer_pages = peer_pages or ActorPeerPages(self.peers)
        self.config = config
        self.registry = registry
        self.env = env
        self.clock = env.clock
        self.cache_dir = cache_dir
        self.lease_ttl = lease_ttl
        self.host = host
        self.ray_node_id = ray_node_id
        self.data_address = data_address  # where its data server listens, for clients
        self.discovery = discovery  # publishes the worker to Alluxio clients too (etcd)
        # Raised before pages may be dropped: same-host readers of the cache files check it.
        self.change_epoch = change_epoch
        self.mount_view = MountView(registry, env.ufs_factory)
        # The ring as this worker last saw it: a read through caches only what it owns.
        self.ownership = Ownership(
            worker_id, registry, env.run_io, env.clock, virtual_nodes, policy=ring_policy
        )
        self.policy_watch = PolicyWatch(registry)
        self.counters = READ_COUNTERS.copy()
        self.local_disks = LocalDisks()  # which mounts' files need no lanes to wait
        self.services: WorkerServices | None = None  # once `start` opened the page store
        self.lease = 0
        self.start_time = 0.0
        self.last_heartbeat: float | None = None
        self._heartbeat: asyncio.Task | None = None
        self._stopped = False
        self._rules_read: list[Callable[[], None]] = []

    @property
    def store(self) -> GovernedStore | None:
        """The page store every service changes the cache through; None until started."""
        return None if self.services is None else self.services.store

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> str:
        opened = await self.env.run_io(
            self.env.store_factory,
            self.cache_dir / "pages",
            self.config.capacity,
            self.config.page_size,
        )
        services = self.services = WorkerServices.compose(
            self.worker_id,
            opened,
            self.config,
            self.env,
            self.mount_view,
            self.policy_watch,
            self.peer_pages,
            self.counters,
            self.local_disks,
            nullcontext if self.change_epoch is None else self.change_epoch.changing,
            self.ownership,
        )
        self.start_time = self.clock.now()
        await self.refresh_mounts()
        await services.upkeep.load()
        await services.index_reports.report_everything()
        services.upkeep.begin()
        await self._register()
        await self.ownership.refresh()
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_loop())
        return self.worker_id

    async def _register(self) -> None:
        record = NodeRecord(
            id=self.worker_id,
            host=self.host,
            ray_node_id=self.ray_node_id,
            capacity_bytes=self.config.capacity,
            start_time=self.start_time,
            data_address=self.data_address,
        )
        self.lease = await self.registry.call("lease_grant", self.lease_ttl)
        await self.registry.call("put", node_key(self.worker_id), record.encode())
        await self.registry.call("put", live_key(self.worker_id), self.host, lease=self.lease)
        if self.discovery is not None and self.data_address is not None:
            entry = self.discovery.entry(self.worker_id, self.data_address)
            key = self.discovery.key(self.worker_id)
            await self.registry.call("put", key, entry, lease=self.lease)
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
            await self.ownership.refresh()
            await self._running().upkeep.refresh()
            self._told_rules_read()
        except Exception:  # the loop must outlive a registry restart; next beat retries
            log.exception("%s: heartbeat failed", self.worker_id)

    async def refresh_mounts(self, seen: int | None = None) -> None:
        """Re-read the mount table (see `MountView.refresh`)."""
        await self.mount_view.refresh(seen)

    async def stop(self) -> None:
        """Stop heartbeating; the lease lapses and the ring drops this worker."""
        self._stopped = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.services is not None:
            self.services.upkeep.stop()
        self.peer_pages.close()

    async def decommission(self) -> None:
        """Leave the cluster now: revoke the lease so the ring changes at once."""
        await self.stop()
        try:
            await self.registry.call("lease_revoke", self.lease)
        except NotFound:
            pass  # already lapsed: the goal, leaving the ring, is reached either way

    async def stats(self) -> dict[str, Any]:
        store = self._running().store.stats()
        return {
            "id": self.worker_id,
            "capacityBytes": store.capacity_bytes,
            "usedBytes": store.used_bytes,
            "cachedFiles": store.cached_files,
            "pages": store.pages,
            "pagesEvicted": store.pages_evicted,
            "startTime": self.start_time,
            "lastHeartbeat": self.last_heartbeat,
            **self.counters,
        }

    def _running(self) -> WorkerServices:
        if self.services is None:
            raise Unavailable(f"{self.worker_id} has not started")
        return self.services

    # -- the calls of clients, jobs and peers (documented on the services) -----------------

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        return await self._running().reads.read(path, offset, length)

    async def load_batch(
        self, files: list[Any], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        return await self._running().loads.load_batch(files, options)

    async def catch_up_policies(self, revision: int) -> int:
        """Refresh the rules if older than `revision` (a rule write's, announced by the
        coordinator before it answers); the revision the rules are now current as of.
        The mount table is read first: a rule names paths under mounts made before it.
        Those told of rules read (`when_rules_read`) are told before it returns."""
        await self.refresh_mounts()
        await self._running().upkeep.catch_up(revision)
        self._told_rules_read()
        return self.policy_watch.seen_revision

    def when_rules_read(self, callback: Callable[[], None]) -> None:
        """Call `callback()` each time the rules and the mount table were read (changed or
        not): what readers were allowed under the old ones can be taken back at once."""
        self._rules_read.append(callback)

    def _told_rules_read(self) -> None:
        for callback in self._rules_read:
            callback()

    async def free_batch(self, paths: list[str]) -> list[FileResult]:
        return await self._running().holdings.free_batch(paths)

    async def free_prefix(self, ufs_prefix: str) -> int:
        return await self._running().holdings.free_prefix(ufs_prefix)

    async def list_cached(self, start_after: str | None = None, limit: int = 1000) -> list[dict]:
        return await self._running().holdings.list_cached(start_after, limit)

    async def list_all_cached(self) -> list[dict]:
        return await self._running().holdings.list_all_cached()

    async def read_cached(
        self,
        path: str,
        offset: int = 0,
        length: int | None = None,
        version: Wanted | None = None,
    ) -> bytes | None:
        return await self._running().transfers.read_cached(path, offset, length, version)

    async def read_cached_many(self, items: list[tuple[str, Wanted]]) -> list[bytes | None]:
        return await self._running().transfers.read_cached_many(items)

    async def list_unsettled(
        self, start_after: str | None, limit: int, ring: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._running().transfers.list_unsettled(start_after, limit, ring)

    async def fetch_batch(
        self, entries: list[Any], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        return await self._running().transfers.fetch_batch(entries, options)

    async def held_whole(self, items: list[Any]) -> list[bool]:
        return await self._running().transfers.held_whole(items)

    async def prune_batch(
        self, paths: list[str], options: dict[str, Any] | None = None
    ) -> list[FileResult]:
        return await self._running().transfers.prune_batch(paths, options)

    async def clear_stale(
        self, workers: list[str], virtual_nodes: int, replicas: int = 1, policy: str = "alluxio"
    ) -> None:
        await self._running().stale.clear_stale(workers, virtual_nodes, replicas, policy)

    async def stop_clear_stale(self) -> None:
        await self._running().stale.stop_clear_stale()

    async def drain_index_reports(
        self, acked: int | None = None, limit: int = REPORT_LIMIT
    ) -> dict[str, Any]:
        return await self._running().index_reports.drain(acked, limit)

    async def make_room(self, evict: dict[str, int], keep: list[str], revision: int = 0) -> int:
        return await self._running().loads.make_room(evict, keep, revision)

    async def lru_under(self, ufs_root: str, wanted: int) -> list[list[Any]]:
        return await self._running().quota.lru_under(ufs_root, wanted)

    async def evict_files(self, paths: list[str]) -> int:
        return await self._running().quota.evict_files(paths)
