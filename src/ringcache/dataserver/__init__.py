"""A worker's data servers: Alluxio's worker HTTP API, and same-host short-circuit reads.

Outside `cluster/`, which holds no server; the runtimes (`local.py`, the Ray worker
shell) bind a port before the worker starts, so the worker registers its data address,
and serve once it has started.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..cluster.worker.worker import Worker
from .alluxio import AlluxioWorkerApi, file_id
from .local_reads import LocalReadServer, socket_name
from .peer_api import PeerPagesApi
from .peer_client import HttpPeerPages
from .server import DEFAULT_PORT, DataServer, bind_socket

__all__ = [
    "DEFAULT_PORT",
    "AlluxioWorkerApi",
    "DataPlane",
    "DataServer",
    "HttpPeerPages",
    "LocalReadServer",
    "bind_socket",
    "file_id",
    "serve",
    "socket_name",
]


@dataclass
class DataPlane:
    """The servers carrying one worker's bytes: HTTP, and short-circuit reads if it has
    a change epoch for its readers to check."""

    http: DataServer
    local: LocalReadServer | None

    async def stop(self) -> None:
        await self.http.stop()
        if self.local is not None:
            await self.local.stop()

    async def crash(self) -> None:
        """Go away as a crashed worker's would: answers cut mid-way, no goodbye."""
        self.http.abort()
        if self.local is not None:
            await self.local.stop()


async def serve(worker: Worker, sock: socket.socket) -> DataPlane:
    """Serve a started worker's data on `sock` (bound by `bind_socket`), and on its
    short-circuit socket when it keeps a change epoch."""
    services = worker.services
    if services is None:
        raise RuntimeError(f"{worker.worker_id} must be started before its data is served")
    api = AlluxioWorkerApi(
        services.reads,
        services.store,
        worker.mount_view,
        worker.env.run_io,
        worker.config.page_size,
        worker.change_epoch,
    )
    # Peers' page copies (`/v1/peer/...`) are answered beside Alluxio's calls.
    peers = PeerPagesApi(services.store, worker.clock, worker.env.run_io, worker.change_epoch)
    http = DataServer(peers.routing(api.answer), sock)
    await http.start()
    local = None
    if worker.change_epoch is not None:
        local = LocalReadServer(services.reads, worker.change_epoch, worker.worker_id)
        await local.start()
    return DataPlane(http, local)
