"""A local UFS file handed over for a miss is held and read on from without asking; what is
read from it is noted to its owner, which counts and stores it as the misses they were."""

from __future__ import annotations

import gc
import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ringcache.client import held_files
from ringcache.client.client import CacheClient
from ringcache.client.control import ActorControl, local_coordinator
from ringcache.client.data import HttpDataPath
from ringcache.client.fs import RingcacheFileSystem
from ringcache.client.local_reads import LocalReads
from ringcache.cluster.config import ApiConfig
from ringcache.dataserver.local_reads import socket_name
from ringcache.local import LocalCluster
from tests.conftest import wait_for, write_tree

PAGE = 64 * 1024
BLOCK = 2 * PAGE
SIZE = 10 * PAGE + 5  # 11 pages, the last of 5 bytes
TOKEN = "held-ufs-token"


class AskingLocalReads(LocalReads):
    """`LocalReads`, counting the requests it sent its workers."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__(token)
        self.asked = 0

    def _ask(self, *args, **kwargs):
        self.asked += 1
        return super()._ask(*args, **kwargs)


@dataclass
class HeldSetUp:
    """One worker with a file of SIZE random bytes mounted, and a client counting asks."""

    cluster: LocalCluster
    data: bytes
    client: CacheClient
    local: AskingLocalReads
    worker: Any
    worker_id: str
    uri: str
    path: Path


def set_up(cluster_factory, tmp_path: Path, token: str | None = None) -> HeldSetUp:
    api = ApiConfig(token=token) if token else ApiConfig()
    cluster: LocalCluster = cluster_factory(workers=1, page_size=PAGE, api=api)
    data = os.urandom(SIZE)
    tree = write_tree(tmp_path / "ufs", {"big.bin": data})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    local = AskingLocalReads(token)
    control = ActorControl(local_coordinator(cluster))
    client = CacheClient(control, HttpDataPath(token), local=local, ufs_fallback=False)
    (worker_id,) = cluster.workers
    worker = cluster.workers[worker_id]
    uri = f"file://{tree}/big.bin"
    return HeldSetUp(cluster, data, client, local, worker, worker_id, uri, tree / "big.bin")


def read_in_blocks(client: CacheClient, data: bytes) -> None:
    for at in range(0, len(data), BLOCK):
        assert client.read("/data/big.bin", at, BLOCK) == data[at : at + BLOCK], at


def stored_whole(held: HeldSetUp) -> bool:
    info = held.worker.services.store.file_info(held.uri)
    return info is not None and info.cached_bytes == SIZE


def test_a_local_file_read_on_in_blocks_asks_once_and_is_counted_and_stored_whole(
    cluster_factory, tmp_path: Path
) -> None:
    held = set_up(cluster_factory, tmp_path)
    client, worker, data = held.client, held.worker, held.data
    read_in_blocks(client, data)
    assert held.local.asked == 1  # the first block; the others from the file handed over
    held.local.flush_notes()
    wait_for(lambda: stored_whole(held), what="the blocks read from the held file stored")
    held.cluster.run(worker.services.reads.settled())
    assert worker.counters["misses"] == 11 and worker.counters["hits"] == 0
    assert worker.counters["bytesServed"] == SIZE
    # Stored whole, it is published: another thread (holding nothing of it) reads it from
    # the cache without asking, and the owner counts the hits once told.
    with ThreadPoolExecutor(1) as other:
        assert other.submit(client.read, "/data/big.bin", 0, 3 * PAGE).result() == data[: 3 * PAGE]
    held.local.flush_notes()
    wait_for(lambda: worker.counters["hits"] == 3, what="the hits noted")
    assert held.local.asked == 1


def test_a_held_local_file_is_asked_for_again_once_its_hold_lapsed(
    cluster_factory, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(held_files, "REUSE_SECONDS", 0.0)
    held = set_up(cluster_factory, tmp_path)
    read_in_blocks(held.client, held.data)
    assert held.local.asked == len(range(0, SIZE, BLOCK))


def test_a_held_local_file_that_shrank_is_read_from_its_owner_again(
    cluster_factory, tmp_path: Path
) -> None:
    held = set_up(cluster_factory, tmp_path)
    assert held.client.read("/data/big.bin", 0, BLOCK) == held.data[:BLOCK]
    shorter = os.urandom(3 * PAGE)
    held.path.write_bytes(shorter)  # in place: the held descriptor sees it shrink
    assert held.client.read("/data/big.bin", BLOCK, BLOCK) == shorter[BLOCK:]
    assert held.local.asked == 2


def test_notes_are_never_answered_and_bad_ones_are_dropped(cluster_factory, tmp_path: Path) -> None:
    held = set_up(cluster_factory, tmp_path, token=TOKEN)
    uri, worker = held.uri, held.worker
    held.client.refresh()
    address = held.client.data_address(held.worker_id)
    assert address is not None
    notes = [
        {"path": uri, "noted": [[0, PAGE]]},  # no token
        {"path": uri, "noted": [[0, PAGE]], "token": "wrong"},
        {"path": uri, "noted": "everything", "token": TOKEN},
        {"path": uri, "noted": [[0]], "token": TOKEN},
        {"path": "file:///etc/passwd", "noted": [[0, 100]], "token": TOKEN},
        {"path": uri, "noted": [[PAGE, -5], [SIZE + 10, PAGE]], "token": TOKEN},
        {"path": uri, "noted": [[3 * PAGE, PAGE]], "token": TOKEN},  # stored
    ]
    read = {"path": uri, "offset": 0, "length": 4, "token": TOKEN}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(socket_name(held.worker_id, address.rpartition(":")[2]))
        sock.sendall(b"".join(json.dumps(line).encode() + b"\n" for line in [*notes, read]))
        answer, fds, _, _ = socket.recv_fds(sock, 4096, 1)
        for fd in fds:
            os.close(fd)
    reply = json.loads(answer.split(b"\n")[0])
    assert reply.get("offset") == 0 and reply.get("length") == 4, reply  # the read's answer
    held.cluster.run(worker.services.reads.settled())
    assert worker.services.store.missing_pages(uri) == [1, 2, *range(4, 11)]  # 0: the read
    assert worker.counters["misses"] == 2  # the good note's page, and the read's


@pytest.mark.parametrize("token", [None, TOKEN])
def test_notes_reach_the_owner_without_a_flush(cluster_factory, tmp_path: Path, token) -> None:
    held = set_up(cluster_factory, tmp_path, token=token)
    read_in_blocks(held.client, held.data)
    wait_for(lambda: stored_whole(held), what="the notes sent in the background, and stored")


def test_ringcache_files_read_held_ranges_as_asked_not_a_block_ahead(
    cluster_factory, tmp_path: Path
) -> None:
    held = set_up(cluster_factory, tmp_path)
    fs = RingcacheFileSystem(client=held.client, block_size=BLOCK)
    step = PAGE // 2
    with fs.open("/data/big.bin", "rb") as handle:
        got = b"".join(iter(lambda: handle.read(step), b""))
        # The first read asks for its range alone; every read after it is from the file held.
        assert handle.cache.total_requested_bytes == step
    assert got == held.data and held.local.asked == 1
    with fs.open("/data/big.bin", "rb", cache_type="readahead") as handle:  # fsspec's own
        assert handle.read() == held.data


def test_what_a_thread_held_is_closed_once_it_ended(
    cluster_factory, tmp_path: Path, monkeypatch
) -> None:
    # Each thread asks and holds the file (no table of published files to read it from).
    monkeypatch.setattr(LocalReads, "_look_in", lambda *args: None)
    held = set_up(cluster_factory, tmp_path)
    client, data = held.client, held.data
    assert client.read("/data/big.bin") == data  # a miss, stored whole after
    held.cluster.run(held.worker.services.reads.settled())
    data_files = str(held.cluster.config.worker.cache_dir / "w0" / "pages") + "/"

    def held_open() -> list[str]:  # (the journal is the worker's own)
        return [p for p in open_paths() if p.startswith(data_files) and "journal" not in p]

    seen: list[bool] = []

    def reading() -> None:
        read = client.read("/data/big.bin", 5, 10)  # the cache file, held after
        seen.append(read == data[5:15] and client.read_held("/data/big.bin", 0, 4) == data[:4])
        seen.append(bool(held_open()))

    threads = [threading.Thread(target=reading) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    gc.collect()
    assert seen == [True] * 6 and not held_open()


def open_paths() -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed since listed
            continue
    return paths
