"""Reads through the cache on the in-process runtime: bytes, ranges, hits, errors, fsspec."""

from __future__ import annotations

import io
from pathlib import Path

import fsspec
import pytest

from ringcache.client.client import CacheClient, connect
from ringcache.client.data import HttpDataPath
from ringcache.cluster.errors import InvalidArgument, UfsNotFound
from ringcache.local import LocalCluster
from tests.conftest import wait_for


@pytest.fixture
def client(cluster: LocalCluster, data_dir: Path) -> CacheClient:
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data_dir}", {}))
    return connect(cluster=cluster)


def counters(cluster: LocalCluster) -> dict[str, int]:
    total: dict[str, int] = {}
    for worker in cluster.workers.values():
        for key, value in worker.counters.items():
            total[key] = total.get(key, 0) + value
    return total


def test_read_returns_the_source_bytes(client: CacheClient, data_dir: Path) -> None:
    for name in ("a.bin", "empty.bin", "small.txt", "nested/deep/b.bin"):
        assert client.read(f"/data/{name}") == (data_dir / name).read_bytes(), name


def test_second_read_is_a_hit(cluster: LocalCluster, client: CacheClient, data_dir: Path) -> None:
    expected = (data_dir / "nested/deep/b.bin").read_bytes()
    assert client.read("/data/nested/deep/b.bin") == expected
    first = counters(cluster)
    assert first["misses"] == 5 and first["hits"] == 0  # 300 kB in 64 KiB pages
    assert client.read("/data/nested/deep/b.bin") == expected
    if client.local is not None:  # a read of the file once published is counted when noted
        client.local.flush_notes()
    second = wait_for(lambda: (c := counters(cluster))["hits"] and c, what="the hits counted")
    assert second["hits"] == 5 and second["misses"] == 5
    assert second["bytesFromCache"] == len(expected)


def test_only_the_owner_caches(cluster: LocalCluster, client: CacheClient) -> None:
    client.read("/data/a.bin")
    owner = client.owners("/data/a.bin")[0]
    holders = [w for w, worker in cluster.workers.items() if worker.store.stats().cached_files]
    assert holders == [owner]


def test_a_non_owner_serves_a_read_but_does_not_cache_it(
    cluster: LocalCluster, client: CacheClient, data_dir: Path
) -> None:
    uri = client.resolve("/data/nested/deep/b.bin")
    (owner,) = client.owners(uri)
    other = next(w for w in sorted(cluster.workers) if w != owner)
    # A worker that started first saw itself alone; its next heartbeat shows it the ring.
    wait_for(lambda: not cluster.workers[other].ownership.owns(uri), what="the ring")
    expected = (data_dir / "nested/deep/b.bin").read_bytes()
    http = HttpDataPath()
    # Over its data server (whole and ranged, so by the kernel from the UFS file and as
    # bytes), and as an actor call: the bytes are right every time.
    assert http.read(cluster.workers[other].data_address, uri, 0, None) == expected
    assert http.read(cluster.workers[other].data_address, uri, 5, 70_000) == expected[5:70_005]
    assert (
        cluster.run(cluster.workers[other].read("/data/nested/deep/b.bin", 1, 9)) == expected[1:10]
    )
    for worker in cluster.workers.values():
        cluster.run(worker.services.reads.settled())
    assert cluster.workers[other].store.file_info(uri) is None  # it holds nothing of it
    assert cluster.workers[other].counters["misses"] == 8  # 5 + 2 + 1 pages read through
    assert cluster.workers[owner].counters == {
        "hits": 0,
        "misses": 0,
        "bytesFromCache": 0,
        "bytesFromUfs": 0,
        "bytesServed": 0,
    }
    assert cluster.workers[owner].store.file_info(uri) is None  # nobody asked the owner
    assert client.read("/data/nested/deep/b.bin") == expected  # the owner caches it
    cluster.run(cluster.workers[owner].services.reads.settled())
    assert cluster.workers[owner].store.file_info(uri).complete


def test_ranged_reads_across_pages(client: CacheClient, data_dir: Path) -> None:
    data = (data_dir / "nested/deep/b.bin").read_bytes()
    page = 64 * 1024
    for offset, length in [
        (0, 10),
        (page - 3, 7),
        (page, page),
        (2 * page + 5, 3 * page),
        (len(data) - 1, 10),
    ]:
        assert (
            client.read("/data/nested/deep/b.bin", offset, length) == data[offset : offset + length]
        )
    assert client.read("/data/nested/deep/b.bin", len(data) + 10, 5) == b""
    assert client.read("/data/nested/deep/b.bin", 10, 0) == b""


def test_ufs_uri_and_cluster_path_read_the_same(client: CacheClient, data_dir: Path) -> None:
    assert client.read(f"file://{data_dir}/a.bin") == client.read("/data/a.bin")
    assert client.owners(f"file://{data_dir}/a.bin") == client.owners("/data/a.bin")


def test_bad_paths_are_clear_errors(client: CacheClient) -> None:
    with pytest.raises(InvalidArgument, match="/elsewhere/x"):
        client.read("/elsewhere/x")
    with pytest.raises(UfsNotFound):
        client.read("/data/no-such-file")
    with pytest.raises(InvalidArgument):
        client.read("/data/../../etc/passwd")


def test_fsspec_protocol_reads_through_the_cache(
    cluster: LocalCluster, client: CacheClient, data_dir: Path
) -> None:
    with fsspec.open("ringcache:///data/nested/deep/b.bin", "rb") as handle:
        assert handle.read() == (data_dir / "nested/deep/b.bin").read_bytes()
    fs = fsspec.filesystem("ringcache")
    assert fs.info("/data/a.bin")["size"] == 100_000
    assert sorted(fs.ls("/data", detail=False)) == [
        "/data/a.bin",
        "/data/empty.bin",
        "/data/nested",
        "/data/small.txt",
    ]
    assert counters(cluster)["misses"] > 0


def test_pandas_and_pyarrow_read_through_fsspec(client: CacheClient, data_dir: Path) -> None:
    pd = pytest.importorskip("pandas")
    pq = pytest.importorskip("pyarrow.parquet")
    frame = pd.DataFrame({"x": range(1000), "y": [f"row{i}" for i in range(1000)]})
    frame.to_csv(data_dir / "table.csv", index=False)
    frame.to_parquet(data_dir / "table.parquet")
    assert pd.read_csv("ringcache:///data/table.csv").equals(frame)
    with fsspec.open("ringcache:///data/table.parquet", "rb") as handle:
        table = pq.read_table(io.BytesIO(handle.read()))
    assert table.to_pandas().equals(frame)
    assert pd.read_parquet("ringcache:///data/table.parquet").equals(frame)
