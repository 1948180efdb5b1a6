"""A whole in-process cluster with etcd as its registry: membership and jobs recover, and
workers are published where Alluxio clients look for them."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.cluster.registry.etcd_backend import EtcdBackend
from ringcache.cluster.ring.membership import live_key
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, files_on_disk, holders, wait_job, wait_running
from tests.conftest import make_config, wait_for, write_tree
from tests.etcd_fixture import published


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"train/part{i:02d}.bin": os.urandom(2000 * i) for i in range(1, 16)}
    return write_tree(tmp_path / "ufs", files)


@pytest.fixture
def etcd_cluster(tmp_path: Path, etcd_url: str):
    started: list[LocalCluster] = []

    def start(state: str = "state") -> LocalCluster:
        config = make_config(tmp_path, registry=etcd_url, state_dir=tmp_path / state)
        cluster = LocalCluster(config).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def ring_workers(cluster: LocalCluster) -> list[str]:
    return cluster.run(cluster.coordinator_ref.call("ring_snapshot"))["workers"]


def test_workers_join_and_a_lapsed_lease_leaves_the_ring(etcd_cluster) -> None:
    cluster = etcd_cluster()
    assert not (cluster.config.state_dir / "registry.sqlite").exists()  # all in etcd
    assert sorted(ring_workers(cluster)) == sorted(cluster.workers)
    victim = sorted(cluster.workers)[0]
    cluster.kill_worker(victim)  # no goodbye: etcd lapses its lease
    wait_for(lambda: victim not in ring_workers(cluster), timeout=15, what="lease lapse")
    node = api_for(cluster).get("/nodes", params={"id": victim}).json()
    assert node["state"] == "OFFLINE"
    added = cluster.add_worker()
    wait_for(lambda: added in ring_workers(cluster), timeout=10, what="join")


def test_a_load_survives_a_coordinator_restart_and_a_new_cluster_finds_it(
    etcd_cluster, tree: Path
) -> None:
    cluster = etcd_cluster()
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"}).status_code == 200
    slow = {"paths": ["/data"], "alias": "slow", "options": {"batchSize": 1, "bandwidth": "40KB"}}
    assert api.post("/load", json=slow).status_code == 200
    wait_running(api, "load", alias="slow")
    cluster.restart_coordinator()  # the new coordinator reads the job back from etcd
    api = api_for(cluster)
    job = wait_job(api, "load", timeout=60, alias="slow")
    expected = files_on_disk(tree)
    counted = (job["state"], job["scannedFiles"], job["loadedBytes"], set(holders(cluster)))
    assert counted == ("SUCCEEDED", len(expected), sum(expected.values()), set(expected))
    cluster.stop()
    # Another cluster with an empty state directory: the mount and the job come from etcd.
    again = api_for(etcd_cluster(state="elsewhere"))
    assert [m["path"] for m in again.get("/mount").json()["results"]] == ["/data"]
    assert again.get("/load", params={"alias": "slow"}).json()["state"] == "SUCCEEDED"


def test_workers_are_published_alluxios_way_while_they_live(
    etcd_cluster, etcd_reader: EtcdBackend
) -> None:
    cluster = etcd_cluster()
    api = api_for(cluster)
    nodes = cluster.run(cluster.coordinator_ref.call("list_nodes"))
    entries = published(etcd_reader)
    assert sorted(entries) == sorted(cluster.workers)
    for node in nodes:
        entry, lease = entries[node["id"]]
        host, port = node["dataAddress"].rsplit(":", 1)
        assert entry["Identity"] == {
            "version": 1,
            "identifier": uuid.UUID(node["id"].removeprefix("worker-")).hex,
        }
        address = entry["WorkerNetAddress"]
        assert (address["Host"], address["HttpServerPort"]) == (host, int(port))
        assert lease != 0 and lease == etcd_reader.get(live_key(node["id"])).lease

    leaving, killed = sorted(cluster.workers)[:2]
    assert api.delete("/nodes", params={"id": leaving}).status_code == 200
    assert leaving not in published(etcd_reader)  # a graceful leave removes it at once
    cluster.kill_worker(killed)  # no goodbye: the entry goes when etcd lapses the lease
    wait_for(lambda: killed not in published(etcd_reader), timeout=15, what="lease lapse")
    added = cluster.add_worker()
    assert sorted(published(etcd_reader)) == sorted(set(cluster.workers) - {leaving})
    assert added in published(etcd_reader)


def test_the_embedded_registry_publishes_nothing_for_alluxio(cluster_factory) -> None:
    cluster = cluster_factory(workers=2)
    registry = cluster.registry_ref
    assert len(cluster.run(registry.call("range", "/live/"))) == 2
    assert cluster.run(registry.call("range", "/ServiceDiscovery/")) == []


def test_a_live_worker_whose_lease_lapsed_publishes_itself_again(
    etcd_cluster, etcd_reader: EtcdBackend
) -> None:
    cluster = etcd_cluster()
    worker = sorted(cluster.workers)[0]
    _, lease = published(etcd_reader)[worker]
    etcd_reader.revoke(lease)  # as etcd does when keepalives stop reaching it
    assert worker not in published(etcd_reader)

    def again() -> bool:
        entry = published(etcd_reader).get(worker)
        return entry is not None and entry[1] != lease

    wait_for(again, timeout=10, what="the worker's next heartbeat to register again")
    assert etcd_reader.get(live_key(worker)).lease == published(etcd_reader)[worker][1]


def test_a_cluster_on_etcd_caches_an_s3_prefix_and_a_new_coordinator_keeps_its_mount(
    etcd_cluster, s3_server
) -> None:
    """The two real parts together, as a user runs them: etcd holds the state, S3 the data."""
    bucket = s3_server.new_bucket()
    objects = {f"shards/s{i:02d}.bin": os.urandom(3000 * i + 7) for i in range(8)}
    for key, data in objects.items():
        s3_server.client().put_object(Bucket=bucket, Key=f"ds/{key}", Body=data)
    cluster = etcd_cluster()
    api = api_for(cluster)
    body = {"path": "/s3", "ufs": f"s3://{bucket}/ds", "options": s3_server.options()}
    assert api.post("/mount", json=body).status_code == 200
    assert api.post("/load", json={"paths": ["/s3/shards"], "alias": "s3"}).status_code == 200
    job = wait_job(api, "load", alias="s3", timeout=60)
    assert (job["state"], job["loadedBytes"]) == ("SUCCEEDED", sum(map(len, objects.values())))
    expected = {f"s3://{bucket}/ds/{key}": data for key, data in objects.items()}
    assert set(holders(cluster)) == set(expected)
    cluster.restart_coordinator()  # reads the mount table back from etcd
    client = connect(cluster=cluster)
    misses = sum(w.counters["misses"] for w in cluster.workers.values())
    for key, data in objects.items():
        assert client.read(f"/s3/{key}") == data
    assert sum(w.counters["misses"] for w in cluster.workers.values()) == misses  # all cached
    mounts = api_for(cluster).get("/mount").json()["results"]
    assert s3_server.secret not in json.dumps(mounts)
