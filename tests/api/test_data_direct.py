"""Once its owner allowed it in a miss's answer, a same-host reader reads local UFS files
the owner records nothing of itself, without asking; the owner stores and counts them from
the reader's notes. Files it records anything of, files outside the granted roots, and
any read once the rules change or the worker stops are asked for as before."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ringcache.client.client import CacheClient
from ringcache.client.control import ActorControl, local_coordinator
from ringcache.client.data import HttpDataPath
from ringcache.cluster.errors import RingcacheError
from ringcache.local import LocalCluster
from tests.api.counting_reads import CountingLocalReads
from tests.api.policy_helpers import api_for, post, wait_rules
from tests.conftest import run_together, wait_for, write_tree

PAGE = 64 * 1024
SIZES = [1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 7]


@dataclass
class Direct:
    cluster: LocalCluster
    client: CacheClient
    local: CountingLocalReads
    worker: Any
    files: dict[str, bytes]
    tree: Path

    def uri(self, name: str) -> str:
        return f"file://{self.tree}/{name}"

    def recorded(self, name: str):
        return self.worker.services.store.file_info(self.uri(name))

    def granted(self) -> None:
        """A first miss, asked: its answer carries the grant."""
        assert self.client.read("/data/first.bin") == self.files["first.bin"]
        assert self.local.asked == 1 and self.local.unasked == 0


def set_up(cluster_factory, tmp_path: Path, **overrides: object) -> Direct:
    overrides.setdefault("page_size", PAGE)
    cluster: LocalCluster = cluster_factory(workers=1, **overrides)
    files = {f"f{i}.bin": os.urandom(size) for i, size in enumerate(SIZES)}
    files["first.bin"] = os.urandom(10)
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = CountingLocalReads()
    client = CacheClient(
        ActorControl(local_coordinator(cluster)), HttpDataPath(), local=local, ufs_fallback=False
    )
    (worker,) = cluster.workers.values()
    return Direct(cluster, client, local, worker, files, tree)


def in_a_thread(fn, *args):
    """`fn(*args)` on a thread of its own: it holds no descriptor of any file."""
    with ThreadPoolExecutor(1) as other:
        return other.submit(fn, *args).result()


def test_files_the_owner_records_nothing_of_are_read_without_asking_then_stored(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, worker = setup.client, setup.local, setup.worker
    setup.granted()
    misses, from_ufs = worker.counters["misses"], worker.counters["bytesFromUfs"]
    names = [f"f{i}.bin" for i in range(len(SIZES))]
    for name in names:
        assert in_a_thread(client.read, f"/data/{name}") == setup.files[name]
    assert local.asked == 1 and local.unasked == len(names)
    # Noted, then stored and counted as the misses they were, by the owner.
    local.flush_notes()
    wait_for(
        lambda: all(setup.recorded(n) and setup.recorded(n).complete for n in names),
        what="the noted files stored",
    )
    setup.cluster.run(worker.services.reads.settled())
    assert worker.counters["misses"] == misses + sum(-(-s // PAGE) for s in SIZES)
    assert worker.counters["bytesFromUfs"] == from_ufs + sum(SIZES)
    # Recorded now: read from the cache (asked once each, then published), never directly.
    for name in names:
        assert in_a_thread(client.read, f"/data/{name}") == setup.files[name]
    assert local.unasked == len(names)


def test_ranges_read_without_asking_are_byte_exact(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    ranges = [(0, 1), (PAGE - 1, 2), (PAGE, PAGE), (5, 2 * PAGE), (3 * PAGE, None)]
    # A file per range: the note of one range makes its file recorded, then asked for.
    big = {f"r{i}.bin": os.urandom(3 * PAGE + 7) for i in range(len(ranges))}
    write_tree(setup.tree, big)
    setup.granted()
    for (name, data), (offset, length) in zip(big.items(), ranges, strict=True):
        want = data[offset:] if length is None else data[offset : offset + length]
        assert in_a_thread(client.read, f"/data/{name}", offset, length) == want
    assert local.asked == 1 and local.unasked == len(ranges)
    # Nothing to read past the end: asked (the owner answers empty ranges).
    assert in_a_thread(client.read, "/data/f0.bin", 5, 10) == b""
    assert local.asked == 2


def test_each_mount_s_first_miss_grants_its_files_and_both_stay_granted(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    others = {"first.bin": b"x" * 9, "o1.bin": os.urandom(PAGE), "o2.bin": os.urandom(7)}
    other = write_tree(tmp_path / "other", others)
    setup.cluster.run(
        setup.cluster.coordinator_ref.call("add_mount", "/other", f"file://{other}", {})
    )
    setup.granted()
    assert in_a_thread(client.read, "/other/first.bin") == b"x" * 9
    assert local.asked == 2
    for i in (1, 2):  # each mount's files, in turn: none asked for
        assert in_a_thread(client.read, f"/other/o{i}.bin") == others[f"o{i}.bin"]
        assert in_a_thread(client.read, f"/data/f{i}.bin") == setup.files[f"f{i}.bin"]
    assert local.asked == 2 and local.unasked == 4


def test_a_file_recorded_nowhere_is_stat_ed_without_asking_as_its_owner_answers(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    names = [f"f{i}.bin" for i in range(len(SIZES))]
    asked = {name: client.stat(f"/data/{name}") for name in names}  # no grant yet
    assert local.infos == len(names) and all("mtime" in entry for entry in asked.values())
    setup.granted()
    assert {name: in_a_thread(client.stat, f"/data/{name}") for name in names} == asked
    assert local.infos == len(names)  # none asked
    # A directory, and a file recorded now, are asked for.
    setup.cluster.run(setup.worker.read("/data/f2.bin"))
    assert client.stat("/data/f2.bin") == asked["f2.bin"]
    (setup.tree / "sub").mkdir()
    assert client.stat("/data/sub")["type"] == "directory"
    assert local.infos == len(names) + 2


def test_a_file_the_owner_records_anything_of_is_asked_for(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, worker = setup.client, setup.local, setup.worker
    setup.granted()
    data = setup.files["f4.bin"]
    setup.cluster.run(worker.read("/data/f4.bin", PAGE, 10))  # one page of four cached
    setup.cluster.run(worker.services.reads.settled())
    assert setup.recorded("f4.bin") is not None
    assert in_a_thread(client.read, "/data/f4.bin") == data
    assert local.unasked == 0 and local.asked == 2
    # Freed, it is recorded no more: read without asking again.
    setup.cluster.run(worker.free_batch(["/data/f4.bin"]))
    assert setup.recorded("f4.bin") is None
    assert in_a_thread(client.read, "/data/f4.bin") == data
    assert local.unasked == 1 and local.asked == 2


def test_a_quota_stops_reads_without_asking(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    setup.granted()
    (worker_id,) = setup.cluster.workers
    grant = local.direct.granted(worker_id)
    post(api_for(setup.cluster), "/quota", {"path": "/data", "size": "1GB"})
    wait_rules(setup.cluster, lambda p: p.any_quota, "the quota")
    view = local.tables.view(worker_id)
    assert view is not None
    wait_for(lambda: view.generation_now() != grant.generation, what="the table renewed")
    for name in ("f0.bin", "f1.bin"):
        assert in_a_thread(client.read, f"/data/{name}") == setup.files[name]
    # Each asked: under a quota a miss is stored before it is answered, so none is granted.
    assert local.unasked == 0 and local.asked == 3
    assert local.direct.granted(worker_id) is grant


def test_a_symlink_out_of_the_mount_is_never_read_without_asking(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path, allowed_local_roots=[str(tmp_path / "ufs")])
    client, local = setup.client, setup.local
    setup.granted()
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"not under the mount")
    (setup.tree / "link.bin").symlink_to(outside)
    with pytest.raises(RingcacheError):  # the owner's answer: outside its roots
        in_a_thread(client.read, "/data/link.bin")
    assert local.unasked == 0 and local.asked == 2
    # A link that stays inside is read as its target.
    (setup.tree / "inside.bin").symlink_to(setup.tree / "f2.bin")
    assert in_a_thread(client.read, "/data/inside.bin") == setup.files["f2.bin"]
    assert local.unasked == 1


def test_what_is_not_a_regular_file_is_asked_for(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    setup.granted()
    (setup.tree / "dir").mkdir()
    os.mkfifo(setup.tree / "fifo")
    for name in ("dir", "fifo", "missing.bin"):
        with pytest.raises(RingcacheError):
            in_a_thread(client.read, f"/data/{name}")
    assert local.unasked == 0 and local.asked == 4


def test_a_stopped_worker_grants_nothing(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    setup.granted()
    (worker_id,) = setup.cluster.workers
    grant = setup.local.direct.granted(worker_id)
    assert grant is not None
    view = setup.local.tables.view(worker_id)
    assert view is not None and view.generation_now() == grant.generation
    assert not grant.names.may_hold(setup.uri("f0.bin"))
    setup.cluster.stop()
    assert view.generation_now() is None  # the lease withdrawn: nothing read unasked
    cache_dir = Path(setup.worker.change_epoch.path).parent
    assert not list(cache_dir.glob("held-names-*"))  # and its filter gone


def test_a_rule_binds_readers_here_once_acknowledged(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    setup.granted()
    (worker_id,) = setup.cluster.workers
    view = local.tables.view(worker_id)
    assert view is not None
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]  # unasked
    local.flush_notes()
    wait_for(lambda: view.find(setup.uri("f1.bin")), what="f1.bin stored and published")
    assert local.unasked == 1 and local.asked == 1
    # Acknowledged once the worker read it: from then on nothing is read unasked.
    post(api_for(setup.cluster), "/cache-filter", {"pattern": ".*/ufs/.*", "rule": "skipCache"})
    assert view.find(setup.uri("f1.bin")) is None
    for name in ("f1.bin", "f2.bin"):  # published, and recorded nowhere: both asked for
        assert in_a_thread(client.read, f"/data/{name}") == setup.files[name]
    assert local.unasked == 1 and local.asked == 3
    assert setup.recorded("f1.bin") is None and setup.recorded("f2.bin") is None


def test_frees_and_evictions_racing_readers_unasked_never_give_wrong_bytes(
    cluster_factory, tmp_path: Path
) -> None:
    # Room for 8 pages: what readers note is stored, evicted and freed again and again.
    setup = set_up(cluster_factory, tmp_path, capacity=8 * PAGE)
    cluster, local, worker = setup.cluster, setup.local, setup.worker
    setup.granted()
    names = sorted(setup.files)
    wrong: list[str] = []

    def reader(seed: int):
        def read(stop: threading.Event) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                name = rng.choice(names)
                data = setup.files[name]
                offset = rng.randrange(len(data))
                length = rng.choice([1, 4096, PAGE, None])
                want = data[offset:] if length is None else data[offset : offset + length]
                if setup.client.read(f"/data/{name}", offset, length) != want:
                    wrong.append(f"{name}@{offset}+{length}")

        return read

    def churn(stop: threading.Event) -> None:
        rng = random.Random(99)
        while not stop.is_set():
            cluster.run(worker.free_batch([f"/data/{rng.choice(names)}"]))
            time.sleep(0.005)

    run_together([reader(seed) for seed in range(3)] + [churn], seconds=3)
    assert not wrong, wrong[:10]
    assert local.unasked > 20 and local.asked > 20
