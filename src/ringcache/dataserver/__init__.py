"""A worker's data server: Alluxio's worker HTTP API over the worker's reads.

Outside `cluster/`, which holds no HTTP server; the runtimes (`local.py`, the Ray worker
shell) bind a port before the worker starts, so the worker registers its data address,
and serve once it has started.
"""

from __future__ import annotations

import socket

from ..cluster.worker.worker import Worker
from .alluxio import AlluxioWorkerApi, file_id
from .server import DEFAULT_PORT, DataServer, bind_socket

__all__ = ["DEFAULT_PORT", "AlluxioWorkerApi", "DataServer", "bind_socket", "file_id", "serve"]


async def serve(worker: Worker, sock: socket.socket) -> DataServer:
    """Serve a started worker's data on `sock` (bound by `bind_socket`)."""
    services = worker.services
    if services is None:
        raise RuntimeError(f"{worker.worker_id} must be started before its data is served")
    api = AlluxioWorkerApi(
        services.reads,
        services.store,
        worker.mount_view,
        worker.env.run_io,
        worker.config.page_size,
    )
    server = DataServer(api.answer, sock)
    await server.start()
    return server
