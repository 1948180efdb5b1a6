"""TTL and the cache filter, as a reader and a load job see them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.cluster.policies import PolicyConfig
from ringcache.local import LocalCluster
from tests.api.policy_helpers import cached, indexed, load, mounted_cluster, post, wait_rules
from tests.conftest import wait_for, write_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "ufs",
        {
            "tmp/a.bin": os.urandom(5000),
            "tmp/deep/b.bin": os.urandom(70_000),
            "keep/c.bin": os.urandom(3000),
            "tables/t.csv": b"a,b\n1,2\n",
            "tables/fixed.txt": b"version one\n",
        },
    )


def under(tree: Path, folder: str) -> Callable[[str], bool]:
    return lambda path: path.startswith(f"file://{tree}/{folder}/")


def stored(worker, uri: str) -> Callable[[], bool]:
    """Whether `worker` holds every page of `uri`."""

    def check() -> bool:
        info = worker.store.file_info(uri)
        return info is not None and info.complete

    return check


def test_data_under_a_two_second_ttl_is_gone_after_the_scan(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    post(api, "/ttl", {"path": "/data/tmp", "time": "2s"})
    wait_rules(cluster, lambda p: p.ttl_for("/data/tmp/x") == 2, "the TTL rule")
    loaded_at = time.monotonic()
    assert load(api, "all", "/data")["state"] == "SUCCEEDED"
    assert sum(map(under(tree, "tmp"), cached(cluster))) == 2
    wait_for(
        lambda: not any(map(under(tree, "tmp"), cached(cluster))),
        timeout=6,
        what="the TTL scan to drop /data/tmp",
    )
    assert time.monotonic() - loaded_at >= 1.9  # not before its time
    assert any(map(under(tree, "keep"), cached(cluster)))  # no TTL there: kept
    wait_for(
        lambda: not any(map(under(tree, "tmp"), indexed(cluster))),
        what="the file index to forget the expired copies",
    )


def test_expired_data_is_a_miss_on_read_before_any_scan(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    slow_scan = PolicyConfig(ttl={"scan_interval": "1h"})
    cluster, api = mounted_cluster(cluster_factory, tree, workers=1, policies=slow_scan)
    post(api, "/ttl", {"path": "/data/keep", "time": "500ms"})
    wait_rules(cluster, lambda p: p.ttl_for("/data/keep/x") == 0.5, "the TTL rule")
    client = connect(cluster=cluster)
    (worker,) = cluster.workers.values()
    uri = f"file://{tree}/keep/c.bin"
    client.read(uri)
    first = worker.store.file_info(uri).cached_at
    misses = worker.counters["misses"]
    client.read(uri)
    assert worker.counters["misses"] == misses  # fresh: a hit
    time.sleep(0.6)
    assert client.read(uri) == (tree / "keep/c.bin").read_bytes()
    assert worker.counters["misses"] == misses + 1  # expired: read from the UFS again
    assert worker.store.file_info(uri).cached_at > first  # and cached afresh


def test_a_skip_cache_file_is_never_on_any_worker(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    client = connect(cluster=cluster)
    client.read("/data/tmp/a.bin")  # cached before the rule: the rule drops it
    post(api, "/cache-filter", {"pattern": ".*/ufs/tmp/.*", "rule": "skipCache"})
    wait_rules(
        cluster, lambda p: p.cache_rule_for(f"file://{tree}/tmp/a.bin")[0] == "skipCache", "rule"
    )
    job = load(api, "all", "/data")
    assert job["state"] == "SUCCEEDED", job
    assert (job["skippedFiles"], job["skippedBytes"]) == (2, 75_000)
    assert job["loadedBytes"] == 3000 + 8 + 12
    for name in ("tmp/a.bin", "tmp/deep/b.bin"):
        assert client.read(f"/data/{name}") == (tree / name).read_bytes()  # served
    assert (
        client.read("/data/tmp/deep/b.bin", 60_000, 100)
        == (tree / "tmp/deep/b.bin").read_bytes()[60_000:60_100]
    )
    assert not any(map(under(tree, "tmp"), cached(cluster)))
    assert any(map(under(tree, "keep"), cached(cluster)))
    wait_for(lambda: indexed(cluster) == cached(cluster), what="the index in step")


def test_a_max_age_file_is_served_from_cache_then_revalidated_and_reloaded(
    cluster_factory: Callable[..., LocalCluster], tree: Path
) -> None:
    cluster, api = mounted_cluster(cluster_factory, tree)
    post(api, "/cache-filter", {"pattern": r".*\.csv", "rule": "maxAge", "time": "1s"})
    wait_rules(cluster, lambda p: p.cache_rule_for(f"file://{tree}/t.csv")[0] == "maxAge", "rule")
    client = connect(cluster=cluster)
    csv, txt = tree / "tables/t.csv", tree / "tables/fixed.txt"
    assert client.read("/data/tables/t.csv") == b"a,b\n1,2\n"
    assert client.read("/data/tables/fixed.txt") == b"version one\n"
    cached_at = time.monotonic()
    for path in (csv, txt):  # a miss is stored just after it is answered: stored, then changed
        owner = cluster.workers[client.owners(f"/data/tables/{path.name}")[0]]
        wait_for(stored(owner, f"file://{path}"), what=f"{path.name} stored")
    csv.write_bytes(b"a,b\n1,2\n3,4\n")
    txt.write_bytes(b"version two\n")
    os.utime(csv, (1, 1))  # another mtime too, whatever the file system's resolution
    os.utime(txt, (1, 1))
    assert client.read("/data/tables/t.csv") == b"a,b\n1,2\n"  # within maxAge: the cache
    assert time.monotonic() - cached_at < 1
    time.sleep(1.1)
    assert client.read("/data/tables/t.csv") == b"a,b\n1,2\n3,4\n"  # revalidated: reloaded
    owner = cluster.workers[client.owners("/data/tables/t.csv")[0]]
    assert owner.store.file_info(f"file://{csv}").version.size == 12
    # The default rule is immutable: the changed text file is never revalidated.
    assert client.read("/data/tables/fixed.txt") == b"version one\n"
