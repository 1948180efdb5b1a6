"""Helpers shared by the job tests: an API client, waiting for jobs, who holds what."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from ringcache.http.app import create_app
from ringcache.local import LocalCluster


def api_for(cluster: LocalCluster) -> TestClient:
    return TestClient(create_app(cluster.coordinator_ref), base_url="http://test/api/v1")


def wait_job(api: TestClient, job_type: str, timeout: float = 30, **selector: str) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/{job_type}", params=selector).json()
        if job.get("state") in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"{job_type} job {selector} did not finish: {job}")


def wait_running(api: TestClient, job_type: str, min_scanned: int = 1, **selector: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = api.get(f"/{job_type}", params=selector).json()
        if job.get("state") == "RUNNING" and job.get("scannedFiles", 0) >= min_scanned:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{job_type} job {selector} never got going: {job}")


def holders(cluster: LocalCluster) -> dict[str, set[str]]:
    """UFS path -> ids of the workers holding it whole."""
    held: dict[str, set[str]] = {}
    for worker_id, worker in cluster.workers.items():
        for cached in worker.store.list_files(limit=1_000_000):
            if cached.complete:
                held.setdefault(cached.path, set()).add(worker_id)
    return held


def files_on_disk(root: Path) -> dict[str, int]:
    """`file://` URI -> size of every file under root."""
    return {f"file://{p}": p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}
