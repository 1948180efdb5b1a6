"""Priority eviction: levels follow the rules on load, on read-miss and when rules change."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for
from tests.api.policy_helpers import load, mounted_cluster, post, wait_rules
from tests.conftest import wait_for, write_tree

PAGE = 4096


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"high/h{i}.bin": os.urandom(2 * PAGE) for i in range(2)}
    files.update({f"low/l{i}.bin": os.urandom(2 * PAGE) for i in range(3)})
    files.update({f"mid/m{i}.bin": os.urandom(2 * PAGE) for i in range(2)})
    return write_tree(tmp_path / "ufs", files)


def pages_of(cluster: LocalCluster, uri: str) -> int:
    (worker,) = cluster.workers.values()
    info = worker.store.file_info(uri)
    return 0 if info is None else info.pages


def test_under_memory_pressure_low_goes_first_and_rule_changes_move_cached_files(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    # One worker with room for exactly ten pages: the HIGH and LOW files fill it.
    cluster, api = mounted_cluster(
        cluster_factory, tree, workers=1, page_size=PAGE, capacity=10 * PAGE
    )
    post(api, "/priority", {"path": "/data/high", "priority": "HIGH"})
    post(api, "/priority", {"path": "/data/low", "priority": "LOW"})
    wait_rules(cluster, lambda p: p.priority_for("/data/low/x") == "LOW", "the LOW rule")
    assert load(api, "high", "/data/high")["state"] == "SUCCEEDED"  # the oldest data
    assert load(api, "low", "/data/low")["state"] == "SUCCEEDED"
    high = [f"file://{tree}/high/h{i}.bin" for i in range(2)]
    low = [f"file://{tree}/low/l{i}.bin" for i in range(3)]
    (worker,) = cluster.workers.values()
    assert {worker.store.file_info(uri).priority for uri in high} == {"HIGH"}
    assert {worker.store.file_info(uri).priority for uri in low} == {"LOW"}

    client = connect(cluster=cluster)
    mid = f"file://{tree}/mid/m0.bin"
    assert client.read(mid) == (tree / "mid/m0.bin").read_bytes()
    # A miss is answered first, then stored.
    wait_for(lambda: pages_of(cluster, mid) == 2, what="the read-through pages stored")
    # Room for the MEDIUM file came from LOW data, though the HIGH data is older.
    assert [pages_of(cluster, uri) for uri in high] == [2, 2]
    assert sum(pages_of(cluster, uri) for uri in low) == 6 - 2

    # Swap the levels: files already cached move, and now the old HIGH data goes first.
    post(api, "/priority", {"path": "/data/high", "priority": "LOW"})
    post(api, "/priority", {"path": "/data/low", "priority": "HIGH"})

    def levels(uris: list[str]) -> set[str]:
        return {info.priority for uri in uris if (info := worker.store.file_info(uri))}

    wait_for(  # both moves: a LOW file not yet moved up would be evicted first
        lambda: levels(high) == {"LOW"} and levels(low) == {"HIGH"},
        what="cached HIGH files moved to LOW and LOW files to HIGH",
    )
    low_pages = sum(pages_of(cluster, uri) for uri in low)
    assert client.read(f"file://{tree}/mid/m1.bin") == (tree / "mid/m1.bin").read_bytes()
    wait_for(lambda: pages_of(cluster, f"file://{tree}/mid/m1.bin") == 2, what="its pages")
    assert sum(pages_of(cluster, uri) for uri in high) == 4 - 2
    assert sum(pages_of(cluster, uri) for uri in low) == low_pages


def test_a_read_miss_caches_at_the_rules_level(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree, workers=1, page_size=PAGE)
    post(api, "/priority", {"path": "/data/low", "priority": "LOW"})
    wait_rules(cluster, lambda p: p.priority_for("/data/low/x") == "LOW", "the LOW rule")
    client = connect(cluster=cluster)
    client.read("/data/low/l0.bin", 0, 10)  # one page, cached on the miss
    client.read("/data/mid/m0.bin")  # read by the client itself, noted to the worker after
    client.local.flush_notes()
    (worker,) = cluster.workers.values()
    assert worker.store.file_info(f"file://{tree}/low/l0.bin").priority == "LOW"
    mid = f"file://{tree}/mid/m0.bin"
    wait_for(lambda: worker.store.file_info(mid) is not None, what="the note of m0.bin")
    assert worker.store.file_info(mid).priority == "MEDIUM"
    # Removing the rule puts the file back at the default level.
    assert api.request("DELETE", "/priority", json={"path": "/data/low"}).status_code == 200
    wait_for(
        lambda: worker.store.file_info(f"file://{tree}/low/l0.bin").priority == "MEDIUM",
        what="the file back at MEDIUM",
    )


def test_a_load_from_a_remote_store_caches_at_the_rules_level(
    cluster_factory: Callable[..., LocalCluster],
) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"/prio-{os.getpid()}"
    memory.pipe({f"{root}/low/big.bin": os.urandom(10 * PAGE), f"{root}/mid/m.bin": b"x"})
    memory.pipe(f"{root}/low/empty.bin", b"")
    cluster = cluster_factory(workers=1, page_size=PAGE)
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/r", "ufs": f"memory://{root}"}).status_code == 200
    post(api, "/priority", {"path": "/r/low", "priority": "LOW"})
    wait_rules(cluster, lambda p: p.priority_for("/r/low/x") == "LOW", "the LOW rule")
    assert load(api, "remote", "/r")["state"] == "SUCCEEDED"
    (worker,) = cluster.workers.values()
    big = worker.store.file_info(f"memory://{root}/low/big.bin")  # two ranged reads
    assert (big.priority, big.complete, big.pages) == ("LOW", True, 10)
    assert worker.store.file_info(f"memory://{root}/low/empty.bin").priority == "LOW"
    assert worker.store.file_info(f"memory://{root}/mid/m.bin").priority == "MEDIUM"
    memory.rm(root, recursive=True)
