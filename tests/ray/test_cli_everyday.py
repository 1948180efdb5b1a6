"""The README's commands as a new user runs them, each in its own process, from one directory
and without flags naming the cluster: `start`, then `worker add`, `status` and `stop` find it.

The started cluster has a Ray instance of its own (`--address local`): the Ray tests' shared
instance lives in the test process, and a `ringcache start` joining it would stop with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ringcache.cli.state import RECORD_FILE
from tests.conftest import wait_for
from tests.ray.test_restart import free_port, kill_session

pytestmark = pytest.mark.ray

# The `ringcache` console script (`-m ringcache.cli.main` would warn about a double import).
RINGCACHE = [sys.executable, "-c", "import sys; from ringcache.cli import main; sys.exit(main())"]


def ringcache(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RINGCACHE, *argv],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env() -> dict[str, str]:
    # RAY_AUTH_MODE too: each command must learn it from what `start` recorded.
    return {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH"))}


def start(cwd: Path, log: Path) -> subprocess.Popen:
    command = [
        *RINGCACHE, "start", "--address", "local",
        "--port", str(free_port()), "--lease-ttl", "3s", "--capacity", "64MiB",
    ]  # fmt: skip
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def status(cwd: Path) -> dict | None:
    done = ringcache(cwd, "status", "--json")
    return json.loads(done.stdout) if done.returncode == 0 else None


def online(cwd: Path, count: int) -> bool:
    nodes = (status(cwd) or {}).get("nodes", [])
    return [n["state"] for n in nodes] == ["ONLINE"] * count


def test_worker_add_status_and_stop_find_the_cluster_start_started(tmp_path: Path) -> None:
    log = tmp_path / "start.log"
    started = start(tmp_path, log)
    try:
        wait_for(lambda: online(tmp_path, 1), 90, "the REST API")
        added = ringcache(tmp_path, "worker", "add")
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("worker-") and added.stderr == ""
        wait_for(lambda: online(tmp_path, 2), 30, "two workers ONLINE")

        stopped = ringcache(tmp_path, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
        assert started.wait(timeout=60) == 0  # SIGTERM is a stop asked for, not a fault
    finally:
        if started.poll() is None:
            kill_session(started)
    lines = log.read_text().splitlines()
    # ringcache's own lines only: no Ray notices, no retried calls, no uvicorn chatter.
    assert lines and all(line.startswith("ringcache: ") for line in lines), lines
    assert lines[-1] == "ringcache: stopped"
    assert status(tmp_path) is None  # nothing answers any more


def test_ctrl_c_stops_the_cluster_with_one_line(tmp_path: Path) -> None:
    log = tmp_path / "start.log"
    started = start(tmp_path, log)
    try:
        wait_for(lambda: online(tmp_path, 1), 90, "the REST API")
        os.killpg(started.pid, signal.SIGINT)  # as a terminal's Ctrl-C: Ray's processes too
        assert started.wait(timeout=60) == 130
    finally:
        if started.poll() is None:
            kill_session(started)
    lines = log.read_text().splitlines()
    assert lines[1:] == ["ringcache: interrupted"], lines  # after the line saying it started
    assert status(tmp_path) is None
    assert not (tmp_path / ".ringcache" / "state" / RECORD_FILE).exists()
