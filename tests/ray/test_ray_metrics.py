"""`GET /metrics` over a real Ray cluster: the same app, the counters of Ray workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from ringcache.actors.bootstrap import RayCluster
from ringcache.client.client import connect
from ringcache.http.app import create_app

pytestmark = pytest.mark.ray


def test_metrics_show_what_the_ray_workers_count(ray_cluster: RayCluster, data_dir: Path) -> None:
    api = TestClient(create_app(ray_cluster.coordinator), base_url="http://test")
    mount = {"path": "/data", "ufs": f"file://{data_dir}"}
    assert api.post("/api/v1/mount", json=mount).status_code == 200
    client = connect(namespace=ray_cluster.config.namespace, short_circuit=False)
    path = "/data/nested/deep/b.bin"
    for _ in range(2):  # misses, then hits
        assert client.read(path) == (data_dir / "nested/deep/b.bin").read_bytes()
    owner = client.owners(path)[0]
    stats = ray_cluster.workers[owner].call_sync("stats")
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    by_owner = (("worker", owner),)
    assert stats["hits"] > 0 and stats["misses"] > 0
    assert samples[("ringcache_cache_hits_total", by_owner)] == stats["hits"]
    assert samples[("ringcache_cache_misses_total", by_owner)] == stats["misses"]
    assert samples[("ringcache_ufs_read_bytes_total", by_owner)] == 300_000
    assert samples[("ringcache_cache_used_bytes", by_owner)] == stats["usedBytes"]
    assert samples[("ringcache_workers", (("state", "ONLINE"),))] == 3
