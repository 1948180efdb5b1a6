"""A cluster with a token: its data servers (HTTP and short-circuit) require it too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.client.data import HttpDataPath, Unauthorized
from ringcache.client.local_reads import LocalReads
from ringcache.cluster.config import ApiConfig
from ringcache.local import LocalCluster
from tests.conftest import make_config, write_tree

TOKEN = "data-plane-s3cret"


def mounted(cluster: LocalCluster, tmp_path: Path) -> tuple[str, bytes]:
    data = os.urandom(200_000)
    tree = write_tree(tmp_path / "ufs", {"a.bin": data})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    return f"file://{tree}/a.bin", data


def test_without_the_token_data_calls_are_refused_with_it_they_answer(
    cluster_factory, tmp_path: Path
) -> None:
    cluster: LocalCluster = cluster_factory(workers=1, api=ApiConfig(token=TOKEN))
    uri, data = mounted(cluster, tmp_path)
    ((worker_id, worker),) = cluster.workers.items()
    address = worker.data_address
    with pytest.raises(Unauthorized, match="token"):
        HttpDataPath().read(address, uri, 0, None)
    with pytest.raises(Unauthorized):
        HttpDataPath("wrong").read(address, uri, 0, 10)
    with pytest.raises(Unauthorized):
        LocalReads().read(worker_id, uri, 0, 10, address)
    with pytest.raises(Unauthorized):
        LocalReads("wrong").read(worker_id, uri, 0, 10, address)
    with pytest.raises(Unauthorized):
        LocalReads().info(worker_id, uri, address)
    assert worker.counters["bytesServed"] == 0  # nothing was read for them
    assert HttpDataPath(TOKEN).read(address, uri, 5, 100) == data[5:105]
    assert LocalReads(TOKEN).read(worker_id, uri, 0, None, address) == data
    assert LocalReads(TOKEN).info(worker_id, uri, address)["mLength"] == len(data)
    # The client sends it on both paths.
    for short_circuit in (True, False):
        client = connect(cluster=cluster, token=TOKEN, short_circuit=short_circuit, remember=False)
        assert client.read("/data/a.bin", 7, 70_000) == data[7:70_007]
    tokenless = connect(cluster=cluster, short_circuit=False, ufs_fallback=False, remember=False)
    with pytest.raises(Unauthorized):
        tokenless.read("/data/a.bin")


def test_data_servers_stay_open_when_told_the_token_is_not_required(tmp_path: Path) -> None:
    config = make_config(tmp_path, workers=1, api=ApiConfig(token=TOKEN))
    config.worker.http_token_required = False
    with LocalCluster(config) as cluster:
        uri, data = mounted(cluster, tmp_path)
        ((worker_id, worker),) = cluster.workers.items()
        assert HttpDataPath().read(worker.data_address, uri, 0, None) == data
        assert LocalReads().read(worker_id, uri, 0, 10, worker.data_address) == data[:10]
