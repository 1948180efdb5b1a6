"""A client used before a fork (a DataLoader's workers are forked) reads right bytes in
the parent and in the child at once: they share no connection to a worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.conftest import write_tree

SECONDS = 1.0


@pytest.mark.parametrize("short_circuit", [True, False], ids=["short-circuit", "http"])
def test_a_forked_child_and_its_parent_read_through_one_client_at_once(
    cluster_factory, tmp_path: Path, short_circuit: bool
) -> None:
    cluster: LocalCluster = cluster_factory(workers=1, page_size=64 * 1024)
    files = {f"f{i}.bin": os.urandom(100_000 + i) for i in range(8)}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    client = connect(cluster=cluster, short_circuit=short_circuit, remember=False)
    names = sorted(files)

    def reads(chosen: list[str]) -> int:
        """Read the files by turns for SECONDS, each range checked; how many were wrong."""
        wrong, deadline, turn = 0, time.monotonic() + SECONDS, 0
        while time.monotonic() < deadline:
            name = chosen[turn % len(chosen)]
            offset = (turn * 7919) % len(files[name])
            wrong += client.read(f"/data/{name}", offset, 5000) != files[name][offset:][:5000]
            turn += 1
        return wrong

    assert reads(names) == 0  # the parent's connections are open now
    child = os.fork()
    if child == 0:  # the child: its own half of the files
        try:
            os._exit(min(reads(names[4:]), 100))
        except BaseException:
            os._exit(101)
    wrong = reads(names[:4])
    _, status = os.waitpid(child, 0)
    assert wrong == 0 and os.waitstatus_to_exitcode(status) == 0
