"""Load lanes: one per LANE_BYTES of a batch on a local disk, every lane otherwise."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ringcache.cluster.worker.lanes import LANE_BYTES, LocalDisks, file_system_type, lanes_for
from ringcache.local import LocalCluster

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


def _lanes_used(cluster: LocalCluster, table: str, data: Path, sizes: list[int]) -> int:
    """How many lanes the worker's load batch over files of `sizes` in `data` ran in, with
    `table` as the mount table."""
    for i, size in enumerate(sizes):
        (data / f"f{i}.bin").write_bytes(os.urandom(size))
    worker = next(iter(cluster.workers.values()))
    worker._local_disks = LocalDisks(table)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data}", {}))
    lanes = []
    run_io = worker.env.run_io

    async def counting(function, *args):
        if getattr(function, "__name__", "") == "_load_lane":
            lanes.append(len(args[0]))
        return await run_io(function, *args)

    worker.env.run_io = counting
    entries = [(f"file://{data}/f{i}.bin", size, None, None) for i, size in enumerate(sizes)]
    answers = cluster.run(worker.load_batch(entries, {}))
    assert [a["status"] for a in answers] == ["LOADED"] * len(sizes)
    assert sum(lanes) == len(sizes)
    return len(lanes)


def test_a_batch_of_small_files_on_a_local_disk_loads_in_one_lane(cluster, tmp_path: Path):
    data = tmp_path / "local"
    data.mkdir()
    table = tmp_path / "mounts"
    table.write_text(f"tmpfs {data} tmpfs rw 0 0\n")
    assert _lanes_used(cluster, str(table), data, [4096] * 20) == 1


def test_a_batch_on_a_network_file_system_loads_in_every_lane(cluster, tmp_path: Path):
    data = tmp_path / "nfs"
    data.mkdir()
    table = tmp_path / "mounts"
    table.write_text(f"server:/x {data} nfs4 rw 0 0\n")
    lanes = cluster.config.worker.max_batch_concurrency
    assert _lanes_used(cluster, str(table), data, [4096] * 20) == lanes


def _most_lanes_at_once(cluster: LocalCluster, table: str, data: Path) -> int:
    """The most load lanes running at once while two batches of small files in `data`
    load together, with `table` as the mount table."""
    for i in range(40):
        (data / f"f{i}.bin").write_bytes(os.urandom(4096))
    worker = next(iter(cluster.workers.values()))
    worker._local_disks = LocalDisks(table)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{data}", {}))
    running, most = 0, 0
    run_io = worker.env.run_io

    async def counting(function, *args):
        nonlocal running, most
        if getattr(function, "__name__", "") != "_load_lane":
            return await run_io(function, *args)
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.01)  # long enough for the other batch to start its lanes
            return await run_io(function, *args)
        finally:
            running -= 1

    worker.env.run_io = counting
    entries = [(f"file://{data}/f{i}.bin", 4096, None, None) for i in range(40)]

    async def two_batches():
        return await asyncio.gather(
            worker.load_batch(entries[:20], {}), worker.load_batch(entries[20:], {})
        )

    for answers in cluster.run(two_batches()):
        assert [a["status"] for a in answers] == ["LOADED"] * 20
    return most


def test_batches_of_local_files_take_turns(cluster, tmp_path: Path):
    data = tmp_path / "local"
    data.mkdir()
    table = tmp_path / "mounts"
    table.write_text(f"tmpfs {data} tmpfs rw 0 0\n")
    assert _most_lanes_at_once(cluster, str(table), data) == 1


def test_batches_on_a_network_file_system_run_together(cluster, tmp_path: Path):
    data = tmp_path / "nfs"
    data.mkdir()
    table = tmp_path / "mounts"
    table.write_text(f"server:/x {data} nfs4 rw 0 0\n")
    assert (
        _most_lanes_at_once(cluster, str(table), data) > cluster.config.worker.max_batch_concurrency
    )
