"""The REST API served over HTTP by uvicorn in a thread, for clients in other processes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ringcache.cluster.config import ApiConfig
from ringcache.http.app import create_app
from ringcache.local import LocalCluster


@contextmanager
def serving_rest(cluster: LocalCluster, api: ApiConfig | None = None) -> Iterator[str]:
    """`http://127.0.0.1:PORT`, where the cluster's REST API (admitting calls as `api`
    says) answers until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(cluster.coordinator_ref, api), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
