"""`/api/v1/load` over the in-process runtime: counters against the files on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.cluster.jobs.store import JobStore
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, files_on_disk, holders, wait_job, wait_running
from tests.conftest import write_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {f"train/part{i:02d}.bin": os.urandom(1000 * i) for i in range(20)}  # part00 empty
    files.update({"train/sub/deep.txt": b"x" * 70_000, "eval/e.csv": b"a,b\n1,2\n"})
    return write_tree(tmp_path / "ufs", files)


@pytest.fixture
def mounted(cluster: LocalCluster, tree: Path):
    api = api_for(cluster)
    assert api.post("/mount", json={"path": "/data", "ufs": f"file://{tree}"}).status_code == 200
    return cluster, api


def test_load_counts_match_the_files_and_owners_hold_them(mounted, tree: Path) -> None:
    cluster, api = mounted
    answer = api.post("/load", json={"paths": ["/data/train"], "alias": "train"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] in ("WAITING", "RUNNING")
    job = wait_job(api, "load", alias="train")
    expected = files_on_disk(tree / "train")
    assert job["state"] == "SUCCEEDED"
    assert job["scannedFiles"] == len(expected) == 21
    assert job["totalBytes"] == sum(expected.values())
    assert job["loadedBytes"] == sum(expected.values())
    assert job["loadedNonEmptyFiles"] == 20  # part00.bin is empty
    assert job["skippedFiles"] == 0 and job["failedFiles"] == 0
    assert "failures" not in job and job["id"] == answer.json()["id"]
    client = connect(cluster=cluster)
    held = holders(cluster)
    for uri in expected:
        assert held.get(uri) == set(client.owners(uri, 1)), uri
    assert not any(uri.startswith(f"file://{tree}/eval") for uri in held)
    before = sum(w.counters["misses"] for w in cluster.workers.values())
    for uri, size in expected.items():
        assert len(client.read(uri)) == size
    assert sum(w.counters["misses"] for w in cluster.workers.values()) == before


def test_replicas_put_each_file_on_its_first_owners(mounted, tree: Path) -> None:
    cluster, api = mounted
    body = {"paths": ["/data"], "alias": "r2", "options": {"replicas": 2, "batchSize": 3}}
    assert api.post("/load", json=body).status_code == 200
    job = wait_job(api, "load", alias="r2")
    assert job["state"] == "SUCCEEDED" and job["options"]["replicas"] == 2
    client = connect(cluster=cluster)
    held = holders(cluster)
    for uri in files_on_disk(tree):
        assert held[uri] == set(client.owners(uri, 2)), uri


def test_file_filter_regex(mounted, tree: Path) -> None:
    cluster, api = mounted
    body = {"paths": ["/data"], "alias": "csv", "options": {"fileFilterRegex": r"\.csv$"}}
    assert api.post("/load", json=body).status_code == 200
    job = wait_job(api, "load", alias="csv")
    assert job["scannedFiles"] == 1 and job["loadedBytes"] == 8
    assert list(holders(cluster)) == [f"file://{tree}/eval/e.csv"]


def test_skip_if_exists_and_if_changed(mounted, tree: Path) -> None:
    cluster, api = mounted
    assert api.post("/load", json={"paths": ["/data/eval"], "alias": "first"}).status_code == 200
    assert wait_job(api, "load", alias="first")["loadedBytes"] == 8
    skip = {"paths": ["/data/eval"], "alias": "skip", "options": {"skipIfExists": True}}
    assert api.post("/load", json=skip).status_code == 200
    job = wait_job(api, "load", alias="skip")
    assert (job["skippedFiles"], job["skippedBytes"], job["loadedBytes"]) == (1, 8, 0)

    unchanged = {"paths": ["/data/eval"], "alias": "ifc", "options": {"loadPolicy": "IF_CHANGED"}}
    assert api.post("/load", json=unchanged).status_code == 200
    assert wait_job(api, "load", alias="ifc")["skippedFiles"] == 1
    (tree / "eval/e.csv").write_bytes(b"a,b\n1,2\n3,4\n")
    os.utime(tree / "eval/e.csv", (1, 1))
    assert api.post("/load", json=unchanged).status_code == 409  # succeeded: runs again
    job = wait_job(api, "load", alias="ifc")
    assert (job["loadedBytes"], job["skippedFiles"]) == (12, 0)
    client = connect(cluster=cluster)
    owner = cluster.workers[client.owners("/data/eval/e.csv")[0]]
    assert owner.store.file_info(f"file://{tree}/eval/e.csv").version.size == 12


def test_index_file_with_comments_dirs_and_a_missing_path(mounted, tree: Path) -> None:
    cluster, api = mounted
    (tree / "list.txt").write_text(
        "# what to load\n\n/data/eval\n/data/train/part05.bin\n"
        f"file://{tree}/train/sub\n/data/nope.bin\n"
    )
    answer = api.post("/load", json={"index": "/data/list.txt", "options": {"batchSize": 1}})
    assert answer.status_code == 200, answer.text
    job = wait_job(api, "load", index="/data/list.txt")
    assert job["state"] == "FAILED"
    assert job["scannedFiles"] == 4  # the missing path was looked at too
    assert job["loadedBytes"] == 8 + 5000 + 70_000
    assert job["failedFiles"] == 1
    assert job["failures"][0]["reason"] == "UFS_NOT_FOUND"
    assert "nope.bin" in job["failures"][0]["path"]
    assert job["errorMessage"]["message"]
    # the missing file appears; resubmitting resumes the failed job and retries only it
    (tree / "nope.bin").write_bytes(b"found")
    again = api.post("/load", json={"index": "/data/list.txt"})
    assert again.status_code == 409 and again.json()["id"] == job["id"]
    job = wait_job(api, "load", index="/data/list.txt")
    assert job["state"] == "SUCCEEDED", job
    assert (job["scannedFiles"], job["failedFiles"]) == (4, 0)
    assert job["loadedBytes"] == 8 + 5000 + 70_000 + 5
    assert f"file://{tree}/nope.bin" in holders(cluster)


def test_a_missing_path_fails_with_its_reason(mounted) -> None:
    _, api = mounted
    assert api.post("/load", json={"paths": ["/data/ghost"], "alias": "g"}).status_code == 200
    job = wait_job(api, "load", alias="g")
    assert job["state"] == "FAILED" and job["failedFiles"] == job["scannedFiles"] == 1
    assert job["failures"][0]["reason"] == "UFS_NOT_FOUND"


def test_a_coordinator_restart_mid_job_counts_every_file_once(mounted, tree: Path) -> None:
    cluster, api = mounted
    slow = {"paths": ["/data"], "alias": "slow", "options": {"batchSize": 1, "bandwidth": "40KB"}}
    assert api.post("/load", json=slow).status_code == 200
    wait_running(api, "load", alias="slow")
    cluster.restart_coordinator()
    api = api_for(cluster)
    job = api.get("/load", params={"alias": "slow"}).json()
    assert job["state"] in ("RUNNING", "WAITING")
    api.post("/load", json={"paths": ["/data"], "alias": "slow"})  # 409: left alone
    job = wait_job(api, "load", timeout=60, alias="slow")
    expected = files_on_disk(tree)
    assert job["state"] == "SUCCEEDED"
    assert job["scannedFiles"] == len(expected)
    assert job["totalBytes"] == job["loadedBytes"] == sum(expected.values())
    assert set(holders(cluster)) == set(expected)


def test_stop_then_resume_finishes_with_exact_counters(mounted, tree: Path) -> None:
    cluster, api = mounted
    slow = {"paths": ["/data"], "alias": "s", "options": {"batchSize": 1, "bandwidth": "40KB"}}
    assert api.post("/load", json=slow).status_code == 200
    wait_running(api, "load", alias="s")
    running = api.post("/load", json=slow)
    assert running.status_code == 409 and running.json()["state"] == "RUNNING"
    stopped = api.request("DELETE", "/load", json={"alias": "s"})
    assert stopped.status_code == 200 and stopped.json()["state"] == "STOPPED"
    assert api.request("DELETE", "/load", json={"alias": "s"}).status_code == 410
    assert api.get("/load", params={"alias": "s"}).json()["state"] == "STOPPED"
    resumed = api.post("/load", json={"paths": ["/data"], "alias": "s"})
    assert resumed.status_code == 409 and "resumes" in resumed.json()["status"]
    job = wait_job(api, "load", timeout=60, alias="s")
    expected = files_on_disk(tree)
    assert job["state"] == "SUCCEEDED"
    assert (job["scannedFiles"], job["loadedBytes"]) == (len(expected), sum(expected.values()))


def test_list_and_select_jobs(mounted) -> None:
    _, api = mounted
    ids = []
    for alias in ("a", "b", "c"):
        answer = api.post("/load", json={"paths": ["/data/eval"], "alias": alias})
        ids.append(answer.json()["id"])
        wait_job(api, "load", alias=alias)
    assert [j["id"] for j in api.get("/load").json()["results"]] == ids
    assert [j["id"] for j in api.get("/load", params={"count": 2}).json()["results"]] == ids[:2]
    after = api.get("/load", params={"lastKey": ids[0]}).json()["results"]
    assert [j["id"] for j in after] == ids[1:]
    assert api.get("/load", params={"id": ids[1]}).json()["alias"] == "b"
    assert api.get("/load", params={"alias": "zzz"}).status_code == 404
    assert api.get("/load", params={"index": "/data/none"}).status_code == 404
    assert api.get("/load", params={"alias": "a", "id": ids[0]}).status_code == 400
    assert api.get("/load", params={"count": "many"}).status_code == 400
    assert api.get("/free").json() == {"results": []}


@pytest.mark.parametrize(
    "body",
    [
        None,
        "{",
        "[]",
        "{}",
        '{"index": "/data/list.txt", "paths": ["/data"], "alias": "x"}',
        '{"paths": ["/data"]}',
        '{"alias": "x"}',
        '{"paths": [], "alias": "x"}',
        '{"paths": "/data", "alias": "x"}',
        '{"paths": ["/data"], "alias": ""}',
        '{"paths": ["/elsewhere"], "alias": "x"}',
        '{"index": 5}',
        '{"paths": ["/data"], "alias": "x", "options": {"batchSize": 0}}',
        '{"paths": ["/data"], "alias": "x", "options": {"batchSize": "10"}}',
        '{"paths": ["/data"], "alias": "x", "options": {"replicas": -1}}',
        '{"paths": ["/data"], "alias": "x", "options": {"fileFilterRegex": "("}}',
        '{"paths": ["/data"], "alias": "x", "options": {"loadPolicy": "SOMETIMES"}}',
        '{"paths": ["/data"], "alias": "x", "options": {"bandwidth": "fast"}}',
        '{"paths": ["/data"], "alias": "x", "options": {"skipIfExists": "yes"}}',
        '{"paths": ["/data"], "alias": "x", "options": {"colour": "blue"}}',
        '{"paths": ["/data"], "alias": "x", "options": []}',
        '{"paths": ["/data"], "alias": "x", "extra": 1}',
    ],
)
def test_malformed_submissions_are_400(mounted, body: str | None) -> None:
    _, api = mounted
    answer = api.post("/load", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, (body, answer.text)
    assert answer.json()["status"]
    assert api.get("/load").json() == {"results": []}


def test_stop_codes(mounted) -> None:
    _, api = mounted
    assert api.request("DELETE", "/load", json={"alias": "nobody"}).status_code == 410
    assert api.request("DELETE", "/load").status_code == 400
    assert api.request("DELETE", "/load", json={"alias": "a", "id": "b"}).status_code == 400
    assert api.request("DELETE", "/load", json={"alias": 3}).status_code == 400
    api.post("/load", json={"paths": ["/data/eval"], "alias": "done"})
    wait_job(api, "load", alias="done")
    finished = api.request("DELETE", "/load", json={"paths": ["/data/eval"], "alias": "done"})
    assert finished.status_code == 410 and "SUCCEEDED" in finished.json()["status"]


def test_the_index_is_synced_once_per_worker_per_page_before_the_job_ends(mounted) -> None:
    cluster, api = mounted
    context = cluster.coordinator.jobs.context
    synced: list[str] = []
    sync = context.on_results

    async def counting_sync(worker_ids: list[str]) -> None:
        synced.extend(worker_ids)
        await sync(worker_ids)

    context.on_results = counting_sync
    body = {"paths": ["/data/train"], "alias": "one-a-batch", "options": {"batchSize": 1}}
    assert api.post("/load", json=body).status_code == 200
    job = wait_job(api, "load", alias="one-a-batch")
    assert job["state"] == "SUCCEEDED" and job["scannedFiles"] == 21
    # 21 batches of one file, one listing page: each worker that got some is synced once.
    assert sorted(synced) == sorted(set(synced)) and 1 <= len(synced) <= len(cluster.workers)
    listed = api.get("/file_index", params={"prefix": "/data/train/"}).json()["results"]
    assert len(listed) == 21 and all(entry["workers"] for entry in listed)


def test_progress_of_a_running_job_is_answered_without_registry_reads(mounted) -> None:
    cluster, api = mounted
    store = cluster.coordinator.jobs.store
    calls: list[str] = []

    class Counted:
        def __init__(self, inner) -> None:
            self.inner = inner

        async def call(self, method: str, *args, **kwargs):
            calls.append(method)
            return await self.inner.call(method, *args, **kwargs)

    slow = {"paths": ["/data"], "alias": "slow", "options": {"batchSize": 1, "bandwidth": "40KB"}}
    job_id = api.post("/load", json=slow).json()["id"]
    wait_running(api, "load", alias="slow")
    store.registry = Counted(store.registry)
    for selector in ({"alias": "slow"}, {"id": job_id}) * 3:
        job = api.get("/load", params=selector).json()
        assert (job["id"], job["state"]) == (job_id, "RUNNING")
    assert not [m for m in calls if m in ("get", "range")]
    api.request("DELETE", "/load", json={"alias": "slow"})
    assert api.get("/load", params={"alias": "slow"}).json()["state"] == "STOPPED"
    assert "get" in calls  # a job no longer running is read from the registry


def test_a_one_page_load_writes_its_record_twice_running_then_done(mounted, monkeypatch) -> None:
    """The last page's checkpoint is the terminal state's write, not a write of its own."""
    cluster, api = mounted
    states = []
    save = JobStore.save

    async def counted(self, record, failed=()):
        await save(self, record, failed)
        states.append((record.state.value, record.counters["scannedFiles"]))

    monkeypatch.setattr(JobStore, "save", counted)
    assert api.post("/load", json={"paths": ["/data/eval"], "alias": "one"}).status_code == 200
    assert wait_job(api, "load", alias="one")["scannedFiles"] == 1
    assert states == [("RUNNING", 0), ("SUCCEEDED", 1)]
