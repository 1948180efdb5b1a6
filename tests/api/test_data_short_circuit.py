"""Same-host short-circuit reads: byte-exact, and never wrong while eviction and free race."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest

from ringcache.client import local_reads
from ringcache.client.client import CacheClient
from ringcache.client.control import ActorControl, local_coordinator
from ringcache.client.data import HttpDataPath
from ringcache.client.early_reads import EarlyRead
from ringcache.client.local_reads import LocalReads
from ringcache.cluster.errors import UfsNotFound
from ringcache.local import LocalCluster
from tests.conftest import run_together, write_tree

PAGE = 64 * 1024


class CountingLocalReads:
    """`LocalReads`, counting the reads it answered itself (not handed on to HTTP)."""

    def __init__(self) -> None:
        self.inner = LocalReads()
        self.answered = 0

    def read(
        self, worker_id: str, uri: str, offset: int, length: int | None, address: str, **kwargs
    ) -> bytes | None:
        data = self.inner.read(worker_id, uri, offset, length, address, **kwargs)
        self.answered += data is not None
        return data

    def read_held(self, worker_id: str, uri: str, offset: int, length: int | None) -> bytes | None:
        data = self.inner.read_held(worker_id, uri, offset, length)
        self.answered += data is not None
        return data

    def info(self, worker_id: str, uri: str, address: str) -> dict | None:
        entry = self.inner.info(worker_id, uri, address)
        self.answered += entry is not None
        return entry

    def published(self, worker_id: str, uri: str):
        return self.inner.published(worker_id, uri)

    def unasked_stat(self, worker_id: str, uri: str):
        found = self.inner.unasked_stat(worker_id, uri)
        self.answered += found is not None
        return found


def client_of(cluster: LocalCluster, local: CountingLocalReads | None) -> CacheClient:
    control = ActorControl(local_coordinator(cluster))
    return CacheClient(control, HttpDataPath(), local=local, ufs_fallback=False)  # type: ignore[arg-type]


def test_short_circuit_reads_are_byte_exact(cluster: LocalCluster, tmp_path: Path) -> None:
    sizes = [0, 1, PAGE, PAGE + 1, 7 * PAGE + 3]
    files = {f"s{size}.bin": os.urandom(size) for size in sizes}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = CountingLocalReads()
    client = client_of(cluster, local)
    for _ in range(2):  # misses (read through the worker), then hits (from its files)
        for name, data in files.items():
            assert client.read(f"/data/{name}") == data
            for offset, length in [(0, 1), (PAGE - 1, 2), (3, 3 * PAGE), (len(data), 4)]:
                assert client.read(f"/data/{name}", offset, length) == data[offset:][:length]
    assert local.answered > 0


def test_eviction_and_free_racing_short_circuit_readers_never_give_wrong_bytes(
    cluster_factory, tmp_path: Path
) -> None:
    # Room for 6 pages, 50 pages of files: every read of a file evicts pages of others.
    cluster: LocalCluster = cluster_factory(workers=1, capacity=6 * PAGE, page_size=PAGE)
    files = {f"f{i}.bin": os.urandom(4 * PAGE + i) for i in range(10)}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    (worker_id,) = cluster.workers
    worker = cluster.worker_ref(worker_id)
    local = CountingLocalReads()
    readers = [client_of(cluster, local) for _ in range(3)]
    churner = client_of(cluster, None)
    names = sorted(files)
    wrong: list[str] = []
    reads = [0]

    def reader(client: CacheClient, seed: int):
        return lambda stop: read(client, seed, stop)

    def read(client: CacheClient, seed: int, stop: threading.Event) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            name = rng.choice(names[:2])  # hot files, evicted and freed under the readers
            data = files[name]
            offset = rng.randrange(len(data))
            length = rng.choice([4096, PAGE, 4 * PAGE])
            if client.read(f"/data/{name}", offset, length) != data[offset:][:length]:
                wrong.append(f"{name}@{offset}+{length}")
            reads[0] += 1

    def churn(stop: threading.Event) -> None:
        rng = random.Random(99)
        while not stop.is_set():
            name = rng.choice(names)
            if rng.random() < 0.3:
                cluster.run(worker.call("free_batch", [f"/data/{name}"]))
            elif churner.read(f"/data/{name}") != files[name]:  # over HTTP
                wrong.append(f"{name} whole, over HTTP")

    run_together([reader(c, i) for i, c in enumerate(readers)] + [churn], seconds=4)
    assert not wrong, wrong[:10]
    assert reads[0] > 50 and local.answered > 0


def test_a_held_descriptor_is_not_read_again_once_its_file_was_dropped(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "ufs", {"a.bin": b"old " * 50_000})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = CountingLocalReads()
    client = client_of(cluster, local)
    assert client.read("/data/a.bin") == b"old " * 50_000  # a miss: read through
    assert client.read("/data/a.bin", 4, 8) == b"old old "  # a hit: the descriptor is held
    answered = local.answered
    assert client.read("/data/a.bin", 0, 4) == b"old "  # read again from it
    assert local.answered == answered + 1
    (tree / "a.bin").write_bytes(b"new " * 50_000)
    owner = cluster.worker_ref(client.owners("/data/a.bin")[0])
    cluster.run(owner.call("free_batch", ["/data/a.bin"]))
    assert client.read("/data/a.bin", 4, 8) == b"new new "  # not the held copy


def test_cold_local_misses_read_early_are_byte_exact_counted_and_stored_once(
    cluster_factory, tmp_path: Path, monkeypatch
) -> None:
    cluster: LocalCluster = cluster_factory(workers=1, page_size=PAGE)
    files = {f"c{i}.bin": os.urandom(3 * PAGE + i) for i in range(6)}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    (worker_id,) = cluster.workers
    worker = cluster.workers[worker_id]
    taken: list[bool] = []
    take = EarlyRead.take

    def counted_take(self: EarlyRead, fd: int, offset: int, length: int) -> bytes | None:
        data = take(self, fd, offset, length)
        taken.append(data is not None)
        return data

    monkeypatch.setattr(EarlyRead, "take", counted_take)
    # Every read asks (none from the table of files published once stored).
    monkeypatch.setattr(LocalReads, "_look_in", lambda *args: None)
    local = CountingLocalReads()
    client = client_of(cluster, local)
    names = sorted(files)
    assert client.read(f"/data/{names[0]}") == files[names[0]]  # the first miss: none early
    assert client.read(f"/data/{names[1]}", PAGE - 3, PAGE) == files[names[1]][PAGE - 3 :][:PAGE]
    for name in names[2:]:
        assert client.read(f"/data/{name}") == files[name]
    assert taken == [True] * (len(names) - 1) and local.answered == len(names)
    cluster.run(worker.services.reads.settled())
    # Every miss counted by the owner, and its pages stored once, as without early reads.
    assert worker.counters["misses"] == 2 + sum(
        -(-len(files[n]) // PAGE) for n in names[:1] + names[2:]
    )
    assert worker.counters["hits"] == 0
    for name in names:
        info = worker.services.store.file_info(f"file://{tree}/{name}")
        expected = len(files[name]) if name != names[1] else 2 * PAGE
        assert info is not None and info.cached_bytes == expected, name
    # Guessed a miss, answered from the cache: the bytes read early are dropped.
    assert client.read(f"/data/{names[0]}", 5, 2 * PAGE) == files[names[0]][5 : 5 + 2 * PAGE]
    assert worker.counters["hits"] == 3 and len(taken) == len(names) - 1


def test_bytes_read_early_from_another_file_than_the_one_handed_over_are_never_returned(
    cluster_factory, tmp_path: Path, monkeypatch
) -> None:
    cluster: LocalCluster = cluster_factory(workers=1, page_size=PAGE)
    files = {f"c{i}.bin": os.urandom(2 * PAGE) for i in range(4)}
    tree = write_tree(tmp_path / "ufs", files)
    decoy = tmp_path / "decoy.bin"
    decoy.write_bytes(os.urandom(2 * PAGE))
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    start = EarlyRead.start
    early: list[EarlyRead | None] = []

    def from_the_decoy(uri: str, offset: int, length: int | None) -> EarlyRead | None:
        early.append(start(f"file://{decoy}", offset, length))  # a file replaced meanwhile
        return early[-1]

    monkeypatch.setattr(EarlyRead, "start", staticmethod(from_the_decoy))
    monkeypatch.setattr(LocalReads, "_take_grant", lambda *args: None)  # every miss asks
    client = client_of(cluster, CountingLocalReads())
    for name, data in sorted(files.items()):
        assert client.read(f"/data/{name}") == data
    assert len(early) == len(files) - 1 and all(read is not None for read in early)


def test_a_same_host_client_stats_through_the_owners_socket_as_over_http(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "ufs", {"a.bin": os.urandom(3 * PAGE), "d/b.bin": b"b"})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = CountingLocalReads()
    short, over_http = client_of(cluster, local), client_of(cluster, None)
    assert short.read("/data/a.bin", 0, PAGE)  # partly cached now
    answered = local.answered
    for path in ["/data/a.bin", "/data/d", "/data/d/b.bin"]:
        assert short.stat(path) == over_http.stat(path), path
    assert local.answered == answered + 3
    with pytest.raises(UfsNotFound):
        short.stat("/data/no-such.bin")


def test_a_read_cut_short_before_its_answer_never_takes_that_answer_for_the_next(
    cluster_factory, tmp_path: Path, monkeypatch
) -> None:
    cluster: LocalCluster = cluster_factory(workers=1)  # one socket carries every read
    files = {name: os.urandom(3 * PAGE) for name in ("a.bin", "b.bin", "c.bin")}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    monkeypatch.setattr(LocalReads, "_take_grant", lambda *args: None)  # every miss asks
    client = client_of(cluster, CountingLocalReads())
    assert client.read("/data/a.bin", 0, 10) == files["a.bin"][:10]  # connected
    receive = local_reads.receive_with_fds

    def interrupted(sock, most_fds):  # as a signal would, between request and answer
        monkeypatch.setattr(local_reads, "receive_with_fds", receive)
        raise KeyboardInterrupt

    monkeypatch.setattr(local_reads, "receive_with_fds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.read("/data/b.bin", PAGE, 100)
    assert client.read("/data/c.bin", PAGE, 100) == files["c.bin"][PAGE : PAGE + 100]
