"""Load lanes: one per LANE_BYTES of a batch on a local disk, every lane otherwise."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from ringcache.cluster.worker.lanes import (
    LANE_BYTES,
    LaneShares,
    LocalDisks,
    file_system_type,
    lanes_for,
)

from .fakes import Parts, inline_io

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw 0 0
server:/export /data nfs4 rw 0 0
/dev/vdb /data/scratch xfs rw 0 0
tmpfs /mnt/my\\040disk tmpfs rw 0 0
fuse-a /mnt/bucket fuse.s3fs rw 0 0
fuse-b /mnt/bucket fuse.gcsfuse rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "ext4"),
        ("/home/me/x.bin", "ext4"),
        ("/dev/shm", "tmpfs"),
        ("/dev/shm/a/b", "tmpfs"),
        ("/data/train/0.bin", "nfs4"),
        ("/data/scratch/0.bin", "xfs"),  # the longest mount point that holds it
        ("/data/scratchy/0.bin", "nfs4"),  # a name sharing a prefix is not below it
        ("/mnt/my disk/f", "tmpfs"),  # \040 is a space
        ("/mnt/bucket/f", "fuse.gcsfuse"),  # the later of two mounts on one point
    ],
)
def test_file_system_type_is_that_of_the_longest_mount_point_holding_the_path(path, kind):
    assert file_system_type(path, MOUNTS) == kind


def test_no_mount_point_holds_a_path_in_an_empty_table():
    assert file_system_type("/x", "") is None


def test_lanes_follow_the_bytes_of_a_local_batch_and_are_all_used_otherwise():
    assert lanes_for(200, None, 8) == 8  # not all on a local disk: every lane
    assert lanes_for(3, None, 8) == 3  # never more lanes than files
    assert lanes_for(200, 200 * 4096, 8) == 1  # small local files: one lane
    assert lanes_for(200, 0, 8) == 1
    assert lanes_for(32, 3 * LANE_BYTES, 8) == 4
    assert lanes_for(32, 32 * 16 * 1024**2, 8) == 8  # large ones: up to every lane
    assert lanes_for(0, 0, 8) == 1


def test_local_disks_reads_the_mount_table_once_per_path(tmp_path: Path):
    table = tmp_path / "mounts"
    table.write_text(MOUNTS)
    disks = LocalDisks(str(table))
    assert disks.holds("/dev/shm/ufs")
    assert disks.holds("/data/scratch")
    assert not disks.holds("/data/train")
    assert not disks.holds("/mnt/bucket")
    table.write_text("server:/export / nfs rw 0 0\n")
    assert disks.holds("/dev/shm/ufs")  # remembered


def test_without_a_mount_table_no_disk_is_known_local(tmp_path: Path):
    assert not LocalDisks(str(tmp_path / "absent")).holds("/")


def _drain(shares: LaneShares, share) -> list:
    taken = []
    while (item := shares.take(share)) is not None:
        taken.append(item)
    return taken


def test_lanes_run_one_after_another_each_load_exactly_their_own_share():
    """As under the simulator's `run_io`, which models the lanes' overlap from each
    lane's own work: a lane takes nothing from lanes that have not started."""
    shares = LaneShares(list(range(10)), 3)
    assert [_drain(shares, shares.start()) for _ in range(3)] == [
        [0, 3, 6, 9],
        [1, 4, 7],
        [2, 5, 8],
    ]


def test_a_lane_done_with_its_share_takes_the_last_file_of_the_busiest_started_lane():
    shares = LaneShares(list(range(12)), 3)  # shares [0, 3, 6, 9] [1, 4, 7, 10] [2, 5, 8, 11]
    first, second = shares.start(), shares.start()
    assert shares.take(first) == 0 and shares.take(first) == 3
    assert _drain(shares, second) == [1, 4, 7, 10, 9, 6]  # then the first lane's, from its end
    assert shares.take(first) is None  # the third lane, not started, keeps its share
    assert _drain(shares, shares.start()) == [2, 5, 8, 11]


class LaneCount:
    """A `run_io` that counts the load lanes a batch runs in, and the most at once."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.sizes: list[int] = []
        self.running = 0
        self.most = 0

    async def __call__(self, function: Any, *args: Any) -> Any:
        if getattr(function, "__name__", "") != "load_lane":
            return await inline_io(function, *args)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.pause)  # long enough for another batch to start its lanes
            done = await inline_io(function, *args)
        finally:
            self.running -= 1
        self.sizes.append(len(done))  # the files this lane loaded
        return done


def _parts(tmp_path: Path, fs_line: str, lanes: Any) -> Parts:
    """Services whose UFS directory is, by the mount table, on a file system of `fs_line`."""
    parts_root = tmp_path / "worker"
    table = tmp_path / "mounts"
    table.write_text(fs_line.format(ufs=parts_root / "ufs") + "\n")
    return Parts(parts_root, local_disks=LocalDisks(str(table)), run_io=lanes)


def _entries(parts: Parts, sizes: list[int]) -> list[tuple]:
    return [
        (parts.write(f"f{i}.bin", os.urandom(size)), size, None, None)
        for i, size in enumerate(sizes)
    ]


def _lanes_used(tmp_path: Path, fs_line: str, sizes: list[int]) -> int:
    lanes = LaneCount()
    parts = _parts(tmp_path, fs_line, lanes)
    asyncio.run(parts.mounts.refresh())
    answers = asyncio.run(parts.loads.load_batch(_entries(parts, sizes), {}))
    assert [a.status for a in answers] == ["LOADED"] * len(sizes)
    assert sum(lanes.sizes) == len(sizes)
    return len(lanes.sizes)


def test_a_batch_of_small_files_on_a_local_disk_loads_in_one_lane(tmp_path: Path):
    assert _lanes_used(tmp_path, "tmpfs {ufs} tmpfs rw 0 0", [4096] * 20) == 1


def test_a_batch_on_a_network_file_system_loads_in_every_lane(tmp_path: Path):
    assert _lanes_used(tmp_path, "server:/x {ufs} nfs4 rw 0 0", [4096] * 20) == 4


def _most_lanes_at_once(tmp_path: Path, fs_line: str) -> int:
    """The most load lanes running at once while two batches of small files load."""
    lanes = LaneCount(pause=0.01)
    parts = _parts(tmp_path, fs_line, lanes)
    entries = _entries(parts, [4096] * 40)

    async def two_batches():
        await parts.mounts.refresh()
        return await asyncio.gather(
            parts.loads.load_batch(entries[:20], {}), parts.loads.load_batch(entries[20:], {})
        )

    for answers in asyncio.run(two_batches()):
        assert [a.status for a in answers] == ["LOADED"] * 20
    return lanes.most


def test_batches_of_local_files_take_turns(tmp_path: Path):
    assert _most_lanes_at_once(tmp_path, "tmpfs {ufs} tmpfs rw 0 0") == 1


def test_batches_on_a_network_file_system_run_together(tmp_path: Path):
    assert _most_lanes_at_once(tmp_path, "server:/x {ufs} nfs4 rw 0 0") > 4


class FirstFileWaits:
    """A loader whose first file waits (up to `patience` seconds) until every other file
    of the batch has loaded; notes whether they all had."""

    def __init__(self, loader: Any, others: int, patience: float = 5.0) -> None:
        self.loader = loader
        self.left = others
        self.patience = patience
        self.lock = threading.Lock()
        self.others_loaded = threading.Event()
        self.waited_for_all: bool | None = None

    def load(self, ufs: Any, uri: str, *args: Any) -> Any:
        if uri.endswith("/f0.bin"):
            self.waited_for_all = self.others_loaded.wait(self.patience)
            return self.loader.load(ufs, uri, *args)
        result = self.loader.load(ufs, uri, *args)
        with self.lock:
            self.left -= 1
            if not self.left:
                self.others_loaded.set()
        return result


def test_a_file_that_holds_up_its_lane_holds_back_no_other_file(tmp_path: Path):
    """Lanes take the batch's next file as they come free: while one lane is held up by
    a file, the others load every other file (none waits in the held lane's share)."""
    parts = _parts(tmp_path, "server:/x {ufs} nfs4 rw 0 0", asyncio.to_thread)
    entries = _entries(parts, [4096] * 12)
    slow = FirstFileWaits(parts.loads.loader, others=11)
    parts.loads.loader = slow

    async def load():
        await parts.mounts.refresh()
        return await parts.loads.load_batch(entries, {})

    answers = asyncio.run(load())
    assert [a.status for a in answers] == ["LOADED"] * 12
    assert slow.waited_for_all is True
