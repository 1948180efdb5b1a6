"""Helpers for the policy behaviour tests: a mounted cluster, what workers hold, the index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from ringcache.cluster.policies import PolicyConfig
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, wait_job
from tests.conftest import wait_for

FAST_SCAN = PolicyConfig(ttl={"scan_interval": 0.3})


def mounted_cluster(
    cluster_factory: Callable[..., LocalCluster], tree: Path, **overrides: object
) -> tuple[LocalCluster, TestClient]:
    """A cluster (fast TTL scans unless told otherwise) with `tree` mounted at /data."""
    overrides.setdefault("policies", FAST_SCAN)
    cluster = cluster_factory(**overrides)
    api = api_for(cluster)
    answer = api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"})
    assert answer.status_code == 200, answer.text
    return cluster, api


def post(api: TestClient, endpoint: str, body: dict) -> dict:
    answer = api.post(endpoint, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def load(api: TestClient, alias: str, *paths: str, **options: object) -> dict:
    body = {"paths": list(paths), "alias": alias, "options": options}
    assert api.post("/load", json=body).status_code == 200
    return wait_job(api, "load", alias=alias)


def cached(cluster: LocalCluster) -> dict[str, dict[str, int]]:
    """UFS path -> {worker id: bytes it holds}, for every file some worker holds bytes of."""
    held: dict[str, dict[str, int]] = {}
    for worker_id, worker in cluster.workers.items():
        for info in worker.store.list_files(limit=1_000_000):
            if info.cached_bytes or info.complete:
                held.setdefault(info.path, {})[worker_id] = info.cached_bytes
    return held


def cached_bytes_under(cluster: LocalCluster, root: str) -> int:
    return sum(
        size
        for path, by in cached(cluster).items()
        if path.startswith(root)
        for size in by.values()
    )


def indexed(cluster: LocalCluster) -> dict[str, dict[str, int]]:
    """The coordinator's file index in the shape of `cached`."""
    index = cluster.coordinator.file_index
    found: dict[str, dict[str, int]] = {}
    for entry in index.list(count=10_000):
        for worker_id in entry["workers"]:
            size = index.held_bytes(worker_id, [entry["path"]]).get(entry["path"])
            if size is not None:  # else dropped since the listing
                found.setdefault(entry["path"], {})[worker_id] = size
    return found


def wait_index_in_step(cluster: LocalCluster, what: str) -> dict[str, dict[str, int]]:
    """Wait until the file index says exactly what the workers hold; return it."""

    def agree() -> dict | bool:
        truth = cached(cluster)
        return truth if indexed(cluster) == truth else False

    return wait_for(agree, timeout=10, what=f"the file index in step after {what}")


def wait_rules(cluster: LocalCluster, check: Callable[..., bool], what: str) -> None:
    """Wait until `check(worker.policy_watch.policies)` holds on every worker."""
    wait_for(
        lambda: all(check(w.policy_watch.policies) for w in cluster.workers.values()),
        timeout=5,
        what=what,
    )
