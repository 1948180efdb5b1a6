"""A worker's data servers: Alluxio's worker HTTP API, and same-host short-circuit reads.

Outside `cluster/`, which holds no server; the runtimes (`local.py`, the Ray worker
shell) bind a port before the worker starts, so the worker registers its data address,
and serve once it has started.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..cluster.config import ClusterConfig
from ..cluster.worker.worker import Worker
from .alluxio import AlluxioWorkerApi, file_id
from .entries import FileEntries
from .local_reads import LocalReadServer, socket_name
from .peer_api import PeerPagesApi
from .peer_client import HttpPeerPages
from .peer_handover import PeerHandoverServer
from .server import DEFAULT_PORT, DataServer, bind_socket

__all__ = [
    "DEFAULT_PORT",
    "AlluxioWorkerApi",
    "DataPlane",
    "DataServer",
    "HttpPeerPages",
    "LocalReadServer",
    "bind_socket",
    "data_token",
    "file_id",
    "serve",
    "socket_name",
]


@dataclass
class DataPlane:
    """The servers carrying one worker's bytes: HTTP, and short-circuit reads and peers'
    hand-overs if it has a change epoch for its readers to check."""

    http: DataServer
    local: LocalReadServer | None
    handover: PeerHandoverServer | None = None  # data files handed to peers on this host

    async def stop(self) -> None:
        await self.http.stop()
        if self.local is not None:
            await self.local.stop()
        if self.handover is not None:
            await self.handover.stop()

    async def crash(self) -> None:
        """Go away as a crashed worker's would: answers cut mid-way, no goodbye."""
        self.http.abort()
        if self.local is not None:
            await self.local.stop()
        if self.handover is not None:
            await self.handover.stop()


def data_token(config: ClusterConfig) -> str | None:
    """The token the data servers require: the cluster's (REST API) token when one is set,
    unless `worker.http_token_required` is false; None: they are open."""
    return config.api.resolved_token() if config.worker.http_token_required else None


async def serve(worker: Worker, sock: socket.socket, token: str | None = None) -> DataPlane:
    """Serve a started worker's data on `sock` (bound by `bind_socket`), and on its
    short-circuit socket when it keeps a change epoch; with `token`, both require it."""
    services = worker.services
    if services is None:
        raise RuntimeError(f"{worker.worker_id} must be started before its data is served")
    entries = FileEntries(services.store, worker.mount_view, worker.env.run_io)
    api = AlluxioWorkerApi(services.reads, entries, worker.config.page_size, worker.change_epoch)
    # Peers' page copies (`/v1/peer/...`) are answered beside Alluxio's calls.
    peers = PeerPagesApi(services.store, worker.clock, worker.env.run_io, worker.change_epoch)
    http = DataServer(peers.routing(api.answer), sock, token=token)
    await http.start()
    local = handover = None
    if worker.change_epoch is not None:
        local = LocalReadServer(
            services.reads,
            services.told,
            worker.change_epoch,
            worker.worker_id,
            token,
            port=http.port,
            entries=entries,
        )
        await local.start()
        worker.when_rules_read(local.look_at_rules)  # a rule acknowledged binds readers here
        # Peers on this host copy pages from the data files themselves.
        handover = PeerHandoverServer(
            services.store,
            worker.clock,
            worker.change_epoch,
            worker.worker_id,
            token,
            port=http.port,
        )
        await handover.start()
    return DataPlane(http, local, handover)
