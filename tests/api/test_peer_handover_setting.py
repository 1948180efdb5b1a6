"""`[worker] peer_handover`: with it off, a rebalance between workers on one host moves the
files over the peers' data servers (HTTP) and never asks a peer to hand its files over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.config import WorkerConfig
from ringcache.dataserver.peer_handover_client import SameHostPeers
from tests.api.jobs_helpers import api_for, files_on_disk, wait_job
from tests.api.policy_helpers import wait_index_in_step
from tests.api.test_rebalance_api import join, owners_now
from tests.conftest import write_tree


@pytest.mark.parametrize("handover", [True, False])
def test_a_rebalance_hands_files_over_only_with_the_setting_on(
    cluster_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handover: bool
) -> None:
    asked: list[str] = []
    original = SameHostPeers.hand_over

    def hand_over(self, peer, address, asks):  # type: ignore[no-untyped-def]
        asked.append(peer)
        return original(self, peer, address, asks)

    monkeypatch.setattr(SameHostPeers, "hand_over", hand_over)
    worker = WorkerConfig(
        cache_dir=tmp_path / "cache",
        page_size=64 * 1024,
        heartbeat_interval=0.2,
        http_port=0,
        data_host="127.0.0.1",
        peer_handover=handover,
    )
    cluster = cluster_factory(worker=worker)
    tree = write_tree(tmp_path / "ufs", {f"f{i:03d}.bin": os.urandom(3000 + i) for i in range(60)})
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"}).status_code == 200
    api.post("/load", json={"paths": ["/data"], "alias": "all"})
    assert wait_job(api, "load", alias="all")["state"] == "SUCCEEDED"
    sizes = files_on_disk(tree)
    before = owners_now(cluster, sizes)
    join(cluster)
    moved = {uri for uri, owners in owners_now(cluster, sizes).items() if owners != before[uri]}
    assert moved
    assert api.post("/rebalance", json={"target": "ALL"}).status_code == 200
    job = wait_job(api, "rebalance", target="ALL")
    assert job["state"] == "SUCCEEDED", job
    assert job["loadedBytes"] == sum(sizes[uri] for uri in moved)
    assert bool(asked) is handover
    wait_index_in_step(cluster, "a rebalance")  # copies of either kind reach the file index
