"""Rebalance moves bytes between workers over their data servers (the in-process runtime):
with the holders' data servers up, every moved byte comes from a peer; with them gone
(the actors still answering), every file comes from the UFS instead, counters exact."""

from __future__ import annotations

from tests.api.jobs_helpers import files_on_disk, holders, wait_job
from tests.api.test_rebalance_api import join, loaded, owners_now

__all__ = ["loaded"]  # the fixture, shared


def test_pages_move_over_the_data_servers_and_fall_back_to_the_ufs_without_them(loaded) -> None:
    cluster, api, tree = loaded
    sizes = files_on_disk(tree)
    before = owners_now(cluster, sizes)
    old_workers = sorted(cluster.workers)
    join(cluster)
    after = owners_now(cluster, sizes)
    moved = {uri for uri in sizes if after[uri] != before[uri]}
    assert moved

    # The old holders' data servers go away; their actors still list what they hold.
    for worker_id in old_workers:
        cluster.run(cluster.data_servers[worker_id].crash())
    assert api.post("/rebalance", json={"target": "ALL"}).status_code == 200
    job = wait_job(api, "rebalance", target="ALL")
    moved_bytes = sum(sizes[uri] for uri in moved)
    assert job["state"] == "SUCCEEDED", job
    assert job["loadedFiles"] == len(moved) and job["failedFiles"] == 0
    assert job["loadedFromUfsBytes"] == moved_bytes and job["loadedFromPeerBytes"] == 0
    assert {uri: owners for uri, owners in holders(cluster).items()} == after
