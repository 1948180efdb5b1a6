"""The real `alluxiofs` 1.0.7 client reads through ringcache workers' data servers, given
their addresses or finding them through etcd as it finds Alluxio's workers.

`alluxiofs` pins `protobuf<3.21` (through `etcd3`), which cannot sit next to Ray's
protobuf, so it is installed into a venv of its own (kept between runs under the temp
directory) and run in a subprocess that never imports ringcache or Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ringcache.cluster.config import ApiConfig
from ringcache.local import LocalCluster

from ..conftest import make_config, write_tree

ALLUXIOFS = "alluxiofs==1.0.7"
PAGE = 1024 * 1024
READER = Path(__file__).with_name("alluxiofs_reader.py")


@pytest.fixture(scope="session")
def alluxiofs_python() -> Path:
    """A Python with `alluxiofs` 1.0.7 installed, or a skip if it cannot be installed here."""
    venv = Path(tempfile.gettempdir()) / f"ringcache-{ALLUXIOFS.replace('==', '-')}"
    python = venv / "bin" / "python"
    ready = venv / "ready"
    if not ready.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", ALLUXIOFS],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0:
            pytest.skip(f"cannot install {ALLUXIOFS}: {install.stderr[-500:]}")
        ready.write_text(ALLUXIOFS)
    return python


def digest(data: bytes) -> list:
    return [len(data), hashlib.sha256(data).hexdigest()]


FILES = {
    "empty.bin": b"",
    "one.bin": os.urandom(1),
    "page.bin": os.urandom(PAGE),
    "page-plus-one.bin": os.urandom(PAGE + 1),
    "pages.bin": os.urandom(3 * PAGE + 12345),
    # more files, so that with several workers every one of them owns some
    **{f"small-{i}.bin": os.urandom(100 + i) for i in range(8)},
}
RANGES = [(0, 10), (PAGE - 3, PAGE + 7), (5, 2 * PAGE + 100), (3 * PAGE, 3 * PAGE + 12345)]


def read_through_alluxiofs(python: Path, options: dict, ufs: Path, tmp_path: Path) -> dict:
    """Every whole file and range of `FILES` read twice by alluxiofs with `options` (a miss
    read through from the UFS, then hits served from the cache files), checked byte-exact;
    returns the last answer."""
    wanted = [[f"file://{ufs}/{name}", None, None] for name in FILES if FILES[name]]
    wanted += [[f"file://{ufs}/pages.bin", start, end] for start, end in RANGES]
    for _ in range(2):
        result = subprocess.run(
            [str(python), str(READER), json.dumps(options), f"file://{ufs}", json.dumps(wanted)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,  # alluxiofs writes its log to logs/user.log under the cwd
        )
        assert result.returncode == 0, result.stderr[-2000:]
        answer = json.loads(result.stdout.splitlines()[-1])
        expected_reads = [
            [digest(FILES[Path(uri).name])] * 2 for uri, start, _ in wanted if start is None
        ] + [[digest(FILES["pages.bin"][start:end])] for start, end in RANGES]
        assert answer["reads"] == expected_reads
        assert answer["ls"] == [
            [f"file://{ufs}/{n}", "file", len(d)] for n, d in sorted(FILES.items())
        ]
        assert answer["size"] == 1 and answer["ray"] is False
    return answer


def test_alluxiofs_reads_whole_files_and_ranges_and_lists(
    alluxiofs_python: Path, cluster_factory, tmp_path: Path
) -> None:
    ufs = write_tree(tmp_path / "alluxio-ufs", FILES)
    cluster: LocalCluster = cluster_factory(workers=1, page_size=PAGE)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{ufs}", {}))
    node = cluster.run(cluster.coordinator_ref.call("list_nodes"))[0]
    port = int(node["dataAddress"].rsplit(":", 1)[1])
    options = {"worker_hosts": "127.0.0.1", "worker_http_port": port}
    read_through_alluxiofs(alluxiofs_python, options, ufs, tmp_path)
    reads = cluster.run(cluster.coordinator_ref.call("list_nodes"))[0]["reads"]
    assert reads["hits"] > 0 and reads["misses"] > 0 and 0 < reads["hitRatio"] < 1


def test_alluxiofs_finds_the_workers_through_etcd_and_routes_as_ringcache(
    alluxiofs_python: Path, etcd_url: str, tmp_path: Path
) -> None:
    ufs = write_tree(tmp_path / "alluxio-ufs", FILES)
    config = make_config(tmp_path, registry=etcd_url, workers=3, page_size=PAGE)
    with LocalCluster(config) as cluster:
        coordinator = cluster.coordinator_ref
        cluster.run(coordinator.call("add_mount", "/data", f"file://{ufs}", {}))
        etcd_host, etcd_port = etcd_url.removeprefix("etcd://").rsplit(":", 1)
        options = {
            "etcd_hosts": etcd_host,  # no worker_hosts: the workers come from etcd
            "etcd_port": int(etcd_port),
            "hash_node_per_worker": cluster.run(coordinator.call("ring_snapshot"))["virtualNodes"],
        }
        answer = read_through_alluxiofs(alluxiofs_python, options, ufs, tmp_path)
        nodes = cluster.run(coordinator.call("list_nodes"))
        address_of = {node["id"]: node["dataAddress"] for node in nodes}
        owners = {
            uri: address_of[cluster.run(coordinator.call("owners", uri))[0]]
            for uri in answer["owners"]
        }
        assert answer["owners"] == owners  # alluxiofs's ring picks ringcache's owner
        # Its reads went to those owners: the workers that own no file served nothing.
        owning = set(owners.values())
        assert len(owning) > 1
        served = {node["dataAddress"]: node["reads"]["bytesServed"] for node in nodes}
        assert {address for address, count in served.items() if count > 0} == owning


def test_alluxiofs_is_refused_by_a_cluster_with_a_token_unless_it_is_not_required(
    alluxiofs_python: Path, tmp_path: Path
) -> None:
    # alluxiofs 1.0.7 cannot send a header on every call (ranges and chunks go through
    # bare `requests.get`), so such a cluster serves it only with `http_token_required` off.
    data = os.urandom(PAGE + 3)
    ufs = write_tree(tmp_path / "alluxio-ufs", {"a.bin": data})
    wanted = json.dumps([[f"file://{ufs}/a.bin", 1, 100]])
    for required in (True, False):
        config = make_config(
            tmp_path / str(required), workers=1, page_size=PAGE, api=ApiConfig(token="s3cret")
        )
        config.allowed_local_roots.append(str(tmp_path))
        config.worker.http_token_required = required
        with LocalCluster(config) as cluster:
            cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{ufs}", {}))
            port = (next(iter(cluster.workers.values())).data_address or "").rsplit(":", 1)[1]
            options = json.dumps({"worker_hosts": "127.0.0.1", "worker_http_port": int(port)})
            command = [str(alluxiofs_python), str(READER), options, f"file://{ufs}", wanted]
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=120, cwd=tmp_path
            )
        if required:
            assert result.returncode != 0 and "Authorization: Bearer" in result.stderr
        else:
            assert result.returncode == 0, result.stderr[-2000:]
            assert json.loads(result.stdout.splitlines()[-1])["reads"] == [[digest(data[1:100])]]
