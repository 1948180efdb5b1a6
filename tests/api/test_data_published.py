"""A wholly cached file a same-host reader asked for once is published by its owner: later
reads, from any thread, read its data file without asking, are counted by the owner as
hits, and stop as soon as a page may be dropped, the rules change or the worker stops."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringcache.client.client import CacheClient
from ringcache.client.control import ActorControl, local_coordinator
from ringcache.client.data import HttpDataPath
from ringcache.local import LocalCluster
from tests.api.counting_reads import CountingLocalReads
from tests.api.policy_helpers import api_for, post, wait_rules
from tests.conftest import run_together, wait_for, write_tree

PAGE = 64 * 1024


@dataclass
class Published:
    cluster: LocalCluster
    client: CacheClient
    local: CountingLocalReads
    worker: Any
    files: dict[str, bytes]
    tree: Path


def set_up(cluster_factory, tmp_path: Path, **overrides: object) -> Published:
    overrides.setdefault("page_size", PAGE)
    cluster: LocalCluster = cluster_factory(workers=1, **overrides)
    files = {f"f{i}.bin": os.urandom(size) for i, size in enumerate([1, PAGE, 3 * PAGE + 7])}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = CountingLocalReads(grants=False)  # every miss asked: see test_data_direct
    control = ActorControl(local_coordinator(cluster))
    client = CacheClient(control, HttpDataPath(), local=local, ufs_fallback=False)
    (worker,) = cluster.workers.values()
    return Published(cluster, client, local, worker, files, tree)


def in_a_thread(fn, *args):
    """`fn(*args)` on a thread of its own: it holds no descriptor of any file."""
    with ThreadPoolExecutor(1) as other:
        return other.submit(fn, *args).result()


def publish_all(setup: Published) -> None:
    """Each file missed, then stored (and published once stored)."""
    for name, data in setup.files.items():
        assert setup.client.read(f"/data/{name}") == data
    setup.cluster.run(setup.worker.services.reads.settled())


def test_a_file_stored_whole_after_a_miss_is_read_next_without_asking(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, files = setup.client, setup.local, setup.files
    publish_all(setup)
    assert local.asked == 3 and local.from_table == 0
    for name, data in files.items():
        assert in_a_thread(client.read, f"/data/{name}") == data
    assert local.asked == 3 and local.from_table == 3


def test_a_published_file_is_stat_ed_without_asking_as_its_cached_version(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    asked_entries = {name: client.stat(f"/data/{name}") for name in setup.files}  # the UFS's
    publish_all(setup)
    infos = local.infos
    for name in setup.files:
        assert client.stat(f"/data/{name}") == asked_entries[name]
    assert local.infos == infos  # none asked
    (setup.tree / "f1.bin").write_bytes(b"changed on the UFS")  # not yet seen by the cache
    assert client.stat("/data/f1.bin") == asked_entries["f1.bin"]  # as reads answer it
    assert client.read("/data/f1.bin") == setup.files["f1.bin"]
    setup.cluster.run(setup.worker.free_batch(["/data/f1.bin"]))
    fresh = client.stat("/data/f1.bin")  # no longer published: asked, the UFS's
    assert fresh["size"] == len(b"changed on the UFS") and local.infos == infos + 1


def test_a_file_not_stored_whole_is_not_published(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, data = setup.client, setup.local, setup.files["f2.bin"]
    assert client.read("/data/f2.bin", PAGE, 10) == data[PAGE : PAGE + 10]  # page 1 of four
    setup.cluster.run(setup.worker.services.reads.settled())
    assert in_a_thread(client.read, "/data/f2.bin", PAGE, 5) == data[PAGE : PAGE + 5]
    assert local.asked == 2 and local.from_table == 0  # a hit, but not of a whole file


def test_a_published_file_is_read_without_asking_and_counted_as_hits(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, worker = setup.client, setup.local, setup.worker
    publish_all(setup)
    asked, hits, served = local.asked, worker.counters["hits"], worker.counters["bytesServed"]
    tabled = local.from_table
    expected_hits = expected_bytes = 0
    for name, data in setup.files.items():
        for offset, length in [(0, None), (0, 1), (PAGE - 1, 2), (3, 2 * PAGE), (len(data), 4)]:
            want = data[offset:] if length is None else data[offset : offset + length]
            assert in_a_thread(client.read, f"/data/{name}", offset, length) == want
            if want:
                expected_hits += (offset + len(want) - 1) // PAGE - offset // PAGE + 1
                expected_bytes += len(want)
    # A thread reads on from the data file it found published (held): counted just the same.
    twice = [setup.files["f2.bin"][PAGE : PAGE + 5]] * 2
    assert in_a_thread(lambda: [client.read("/data/f2.bin", PAGE, 5) for _ in range(2)]) == twice
    expected_hits += 2  # a page each
    expected_bytes += 2 * 5
    assert local.asked == asked  # not one request
    assert local.from_table == tabled + 3 * 5 + 1
    local.flush_notes()
    wait_for(lambda: worker.counters["hits"] == hits + expected_hits, what="the hits noted")
    assert worker.counters["bytesServed"] == served + expected_bytes


def test_a_published_file_freed_is_asked_for_again(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local, worker = setup.client, setup.local, setup.worker
    publish_all(setup)
    setup.cluster.run(worker.free_batch(["/data/f2.bin"]))
    asked = local.asked
    assert in_a_thread(client.read, "/data/f2.bin") == setup.files["f2.bin"]
    assert local.asked == asked + 1  # dropped: the epoch moved on, so it asked
    setup.cluster.run(worker.services.reads.settled())  # stored again: published again
    assert in_a_thread(client.read, "/data/f2.bin") == setup.files["f2.bin"]
    assert local.asked == asked + 1
    # Every other entry went with that epoch: asked for once more, then published.
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]
    assert local.asked == asked + 2


def test_published_files_are_asked_for_again_once_the_rules_change(
    cluster_factory, tmp_path: Path
) -> None:
    setup = set_up(cluster_factory, tmp_path)
    client, local = setup.client, setup.local
    publish_all(setup)
    asked = local.asked
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]
    assert local.asked == asked
    api = api_for(setup.cluster)
    post(api, "/ttl", {"path": "/data", "time": "1h"})  # a TTL: no copy is read unasked
    wait_rules(setup.cluster, lambda p: p.ttl_for(f"file://{setup.tree}/f1.bin"), "the TTL")
    uri = f"file://{setup.tree}/f1.bin"
    view = local.tables.view(next(iter(setup.cluster.workers)))
    assert view is not None
    wait_for(lambda: view.find(uri) is None, what="the table renewed under the new rules")
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]
    assert in_a_thread(client.read, "/data/f1.bin") == setup.files["f1.bin"]
    assert local.asked == asked + 2  # each asked: under a TTL, never published again


def test_a_stopped_worker_s_table_is_not_read(cluster_factory, tmp_path: Path) -> None:
    setup = set_up(cluster_factory, tmp_path)
    publish_all(setup)
    (worker_id,) = setup.cluster.workers
    view = setup.local.tables.view(worker_id)
    assert view is not None
    uri = f"file://{setup.tree}/f0.bin"
    assert view.find(uri) is not None
    setup.cluster.stop()
    assert view.find(uri) is None


def test_eviction_and_free_racing_readers_of_published_files_never_give_wrong_bytes(
    cluster_factory, tmp_path: Path
) -> None:
    # Room for 8 pages; the hot files (4 pages in all) are published, evicted and freed
    # again and again while readers on other threads read them.
    setup = set_up(cluster_factory, tmp_path, capacity=8 * PAGE)
    cluster, local, worker = setup.cluster, setup.local, setup.worker
    cold = {f"c{i}.bin": os.urandom(2 * PAGE + i) for i in range(6)}
    write_tree(setup.tree, cold)
    files = {**setup.files, **cold}
    readers = [setup.client] + [
        CacheClient(ActorControl(local_coordinator(cluster)), HttpDataPath(), local=local)
        for _ in range(2)
    ]
    wrong: list[str] = []

    def reader(client: CacheClient, seed: int):
        return lambda stop: read(client, seed, stop)

    def read(client: CacheClient, seed: int, stop: threading.Event) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            name = rng.choice(sorted(setup.files))
            data = files[name]
            offset = rng.randrange(len(data))
            length = rng.choice([1, 4096, PAGE, None])
            want = data[offset:] if length is None else data[offset : offset + length]
            if client.read(f"/data/{name}", offset, length) != want:
                wrong.append(f"{name}@{offset}+{length}")

    def churn(stop: threading.Event) -> None:
        rng = random.Random(99)
        while not stop.is_set():
            name = rng.choice(sorted(files))
            if rng.random() < 0.2:
                cluster.run(worker.free_batch([f"/data/{name}"]))
            elif name in cold:  # evicts pages of the hot files
                cluster.run(worker.read(f"/data/{name}"))
            time.sleep(0.002)

    run_together([reader(c, i) for i, c in enumerate(readers)] + [churn], seconds=4)
    assert not wrong, wrong[:10]
    assert local.from_table > 20 and local.asked > 20
