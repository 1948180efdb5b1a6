"""Crash test: every write the registry acknowledged survives a SIGKILL of its process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from ringcache.cluster.clock import RealClock
from ringcache.cluster.registry import open_registry

SRC = Path(__file__).resolve().parents[3] / "src"

# Writes keys forever and prints "<index> <revision>" once each put has returned.
WRITER = """
import asyncio, sys
from pathlib import Path
from ringcache.cluster.clock import RealClock
from ringcache.cluster.registry import open_registry

async def main(state_dir, first):
    registry = open_registry(Path(state_dir), RealClock())
    index = first
    while True:
        revision = await registry.put(f"k/{index:08d}", f"value-{index}")
        print(index, revision, flush=True)
        index += 1

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def crash_after(state_dir: Path, first: int, acknowledged: int) -> list[tuple[int, int]]:
    """Run a writer, read `acknowledged` lines, SIGKILL it; returns (index, revision)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(state_dir), str(first)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    try:
        for _ in range(acknowledged):
            line = child.stdout.readline()
            assert line, f"writer exited early with {child.wait()}"
            index, revision = line.split()
            lines.append((int(index), int(revision)))
    finally:
        child.send_signal(signal.SIGKILL)  # no chance to flush or close anything
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return lines


def test_acknowledged_writes_survive_sigkill(tmp_path):
    state_dir = tmp_path / "state"
    first = crash_after(state_dir, 0, 150)
    # A second writer continues over the crashed file, then crashes too.
    second = crash_after(state_dir, 100_000, 150)
    assert second[0][1] > first[-1][1]  # the revision kept increasing across the crash

    async def check():
        registry = open_registry(state_dir, RealClock())
        for index, revision in first + second:
            kv = await registry.get(f"k/{index:08d}")
            assert kv is not None, f"acknowledged key {index} (revision {revision}) lost"
            assert kv.value == f"value-{index}"
            assert kv.mod_revision == revision
        assert await registry.revision() >= second[-1][1]
        registry.close()

    asyncio.run(check())
