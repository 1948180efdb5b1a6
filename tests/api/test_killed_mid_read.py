"""A worker killed while its data server is sending a large file: the client's read is cut
mid-answer, and it returns the right bytes all the same (asked again on the new ring, or
read from the UFS), never a short or mixed answer."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ringcache.client.client import CacheClient, connect
from ringcache.client.control import ActorControl, local_coordinator
from ringcache.client.data import HttpDataPath
from ringcache.cluster.errors import Unavailable
from ringcache.local import LocalCluster
from tests.conftest import wait_for, write_tree

SIZE = 64 << 20  # large enough that an answer is still on its way when its worker dies


class NotingFailures(HttpDataPath):
    """The client's HTTP data path, noting the data servers whose answers did not come."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: list[str] = []

    def read(self, address: str, uri: str, offset: int, length: int | None) -> bytes:
        try:
            return super().read(address, uri, offset, length)
        except Unavailable:
            self.failed.append(address)
            raise


def test_an_owner_killed_mid_answer_still_gives_the_right_bytes(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    tree = write_tree(tmp_path / "ufs", {"big.bin": data})
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    # Over HTTP only: a same-host short-circuit read would not touch the data server.
    data_path = NotingFailures()
    client = CacheClient(ActorControl(local_coordinator(cluster)), data_path)
    assert client.read("/data/big.bin") == data  # a miss: now cached on its owner
    victim = client.owners("/data/big.bin")[0]
    address = client.data_address(victim)
    counters = cluster.workers[victim].counters
    served_before = counters["bytesServed"]

    answers: list[bytes] = []
    reader = threading.Thread(target=lambda: answers.append(client.read("/data/big.bin")))
    reader.start()
    # The owner has located the whole file and is sending it: kill it now.
    deadline = time.monotonic() + 30
    while counters["bytesServed"] < served_before + SIZE and time.monotonic() < deadline:
        time.sleep(0.0005)
    cluster.kill_worker(victim)
    reader.join(timeout=120)
    assert not reader.is_alive() and len(answers) == 1
    assert data_path.failed[:1] == [address]  # the owner's answer was cut: asked elsewhere
    assert answers[0] == data

    # Once the ring has moved on, the new owner answers (its first read reads through).
    wait_for(lambda: victim not in client.control.ring()["workers"], what="the ring to move on")
    strict = connect(cluster=cluster, short_circuit=False, ufs_fallback=False, remember=False)
    assert strict.owners("/data/big.bin")[0] != victim
    assert strict.read("/data/big.bin", 5, SIZE) == data[5:]
