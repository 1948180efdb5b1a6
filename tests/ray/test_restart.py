"""`ringcache start` and everything it started killed with SIGKILL mid-job, then started
again from the same state directory: the job resumes from its checkpoint and finishes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for, write_tree

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(root: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    command = [
        # `--address local`: a Ray instance of its own, even beside the tests' shared one
        sys.executable, "-m", "ringcache.cli.main", "start", "--workers", "2", "--address", "local",
        "--port", str(port), "--state-dir", str(root / "state"),
        "--cache-dir", str(root / "cache"), "--lease-ttl", "3s", "--capacity", "1GiB",
    ]  # fmt: skip
    log = open(root / f"start-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def kill_session(leader: subprocess.Popen) -> None:
    """SIGKILL the start process and every process it started (its Ray too)."""
    output = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    for line in output.splitlines():
        pid, sid = (int(field) for field in line.split())
        if sid == leader.pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue  # gone already
    leader.wait(timeout=30)


def get(url: str, **params: str) -> dict | None:
    try:
        return httpx.get(url, params=params, timeout=5).json()
    except httpx.HTTPError:
        return None


def test_kill_everything_mid_job_and_start_again(tmp_path: Path) -> None:
    data = write_tree(tmp_path / "ufs", {f"f{i:03d}.bin": os.urandom(40_000) for i in range(50)})
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    first = start(tmp_path, port)
    try:
        wait_for(lambda: get(f"{api}/nodes"), 120, "the REST API")
        mount = {"path": "/data", "ufs": f"file://{data}"}
        assert httpx.post(f"{api}/mount", json=mount).status_code == 200
        body = {"paths": ["/data"], "alias": "r", "options": {"batchSize": 2, "bandwidth": "80KB"}}
        submitted = httpx.post(f"{api}/load", json=body).json()
        wait_for(lambda: (get(f"{api}/load", alias="r") or {}).get("loadedBytes"), 60, "progress")
    finally:
        kill_session(first)
    second = start(tmp_path, port)
    try:
        wait_for(lambda: get(f"{api}/nodes"), 120, "the REST API again")
        done = wait_for(
            lambda: (job := get(f"{api}/load", alias="r")) and job["state"] == "SUCCEEDED" and job,
            120,
            "the job to finish",
        )
        assert done["id"] == submitted["id"]
        assert done["scannedFiles"] == 50 and done["failedFiles"] == 0
        assert done["totalBytes"] == done["loadedBytes"] == 50 * 40_000
        nodes = get(f"{api}/nodes")["results"]
        assert sorted(n["state"] for n in nodes) == ["ONLINE", "ONLINE"]  # same ids came back
    finally:
        kill_session(second)
