"""The simulated runtime: the real registry, coordinator and workers on virtual time.

`SimCluster` is `LocalCluster`'s sibling. It builds the same classes (`Registry`,
`Coordinator`, `Worker`) and plugs the simulator into their seams: a `VirtualClock`, a
`SimRunIo` per machine that charges modelled I/O time, a `SimUfs` over a generated
namespace, production `PageStore`s over a `SizeMedium` (sizes only, charged to the node's
meter), and `SimRef`s across a modelled network.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..cluster.cache.medium import OneThread, SizeMedium
from ..cluster.cache.store import PageStore
from ..cluster.coordinator.coordinator import Coordinator
from ..cluster.environment import Environment
from ..cluster.errors import InvalidArgument
from ..cluster.paths import split_uri
from ..cluster.registry import Registry
from ..cluster.registry.memory_backend import MemoryBackend
from ..cluster.ring.cache import RingCache
from ..cluster.worker.worker import Worker
from .costs import IoMeter, Link, MeteredReadAhead, NodeModel, SimLanes, SimRunIo
from .index import PROCESS_FROM_FILES, IndexProcess, KeptFileIndex
from .loop import VirtualClock, VirtualTimeLoop, cancel_pending
from .namespace import SimNamespace
from .namespace_owners import NamespaceOwners
from .refs import Endpoint, SimNetwork, SimPeers, SimRef
from .spec import SimSpec
from .ufs import SimUfs

T = TypeVar("T")


class PagedSizeMedium(SizeMedium):
    """A `SizeMedium` whose eviction order is per page, as `DiskMedium`'s is: an order
    entry per page held instead of per file, and then exactly the disk's victims. The
    per-file grain evicts another page of a partly cached file than the disk would, so
    range reads diverge from a real cluster's (tests/sim/test_train_agreement.py)."""

    per_page_recency = True


class SimNode:
    """One simulated machine: its I/O meter, its view of the UFS, its disk (page store).

    The page store outlives the worker process, as a disk does: a restarted worker on this
    node finds the pages its predecessor cached.
    """

    def __init__(self, name: str, model: NodeModel, cluster: SimCluster) -> None:
        self.name = name
        self.model = model
        self.meter = IoMeter(model, cluster.spec.network, cluster.ufs_link)
        self.ufs = SimUfs(
            cluster.namespace,
            self.meter,
            rng=cluster.spec.rng(f"ufs:{name}"),
            read_error_rate=cluster.spec.read_error_rate,
        )
        self.store: PageStore | None = None
        self.medium = PagedSizeMedium if cluster.spec.per_page_recency else SizeMedium
        self.env = Environment(
            clock=cluster.clock,
            run_io=SimRunIo(self.meter, cluster.loop),
            ufs_factory=self.open_ufs,
            store_factory=self.open_store,
            index_factory=cluster.open_index,
            random=cluster.spec.rng(f"env:{name}"),
            rings=cluster.rings,
            read_ahead=MeteredReadAhead(self.meter),
            run_lanes=SimLanes(self.meter, cluster.loop),
        )
        self.endpoint: Endpoint | None = None
        self.worker: Worker | None = None

    def __repr__(self) -> str:
        return f"SimNode({self.name!r})"

    def open_ufs(self, uri: str, options: Mapping[str, str]) -> SimUfs:
        # Mount roots are canonical (lower-case scheme): a prefix test before the parse.
        if not uri.startswith(self.ufs.scheme + "://") and split_uri(uri)[0] != self.ufs.scheme:
            raise InvalidArgument(f"the simulated cluster serves only {self.ufs.scheme}://")
        return self.ufs

    def open_store(self, root: Path, capacity_bytes: int, page_size: int) -> PageStore:
        if self.store is None:
            # Nothing in the simulating process runs a thread: the store needs no real lock.
            medium = self.medium(self.meter)
            self.store = PageStore(medium, capacity_bytes, page_size, lock=OneThread())
        return self.store

    @property
    def up(self) -> bool:
        return self.endpoint is not None and self.endpoint.up


class SimCluster:
    """A whole cluster on one virtual-time loop, deterministic from `spec.seed`.

    Guarantees: the coordinator, workers and registry are the production classes; no
    real time passes while virtual time does; the same spec gives the same run, event for
    event. Workers start together and before the coordinator, so its first membership
    read sees all of them and it builds the ring once, not once per join.
    Use as a context manager, and `run()` coroutines on it.
    """

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        # The coordinator's file index is an in-memory SQLite database of this cluster's
        # own, in this process or a helper: it outlives coordinator restarts, as the index
        # file on the coordinator's disk would, and costs no disk writes.
        in_helper = spec.index_process
        if in_helper is None:
            in_helper = spec.files >= PROCESS_FROM_FILES
        self.file_index: KeptFileIndex | IndexProcess = (
            IndexProcess() if in_helper else KeptFileIndex()
        )
        self.config = spec.config
        self.loop = VirtualTimeLoop()
        self.clock = VirtualClock(self.loop)
        self.namespace = SimNamespace(
            spec.ufs_root,
            spec.files,
            files_per_dir=spec.files_per_dir,
            sizes=spec.sizes,
            seed=spec.seed_for("sizes"),
        )
        bandwidth = spec.network.ufs_bandwidth
        self.ufs_link = Link(bandwidth) if bandwidth else None
        self.network = SimNetwork(spec.network, spec.rng("network"))
        self.registry = Registry(MemoryBackend(), self.clock)
        self.registry_endpoint = Endpoint("registry", self.registry, crashable=False)
        self.peers = SimPeers(self.network)
        self.nodes: dict[str, SimNode] = {}
        self.rings = RingCache()  # one process's: the workers share the rings they build
        self.coordinator_node = SimNode("coordinator", spec.node, self)
        self.file_index.meter = self.coordinator_node.meter  # it charges the index's writes
        self.coordinator: Coordinator | None = None
        self.coordinator_endpoint: Endpoint | None = None
        self._ids = spec.rng("worker-ids")
        self._slow = set(spec.rng("slow").sample(range(spec.workers), spec.slow_workers))
        self._background: list[asyncio.Task[Any]] = []
        self.coordinator_restarts = 0
        self.owners = NamespaceOwners(self.namespace)  # what the checkers ask of the rings

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> SimCluster:
        # Paused for the cluster's whole life, not only while it runs: a collection
        # between two `run` calls would walk every object the run keeps.
        self._collector = _collector_paused()
        self._collector.__enter__()
        try:
            self.run(self.start())
        except BaseException:
            self._collector.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.close()
        finally:
            self._collector.__exit__(None, None, None)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` on the cluster's loop until it finishes; background tasks go on.

        The cyclic garbage collector is paused meanwhile (see `_collector_paused`).
        """
        with _collector_paused():
            return self.loop.run_until_complete(main)

    async def start(self) -> None:
        """Registry, every worker at once, the coordinator, the mount point; one heartbeat."""
        self._background.append(self.loop.create_task(self.registry.run()))
        models = [self._model(n) for n in range(self.spec.workers)]
        ids = [self._new_worker_id() for _ in models]
        await asyncio.gather(*(self._start_worker(i, m) for i, m in zip(ids, models, strict=True)))
        node = self.coordinator_node
        self.coordinator = Coordinator(self.config, self.registry_ref(), self.peers, node.env)
        self.coordinator_endpoint = Endpoint("coordinator", self.coordinator)
        await self.coordinator.start()
        await self.coordinator_ref().call("add_mount", self.spec.mount_path, self.spec.ufs_root, {})
        # Let every worker's heartbeat read the new mount table, as in a cluster whose mounts
        # predate its jobs; otherwise each file of a first batch re-reads it on its own.
        await asyncio.sleep(self.config.worker.heartbeat_interval)

    def open_index(self, state_dir: Path) -> KeptFileIndex | IndexProcess:
        """The coordinator's file index: this cluster's in-memory one, wherever it asks
        (an `IndexProcess` answers as a `FileIndex` does)."""
        return self.file_index

    def close(self) -> None:
        """Stop every actor, cancel what is left on the loop, and close it."""
        if self.loop.is_closed():
            return
        try:
            self.run(self._stop())
        finally:
            cancel_pending(self.loop)
            self.loop.close()
            self.file_index.discard()
            # The disks go with the cluster. Their records are reachable only through
            # reference cycles (worker, tasks, loop), so dropped here they are freed at once
            # rather than walked by the cyclic collector, millions of them, later.
            for node in self.nodes.values():
                if node.store is not None:
                    node.store.discard()
            self.owners.forget()

    async def _stop(self) -> None:
        if self.coordinator is not None:
            await self.coordinator.stop()
        for node in self.nodes.values():
            if node.worker is not None:
                await node.worker.stop()
        self.registry.stop()

    # -- references ------------------------------------------------------------------------

    def registry_ref(self, caller: str | None = None) -> SimRef:
        """A reference to the registry; `caller` names who uses it, so it can be cut off."""
        return SimRef(self.registry_endpoint, self.network, caller)

    def coordinator_ref(self) -> SimRef:
        if self.coordinator_endpoint is None:
            raise RuntimeError("the cluster has not started")
        return SimRef(self.coordinator_endpoint, self.network)

    def worker_ref(self, worker_id: str) -> SimRef:
        return self.peers.worker(worker_id)

    # -- membership ------------------------------------------------------------------------

    @property
    def worker_ids(self) -> list[str]:
        return sorted(self.nodes)

    def live_worker_ids(self) -> list[str]:
        return [worker_id for worker_id, node in sorted(self.nodes.items()) if node.up]

    def member_ids(self) -> list[str]:
        """The live workers the registry can hear from: those the ring should hold."""
        registry = self.registry_endpoint.name
        return [w for w in self.live_worker_ids() if not self.network.is_cut(w, registry)]

    async def add_worker(self, model: NodeModel | None = None) -> str:
        """Start one more worker on a new node; the coordinator's watch adds it to the ring."""
        worker_id = self._new_worker_id()
        await self._start_worker(worker_id, model or self.spec.node)
        return worker_id

    async def crash_worker(self, worker_id: str) -> None:
        """Kill a worker without a goodbye: calls in flight fail, its lease lapses later."""
        node = self.nodes[worker_id]
        if node.endpoint is None or node.worker is None or not node.endpoint.up:
            raise InvalidArgument(f"{worker_id} is not running")
        node.endpoint.crash()
        await node.worker.stop()

    async def restart_worker(self, worker_id: str) -> None:
        """Start a crashed worker again on its node, same id, same disk."""
        node = self.nodes[worker_id]
        if node.up:
            raise InvalidArgument(f"{worker_id} is running")
        await self._start_worker(worker_id, node.model)

    def partition_worker(self, worker_id: str) -> None:
        """Cut the worker off from the registry: its keepalives fail, its lease lapses."""
        if worker_id not in self.nodes:
            raise InvalidArgument(f"{worker_id} is not a worker of this cluster")
        self.network.partition(worker_id, self.registry_endpoint.name)

    def heal_worker(self, worker_id: str) -> None:
        """Reconnect the worker to the registry; its next heartbeat registers it again."""
        self.network.heal(worker_id, self.registry_endpoint.name)

    async def restart_coordinator(self) -> None:
        """Kill the coordinator and start a new one over the same registry, on its node.

        Calls it was serving fail with `Unavailable`; its job runs are cancelled without
        touching their records, so the new coordinator's JobManager resumes every
        unfinished job from its last checkpoint.
        """
        old, endpoint = self.coordinator, self.coordinator_endpoint
        if old is None or endpoint is None:
            raise RuntimeError("the cluster has not started")
        endpoint.crash()
        await old.stop()
        node = self.coordinator_node
        self.coordinator = Coordinator(self.config, self.registry_ref(), self.peers, node.env)
        await self.coordinator.start()
        endpoint.restart(self.coordinator)
        self.coordinator_restarts += 1

    async def _start_worker(self, worker_id: str, model: NodeModel) -> None:
        node = self.nodes.get(worker_id) or SimNode(worker_id, model, self)
        self.nodes[worker_id] = node
        self.network.meters[worker_id] = node.meter
        worker = Worker(
            worker_id,
            self.config.worker,
            self.registry_ref(worker_id),
            node.env,
            cache_dir=Path("/nonexistent/ringcache-sim") / worker_id,
            lease_ttl=self.config.lease_ttl,
            host=f"sim-{len(self.nodes)}",
            peers=self.peers.seen_from(worker_id),
        )
        node.worker = worker
        if node.endpoint is None:
            node.endpoint = Endpoint(worker_id, worker)
            self.peers.add(node.endpoint)
        else:
            node.endpoint.restart(worker)
        await worker.start()

    def _new_worker_id(self) -> str:
        return f"worker-{uuid.UUID(int=self._ids.getrandbits(128), version=4)}"

    def _model(self, index: int) -> NodeModel:
        model = self.spec.node
        if index in self._slow:
            model = replace(model, slowdown=model.slowdown * self.spec.slowdown)
        return model

    # -- observation -----------------------------------------------------------------------

    def store(self, worker_id: str) -> PageStore:
        store = self.nodes[worker_id].store
        if store is None:
            raise InvalidArgument(f"{worker_id} never started")
        return store

    def ufs_bytes_read(self) -> int:
        nodes = [self.coordinator_node, *(self.nodes[w] for w in sorted(self.nodes))]
        return sum(node.ufs.bytes_read for node in nodes)

    def unmetered_io(self) -> int:
        """Charges made outside `run_io` (should be 0: nobody slept for them)."""
        nodes = [self.coordinator_node, *self.nodes.values()]
        return sum(node.meter.unmetered for node in nodes)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, and restore it as it was.

    A run keeps millions of long-lived objects (cached-file records, paths) and allocates
    millions of short-lived ones (tasks, futures); each full collection walks all the
    long-lived ones again. Measured on a 1,000-worker, 300,000-file load: the collector
    took about half the run's CPU time, and a collection after it found 0 unreachable
    objects: the run's garbage is freed by reference counting alone.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
