"""Shared fixtures: a data directory of real files, and in-process clusters over tmp dirs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ringcache.config import ClusterConfig, WorkerConfig
from ringcache.local import LocalCluster
from tests.etcd_fixture import etcd_reader, etcd_server, etcd_url  # noqa: F401 (shared fixtures)
from tests.s3_fixture import s3_server  # noqa: F401 (shared fixtures)


def make_config(root: Path, **overrides: object) -> ClusterConfig:
    """A small, fast configuration over `root`: short leases, small pages, few vnodes."""
    worker = WorkerConfig(
        cache_dir=root / "cache",
        capacity=overrides.pop("capacity", 64 * 1024**2),
        page_size=overrides.pop("page_size", 64 * 1024),
        heartbeat_interval=overrides.pop("heartbeat_interval", 0.2),
        http_port=overrides.pop("http_port", 0),
        data_host="127.0.0.1",  # one machine: every server on loopback
    )
    values: dict[str, object] = {
        "state_dir": root / "state",
        "workers": 3,
        "virtual_nodes": 100,
        "lease_ttl": 1.0,
        "allowed_local_roots": [str(root)],
        "worker": worker,
    }
    values.update(overrides)
    return ClusterConfig(**values)


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A UFS directory with a few files of different shapes (empty, one page, many pages)."""
    return write_tree(
        tmp_path / "ufs",
        {
            "a.bin": os.urandom(100_000),
            "empty.bin": b"",
            "small.txt": b"hello ringcache\n",
            "nested/deep/b.bin": os.urandom(300_000),
        },
    )


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    started: list[LocalCluster] = []

    def start(**overrides: object) -> LocalCluster:
        cluster = LocalCluster(make_config(tmp_path, **overrides)).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def cluster(cluster_factory: Callable[..., LocalCluster]) -> LocalCluster:
    return cluster_factory()


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> object:
    """Poll `condition` until it is truthy; fail the test with `what` if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")


def run_together(targets: list[Callable[[threading.Event], None]], seconds: float) -> None:
    """Each `target(stop)` on a thread of its own, all at once, until `stop` is set
    `seconds` later; then each is joined."""
    stop = threading.Event()
    threads = [threading.Thread(target=target, args=(stop,)) for target in targets]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
