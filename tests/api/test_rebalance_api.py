"""`/api/v1/rebalance` and `/api/v1/cache` over the in-process runtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, files_on_disk, holders, wait_job, wait_running
from tests.conftest import wait_for, write_tree


@pytest.fixture
def loaded(cluster: LocalCluster, tmp_path: Path):
    tree = write_tree(
        tmp_path / "ufs", {f"d{i % 4}/f{i:03d}.bin": os.urandom(2000 + 37 * i) for i in range(120)}
    )
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"}).status_code == 200
    api.post("/load", json={"paths": ["/data"], "alias": "all"})
    assert wait_job(api, "load", alias="all")["state"] == "SUCCEEDED"
    return cluster, api, tree


def join(cluster: LocalCluster) -> str:
    """Add a worker and wait until the coordinator's ring has it."""
    added = cluster.add_worker()

    def ring() -> list[str]:
        return cluster.run(cluster.coordinator_ref.call("ring_snapshot"))["workers"]

    wait_for(lambda: added in ring(), 10, "the new worker in the ring")
    return added


def owners_now(cluster: LocalCluster, uris, replicas: int = 1) -> dict[str, set[str]]:
    client = connect(cluster=cluster)
    client.refresh()
    return {uri: set(client.owners(uri, replicas)) for uri in uris}


def test_scale_out_moves_only_what_changed_owner(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    before = owners_now(cluster, sizes)
    added = join(cluster)
    after = owners_now(cluster, sizes)
    moved = {uri for uri in sizes if after[uri] != before[uri]}
    assert moved and all(after[uri] == {added} for uri in moved)

    answer = api.post("/rebalance", json={"target": "ALL"})
    assert answer.status_code == 200, answer.text
    job = wait_job(api, "rebalance", target="ALL")
    assert job["state"] == "SUCCEEDED", job
    assert job["scannedFiles"] == len(sizes)
    moved_bytes = sum(sizes[uri] for uri in moved)
    assert job["loadedFiles"] == len(moved) and job["loadedBytes"] == moved_bytes
    assert job["loadedFromPeerBytes"] == moved_bytes and job["loadedFromUfsBytes"] == 0
    assert job["prunedFiles"] == len(moved) and job["prunedBytes"] == moved_bytes
    assert {uri: owners for uri, owners in holders(cluster).items()} == after


def test_skip_prune_keeps_the_old_copies(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    before = owners_now(cluster, sizes)
    join(cluster)
    after = owners_now(cluster, sizes)
    body = {"target": "ALL", "options": {"skipPrune": True, "loadBatchSize": 5}}
    assert api.post("/rebalance", json=body).status_code == 200
    job = wait_job(api, "rebalance", target="ALL")
    assert job["state"] == "SUCCEEDED" and job["prunedFiles"] == 0
    held = holders(cluster)
    for uri in sizes:
        assert held[uri] == before[uri] | after[uri], uri


def test_one_target_loads_only_onto_it(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    added = join(cluster)
    after = owners_now(cluster, sizes)
    assert api.post("/rebalance", json={"target": added}).status_code == 200
    job = wait_job(api, "rebalance", target=added)
    assert job["state"] == "SUCCEEDED" and job["target"] == added
    mine = {uri for uri, owners in after.items() if added in owners}
    assert {uri for uri, owners in holders(cluster).items() if added in owners} == mine
    # only the target prunes: the others keep the copies they no longer own
    assert job["prunedFiles"] == 0


def test_a_worker_removed_while_reads_go_on(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    victim = sorted(cluster.workers)[0]
    assert api.delete("/nodes", params={"id": victim}).status_code == 200
    client = connect(cluster=cluster)
    client.refresh()
    for uri in list(sizes)[:40]:  # a miss on the new owner reads the UFS: never fails
        assert client.read(uri) == Path(uri.removeprefix("file://")).read_bytes()
    assert api.post("/rebalance", json={"target": "ALL"}).status_code == 200
    assert wait_job(api, "rebalance", target="ALL")["state"] == "SUCCEEDED"
    after = owners_now(cluster, sizes)
    held = holders(cluster)
    for uri in sizes:  # the victim's files were re-loaded on their new owners
        assert held[uri] - {victim} == after[uri], uri
    job = api.get("/rebalance", params={"target": "ALL"}).json()
    assert job["loadedFromUfsBytes"] > 0  # nobody live held the victim's files


def test_stop_resume_409_410_and_bad_requests(loaded) -> None:
    cluster, api, _ = loaded
    join(cluster)
    slow = {"target": "ALL", "options": {"loadBatchSize": 1, "loadBandwidth": "20KB"}}
    assert api.post("/rebalance", json=slow).status_code == 200
    wait_running(api, "rebalance", min_scanned=0, target="ALL")
    again = api.post("/rebalance", json=slow)
    assert again.status_code == 409 and again.json()["state"] in ("RUNNING", "WAITING")
    stopped = api.request("DELETE", "/rebalance", json={"target": "ALL"})
    assert stopped.status_code == 200 and stopped.json()["state"] == "STOPPED"
    assert api.request("DELETE", "/rebalance", json={"target": "ALL"}).status_code == 410
    resumed = api.post("/rebalance", json={"target": "ALL"})
    assert resumed.status_code == 409 and "resumes" in resumed.json()["status"]
    assert wait_job(api, "rebalance", timeout=60, target="ALL")["state"] == "SUCCEEDED"
    for body in (None, "{}", '{"target": 3}', '{"target": "worker-nobody"}',
                 '{"target": "ALL", "options": {"loadBatchSize": 0}}',
                 '{"target": "ALL", "options": {"skipPrune": "no"}}',
                 '{"target": "ALL", "extra": 1}'):  # fmt: skip
        answer = api.post("/rebalance", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400, (body, answer.text)
    assert api.get("/rebalance", params={"target": "worker-nobody"}).status_code == 404
    assert api.request("DELETE", "/rebalance", json={"id": "nope"}).status_code == 410
    assert len(api.get("/rebalance").json()["results"]) == 1


def test_clear_stale_after_replicas_went_down(cluster: LocalCluster, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "ufs", {f"f{i}.bin": os.urandom(500) for i in range(30)})
    api = api_for(cluster)
    api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"})
    api.post("/load", json={"paths": ["/data"], "alias": "r2", "options": {"replicas": 2}})
    assert wait_job(api, "load", alias="r2")["state"] == "SUCCEEDED"
    sizes = files_on_disk(tree)
    assert all(len(owners) == 2 for owners in holders(cluster).values())
    answer = api.post("/cache", json={"op": "clearStale"})
    assert answer.status_code == 200 and answer.json() == {"errors": {}}
    first = owners_now(cluster, sizes, 1)
    wait_for(lambda: holders(cluster) == first, 10, "stale copies dropped")
    assert api.request("DELETE", "/cache", json={"op": "clearStale"}).json() == {"errors": {}}
    assert api.post("/cache", json={"op": "compact"}).status_code == 501
    assert api.post("/cache", json={}).status_code == 400
    assert api.post("/cache").status_code == 400


def test_clear_stale_names_unreachable_workers(cluster: LocalCluster) -> None:
    api = api_for(cluster)
    victim = sorted(cluster.workers)[0]
    cluster.peers.refs.pop(victim)  # alive in the ring, but no longer answering
    errors = api.post("/cache", json={"op": "clearStale"}).json()["errors"]
    assert list(errors) == [victim] and errors[victim]


def test_a_coordinator_restart_mid_rebalance_finishes(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    join(cluster)
    after = owners_now(cluster, sizes)
    slow = {"target": "ALL", "options": {"loadBatchSize": 1, "loadBandwidth": "30KB"}}
    first = api.post("/rebalance", json=slow).json()
    wait_running(api, "rebalance", min_scanned=0, target="ALL")
    cluster.restart_coordinator()
    api = api_for(cluster)
    job = wait_job(api, "rebalance", timeout=90, target="ALL")
    assert job["id"] == first["id"] and job["state"] == "SUCCEEDED", job
    assert holders(cluster) == after
