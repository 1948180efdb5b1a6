"""Ray actor classes: thin shells that host the plain logic of `cluster/`.

Every call arrives through `call(method, ...)`, so the logic classes need no Ray code and
run unchanged in-process and in the simulator. Each shell starts its logic in `__init__`
(Ray runs an async actor's constructor on its event loop), so a restarted actor resumes
on its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from pathlib import Path
from typing import Any

import ray

from ..cluster.clock import RealClock
from ..cluster.coordinator.coordinator import Coordinator
from ..cluster.environment import Environment
from ..cluster.registry import open_registry
from ..cluster.ring.alluxio_discovery import discovery_for_registry
from ..cluster.ufs.factory import ConfinedUfsFactory
from ..cluster.worker.epoch import ChangeEpoch
from ..cluster.worker.peers import PeerAddresses
from ..cluster.worker.worker import Worker, load_or_create_worker_id
from ..config import ClusterConfig
from ..dataserver import HttpPeerPages, bind_socket, data_token, serve
from .refs import RayPeers, RayRef

log = logging.getLogger(__name__)

REGISTRY_NAME = "ringcache-registry"
COORDINATOR_NAME = "ringcache-coordinator"


class ActorShell:
    """Hosts one logic object; `call` waits until it has started, then forwards."""

    logic: Any

    def _begin(self, starting: Any) -> None:
        self._started = asyncio.get_running_loop().create_task(starting)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        await self._started
        return await getattr(self.logic, method)(*args, **kwargs)

    async def ping(self) -> int:
        """Wait until started; the process id (for tests that kill the process)."""
        await self._started
        return os.getpid()


class RegistryActor(ActorShell):
    def __init__(self, state_dir: str, url: str | None = None) -> None:
        self.logic = open_registry(Path(state_dir), RealClock(), url=url)
        self._begin(asyncio.sleep(0))
        self._expiry = asyncio.get_running_loop().create_task(self.logic.run())


class CoordinatorActor(ActorShell):
    def __init__(self, config: ClusterConfig) -> None:
        registry = ray.get_actor(REGISTRY_NAME, namespace=config.namespace)
        self.logic = Coordinator(
            config,
            RayRef(registry, REGISTRY_NAME),
            RayPeers(config.namespace),
            _environment(config),
        )
        self._begin(self.logic.start())


class WorkerActor(ActorShell):
    def __init__(self, config: ClusterConfig, cache_dir: str) -> None:
        registry = RayRef(ray.get_actor(REGISTRY_NAME, namespace=config.namespace), REGISTRY_NAME)
        path = Path(cache_dir)
        context = ray.get_runtime_context()
        host = ray.util.get_node_ip_address() or socket.gethostname()
        data_host = config.worker.data_host or host
        sock = bind_socket(data_host, config.worker.http_port)
        self.logic = Worker(
            load_or_create_worker_id(path),
            config.worker,
            registry,
            _environment(config),
            cache_dir=path,
            lease_ttl=config.lease_ttl,
            host=host,
            ray_node_id=context.get_node_id(),
            peers=RayPeers(config.namespace),
            data_address=f"{data_host}:{sock.getsockname()[1]}",
            change_epoch=ChangeEpoch(path / "change-epoch"),
            discovery=discovery_for_registry(config.registry),
            peer_pages=HttpPeerPages(
                PeerAddresses(registry),
                token=data_token(config),
                handover=config.worker.peer_handover,
            ),
            virtual_nodes=config.virtual_nodes,
            ring_policy=config.ring_policy,
        )
        token = data_token(config)  # here: an unreadable token file fails the start
        self._begin(self._start(sock, token))

    async def _start(self, sock: socket.socket, token: str | None) -> None:
        await self.logic.start()
        self.data_server = await serve(self.logic, sock, token)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = await super().call(method, *args, **kwargs)
        if method == "decommission":
            # Leave once the answer is on its way; a decommissioned worker is not restarted.
            handle = ray.get_runtime_context().current_actor
            leave = functools.partial(ray.kill, handle, no_restart=True)
            asyncio.get_running_loop().call_later(0.2, leave)
        return result


def _environment(config: ClusterConfig) -> Environment:
    """Real time, threads and disks; local UFS reads confined to the allowed roots."""
    return Environment(ufs_factory=ConfinedUfsFactory(config.allowed_local_roots))
