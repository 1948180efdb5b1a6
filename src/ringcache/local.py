"""The in-process runtime: registry, coordinator and workers as objects on one event loop.

The loop runs in a thread of its own, so synchronous code (tests, the client, a Starlette
`TestClient` with its own loop) talks to the actors through `LocalRef`s as it would to Ray.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .cluster.clock import Clock, RealClock
from .cluster.coordinator.coordinator import Coordinator
from .cluster.environment import Environment
from .cluster.refs import LocalPeers, LocalRef
from .cluster.registry import Registry, open_registry
from .cluster.ring.alluxio_discovery import discovery_for_registry
from .cluster.ufs.factory import ConfinedUfsFactory
from .cluster.ufs.read_ahead import ThreadedReadAhead
from .cluster.worker.epoch import ChangeEpoch
from .cluster.worker.peers import PeerAddresses
from .cluster.worker.worker import Worker, load_or_create_worker_id
from .config import ClusterConfig
from .dataserver import DataPlane, HttpPeerPages, bind_socket, data_token, serve

T = TypeVar("T")


class LocalCluster:
    """A whole cluster in this process, on real disks and a real registry (SQLite, or
    etcd when the config names one)."""

    def __init__(self, config: ClusterConfig, clock: Clock | None = None) -> None:
        self.config = config
        self._read_ahead = ThreadedReadAhead()  # its threads end with the cluster
        self.env = Environment(
            clock=clock or RealClock(),
            ufs_factory=ConfinedUfsFactory(config.allowed_local_roots),
            read_ahead=self._read_ahead,
        )
        self.clock = self.env.clock
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.peers = LocalPeers()
        self.workers: dict[str, Worker] = {}
        self.data_servers: dict[str, DataPlane] = {}
        self.registry: Registry | None = None
        self.coordinator: Coordinator | None = None
        self._next_worker = 0
        self._registry_task: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        self.registry = open_registry(self.config.state_dir, self.clock, url=self.config.registry)
        self._registry_task = self.loop.create_task(self.registry.run())
        for _ in range(self.config.workers):
            await self._add_worker()
        self.coordinator = Coordinator(self.config, self.registry_ref, self.peers, self.env)
        await self.coordinator.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self._read_ahead.close()

    async def _stop(self) -> None:
        if self.coordinator is not None:
            await self.coordinator.stop()
        for worker in self.workers.values():
            await worker.stop()
        for server in self.data_servers.values():
            await server.stop()
        if self.registry is not None:
            self.registry.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self.registry is not None:
            self.registry.close()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run a coroutine on the cluster's loop from any other thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    # -- references ------------------------------------------------------------------------

    @property
    def registry_ref(self) -> LocalRef:
        return LocalRef(self.registry, self.loop)

    @property
    def coordinator_ref(self) -> LocalRef:
        return LocalRef(self.coordinator, self.loop)

    def worker_ref(self, worker_id: str) -> LocalRef:
        return LocalRef(self.workers[worker_id], self.loop)

    # -- membership ------------------------------------------------------------------------

    def add_worker(self) -> str:
        return self.run(self._add_worker())

    async def _add_worker(self) -> str:
        cache_dir = self.config.worker.cache_dir / f"w{self._next_worker}"
        self._next_worker += 1
        worker_id = load_or_create_worker_id(cache_dir)
        host = self.config.worker.data_host or "127.0.0.1"  # a local cluster: this machine
        sock = bind_socket(host, self.config.worker.http_port)
        worker = Worker(
            worker_id,
            self.config.worker,
            self.registry_ref,
            self.env,
            cache_dir=cache_dir,
            lease_ttl=self.config.lease_ttl,
            peers=self.peers,
            data_address=f"{host}:{sock.getsockname()[1]}",
            change_epoch=ChangeEpoch(cache_dir / "change-epoch"),
            discovery=discovery_for_registry(self.config.registry),
            peer_pages=HttpPeerPages(
                PeerAddresses(self.registry_ref),
                token=data_token(self.config),
                handover=self.config.worker.peer_handover,
            ),
            virtual_nodes=self.config.virtual_nodes,
            ring_policy=self.config.ring_policy,
        )
        await worker.start()
        self.data_servers[worker_id] = await serve(worker, sock, data_token(self.config))
        self.workers[worker_id] = worker
        self.peers.refs[worker_id] = LocalRef(worker, self.loop)
        return worker_id

    def restart_coordinator(self) -> None:
        """Replace the coordinator with a new one over the same registry, as after a crash."""
        self.run(self._restart_coordinator())

    async def _restart_coordinator(self) -> None:
        await self.coordinator.stop()
        self.coordinator = Coordinator(self.config, self.registry_ref, self.peers, self.env)
        await self.coordinator.start()

    def kill_worker(self, worker_id: str) -> None:
        """Stop a worker the way a crash would: no goodbye, its lease simply lapses."""
        worker = self.workers.pop(worker_id)
        self.peers.refs.pop(worker_id, None)
        self.run(self.data_servers.pop(worker_id).crash())  # answers cut mid-way, as a crash
        self.run(worker.stop())
