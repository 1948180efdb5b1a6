"""`ringcache start` records where its cluster runs; the other commands find it there."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ringcache.cli.rest import api_url
from ringcache.cli.state import RECORD_FILE, ClusterRecord, running_cluster


def record(pid: int, api: str = "http://127.0.0.1:20001/api/v1") -> ClusterRecord:
    return ClusterRecord(
        pid=pid,
        ray_address="10.0.0.1:6379",
        namespace="ns",
        api_url=api,
        ray_auth_mode="token",
        config={"state_dir": "/s"},
    )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_record_of_a_live_process_reads_back_whole(tmp_path: Path) -> None:
    written = record(os.getpid())
    written.write(tmp_path)
    assert running_cluster(tmp_path) == written
    assert (tmp_path / RECORD_FILE).stat().st_mode & 0o077 == 0  # it names token files
    ClusterRecord.remove(tmp_path)
    assert running_cluster(tmp_path) is None


def test_a_record_left_by_a_dead_process_or_broken_is_none(tmp_path: Path) -> None:
    record(dead_pid()).write(tmp_path)
    assert running_cluster(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text('{"pid": 1')
    assert running_cluster(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text('{"pid": 1}')  # fields missing
    assert running_cluster(tmp_path) is None


def args(state_dir: Path, **flags: object) -> argparse.Namespace:
    given = {"api": None, "host": None, "port": None, "token_file": None, **flags}
    return argparse.Namespace(state_dir=state_dir, **given)


def test_rest_commands_find_the_api_of_the_cluster_started_from_the_state_dir(
    tmp_path: Path,
) -> None:
    assert api_url(args(tmp_path)) == "http://127.0.0.1:19999/api/v1"  # none running
    record(os.getpid(), "http://127.0.0.1:20123/api/v1").write(tmp_path)
    assert api_url(args(tmp_path)) == "http://127.0.0.1:20123/api/v1"
    assert api_url(args(tmp_path, port=1234)) == "http://127.0.0.1:1234/api/v1"  # flags win
    assert api_url(args(tmp_path, api="http://h:1/api/v1")) == "http://h:1/api/v1"
