"""Ray workers on an etcd registry are published where Alluxio clients look for them."""

from __future__ import annotations

import pytest
import ray

from ringcache.actors.bootstrap import start_cluster
from ringcache.config import ClusterConfig
from tests.conftest import wait_for
from tests.etcd_fixture import published

pytestmark = pytest.mark.ray


def test_ray_workers_on_etcd_are_published_alluxios_way(
    ray_config: ClusterConfig, etcd_url: str, etcd_reader
) -> None:
    config = ray_config.model_copy(update={"registry": etcd_url})
    cluster = start_cluster(config, workers=2)
    entries = published(etcd_reader)
    assert sorted(entries) == sorted(cluster.workers)
    for node in cluster.coordinator.call_sync("list_nodes"):
        host, port = node["dataAddress"].rsplit(":", 1)
        address = entries[node["id"]][0]["WorkerNetAddress"]
        assert (address["Host"], address["HttpServerPort"]) == (host, int(port))
    victim = sorted(cluster.workers)[0]
    ray.kill(cluster.workers[victim].handle, no_restart=True)
    wait_for(lambda: victim not in published(etcd_reader), timeout=20, what="lease lapse")
    assert sorted(published(etcd_reader)) == sorted(set(cluster.workers) - {victim})
