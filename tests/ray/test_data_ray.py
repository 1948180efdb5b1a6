"""The data path on a real Ray cluster: Ray carries control, the bytes go over the
workers' data servers (HTTP) or straight from their cache files (same host)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.actors.bootstrap import RayCluster
from ringcache.client.client import connect
from tests.conftest import wait_for, write_tree

pytestmark = pytest.mark.ray

PAGE = 64 * 1024  # the test clusters' page size


def test_ray_workers_serve_byte_exact_reads_over_http_and_short_circuit(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    files = {f"s{size}.bin": os.urandom(size) for size in (0, 1, PAGE, PAGE + 1, 5 * PAGE + 3)}
    tree = write_tree(tmp_path / "ufs", files)
    ray_cluster.coordinator.call_sync("add_mount", "/data", f"file://{tree}", {})
    nodes = ray_cluster.coordinator.call_sync("list_nodes")
    assert len({n["dataAddress"] for n in nodes}) == 3
    assert all(n["dataAddress"].startswith("127.0.0.1:") for n in nodes)  # one machine
    namespace = ray_cluster.config.namespace
    for short_circuit in (False, True):
        client = connect(namespace=namespace, short_circuit=short_circuit, remember=False)
        for name, data in files.items():
            assert client.read(f"/data/{name}") == data, (short_circuit, name)
            for offset, length in [(0, 1), (PAGE - 1, 2), (3, 3 * PAGE), (len(data), 4)]:
                assert client.read(f"/data/{name}", offset, length) == data[offset:][:length]
    # Same-host reads of files their owner published are counted once the client's notes
    # of them arrive.
    assert client.local is not None
    client.local.flush_notes()

    def reads() -> list[dict]:
        return [n["reads"] for n in ray_cluster.coordinator.call_sync("list_nodes")]

    total = sum(map(len, files.values()))
    wait_for(lambda: sum(r["bytesServed"] for r in reads()) >= 2 * total, what="bytes served")
    assert sum(r["hits"] for r in reads()) > 0
