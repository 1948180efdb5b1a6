"""`ringcache.connect("http://...")`: reads over REST and the workers' data servers, from a
process that never imports Ray; retries on a new ring or the UFS when a worker dies."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ringcache.client.client import connect
from ringcache.cluster.errors import Unavailable
from ringcache.local import LocalCluster
from tests.api.rest_server import serving_rest
from tests.conftest import wait_for, write_tree

PAGE = 64 * 1024  # the test clusters' page size
SIZES = [0, 1, PAGE, PAGE + 1, 5 * PAGE + 123]
READER = Path(__file__).with_name("ringcache_reader.py")
SRC = Path(__file__).parents[2] / "src"


def digest(data: bytes) -> list:
    return [len(data), hashlib.sha256(data).hexdigest()]


def test_a_process_without_ray_reads_byte_exact_over_http(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    files = {f"s{size}.bin": os.urandom(size) for size in SIZES}
    tree = write_tree(tmp_path / "ufs", files)
    frame = pd.DataFrame({"x": range(5000), "y": [f"row{i}" for i in range(5000)]})
    frame.to_parquet(tree / "t.parquet")
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    big = files[f"s{SIZES[-1]}.bin"]
    cuts = [(0, 10), (PAGE - 3, 7), (PAGE, PAGE), (5, 4 * PAGE), (len(big) - 1, 10)]
    wanted = {
        "files": [f"/data/{name}" for name in files],
        "ranges": [[f"/data/s{SIZES[-1]}.bin", offset, length] for offset, length in cuts],
        "directory": "/data",
        "parquet": "/data/t.parquet",
    }
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with serving_rest(cluster) as address:
        for _ in range(2):  # misses, then hits
            result = subprocess.run(
                [sys.executable, str(READER), address, json.dumps(wanted)],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            out = json.loads(result.stdout.splitlines()[-1])
            assert out["ray"] is False
            for name, data in files.items():
                assert out["whole"][f"/data/{name}"] == digest(data), name
                assert out["fsspec"][f"/data/{name}"] == [digest(data)] * 2, name
            expected = [digest(big[offset : offset + length]) for offset, length in cuts]
            assert out["ranges"] == expected and out["cat_ranges"] == expected
            assert out["ls"] == sorted([*wanted["files"], "/data/t.parquet"])
            assert out["info"] == {"name": wanted["files"][-1], "size": len(big), "type": "file"}
            assert out["parquet"] == [["x"], sum(range(5000)), 5000]

    def reads() -> list[dict]:
        return [node["reads"] for node in cluster.run(cluster.coordinator_ref.call("list_nodes"))]

    # Reads of published files are counted once the process's notes (sent at exit) arrive.
    wait_for(lambda: sum(r["hits"] for r in reads()) > 0, what="hits counted")
    assert sum(r["bytesFromUfs"] for r in reads()) > 0


def test_a_worker_killed_mid_read_is_retried_on_the_new_ring_or_the_ufs(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    names = [f"f{i}.bin" for i in range(12)]
    tree = write_tree(tmp_path / "ufs", {name: os.urandom(3 * PAGE + 7) for name in names})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    client = connect(cluster=cluster, remember=False)
    for name in names:
        assert client.read(f"/data/{name}") == (tree / name).read_bytes()
    victim = client.owners(f"/data/{names[0]}")[0]
    cluster.kill_worker(victim)  # its data server is gone; the ring still names it
    for name in names:  # owned by the victim: answered by the UFS, the ring not moved yet
        assert (
            client.read(f"/data/{name}", 5, 2 * PAGE) == (tree / name).read_bytes()[5:][: 2 * PAGE]
        )
    strict = connect(cluster=cluster, ufs_fallback=False, remember=False)
    wait_for(lambda: victim not in strict.control.ring()["workers"], what="the ring to move on")
    strict.refresh()
    for name in names:
        assert strict.read(f"/data/{name}") == (tree / name).read_bytes()
        assert strict.owners(f"/data/{name}")[0] != victim


def test_without_ufs_fallback_no_worker_is_an_error(cluster: LocalCluster, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "ufs", {"a.bin": b"abc"})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    strict = connect(cluster=cluster, ufs_fallback=False, remember=False)
    lenient = connect(cluster=cluster, remember=False)
    strict.refresh()
    lenient.refresh()
    for worker_id in list(cluster.workers):
        cluster.kill_worker(worker_id)
    with pytest.raises(Unavailable):
        strict.read("/data/a.bin")
    assert lenient.read("/data/a.bin") == b"abc"
