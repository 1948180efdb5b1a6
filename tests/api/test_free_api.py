"""`/api/v1/free` over the in-process runtime: every holder drops the data, counters exact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, files_on_disk, holders, wait_job
from tests.conftest import write_tree


@pytest.fixture
def loaded(cluster: LocalCluster, tmp_path: Path):
    tree = write_tree(
        tmp_path / "ufs",
        {f"a/f{i}.bin": os.urandom(3000 + i) for i in range(12)} | {"b/keep.bin": b"k" * 10},
    )
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"}).status_code == 200
    api.post("/load", json={"paths": ["/data"], "alias": "all", "options": {"replicas": 2}})
    assert wait_job(api, "load", alias="all")["state"] == "SUCCEEDED"
    return cluster, api, tree


def test_free_drops_every_copy_including_stale_ones(loaded) -> None:
    cluster, api, tree = loaded
    client = connect(cluster=cluster)
    target = f"file://{tree}/a/f0.bin"
    stranger = next(w for w in sorted(cluster.workers) if w not in client.owners(target, 2))
    # a stale copy on a worker that does not own the file
    cluster.run(cluster.worker_ref(stranger).call("load_batch", [target]))
    assert len(holders(cluster)[target]) == 3
    answer = api.post("/free", json={"paths": ["/data/a"], "alias": "fa"})
    assert answer.status_code == 200, answer.text
    job = wait_job(api, "free", alias="fa")
    sizes = files_on_disk(tree / "a")
    assert job["state"] == "SUCCEEDED"
    assert job["scannedFiles"] == job["freedFiles"] == 12
    # freedBytes counts every copy dropped: two replicas each, plus the stale copy
    assert job["freedBytes"] == 2 * sum(sizes.values()) + sizes[target]
    assert job["failedFiles"] == 0
    assert set(holders(cluster)) == {f"file://{tree}/b/keep.bin"}


def test_free_of_uncached_files_frees_nothing(loaded) -> None:
    cluster, api, tree = loaded
    (tree / "new.bin").write_bytes(b"never cached")
    api.post("/free", json={"paths": ["/data/new.bin"], "alias": "n"})
    job = wait_job(api, "free", alias="n")
    assert (job["scannedFiles"], job["freedFiles"], job["freedBytes"]) == (1, 0, 0)


def test_free_codes(loaded) -> None:
    _, api, _ = loaded
    assert api.post("/free", json={"paths": ["/data"]}).status_code == 400
    assert (
        api.post(
            "/free", json={"paths": ["/data"], "alias": "x", "options": {"replicas": 2}}
        ).status_code
        == 400
    )
    assert (
        api.post("/free", content="nope", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert api.get("/free", params={"alias": "x"}).status_code == 404
    assert api.request("DELETE", "/free", json={"alias": "x"}).status_code == 410
    api.post("/free", json={"paths": ["/data/b"], "alias": "b"})
    first = wait_job(api, "free", alias="b")
    again = api.post("/free", json={"paths": ["/data/b"], "alias": "b"})
    assert again.status_code == 409 and again.json()["id"] == first["id"]
    assert wait_job(api, "free", alias="b")["freedFiles"] == 0  # ran again: nothing left
