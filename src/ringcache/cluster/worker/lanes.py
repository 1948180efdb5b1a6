"""How many threads ("lanes") a worker's load batch runs in.

Lanes pay off while they wait: on a remote store, on a network file system. Files on a local
disk, copied by the kernel from its page cache, do not wait, and small ones then lose by
lanes: each Python thread mostly passes the GIL to the next. On a 2-core machine, 20,000 local
files of 4 KiB loaded in 8 lanes took 2.2x the CPU of one lane and ran at half its speed
(`bench/bench_worker_files.py --every-lane` against the default). Large local files gain from
lanes again: the kernel copies them outside the GIL, on every core.

So a batch whose files are all on a local disk gets one lane per `LANE_BYTES` of them, at
least one, and such batches take turns on a worker (two at once are two threads again: one
worker given two batches of 4 KiB files at a time loaded 5,600-5,700 files/s when they ran
together, 8,100-9,700 when they took turns); any other batch gets every lane.

Which file systems are local disks is read from the mount table (`/proc/mounts`); where it
cannot be read, every batch gets every lane.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

LANE_BYTES = 8 * 1024**2  # of a batch of local-disk files, per lane
MOUNT_TABLE = "/proc/mounts"
# File systems on a disk (or in memory) of this machine; any other type (nfs, cifs, fuse.*,
# lustre, ceph, ...) may wait on a network, where lanes overlap the waits.
LOCAL_DISK_TYPES = frozenset(
    {
        "bcachefs",
        "btrfs",
        "exfat",
        "ext2",
        "ext3",
        "ext4",
        "f2fs",
        "jfs",
        "ntfs3",
        "overlay",
        "ramfs",
        "tmpfs",
        "vfat",
        "xfs",
        "zfs",
    }
)


def lanes_for(files: int, local_bytes: int | None, max_lanes: int) -> int:
    """Lanes for a batch of `files`: `local_bytes` is their size when all are on a local
    disk, None otherwise."""
    lanes = max_lanes if local_bytes is None else min(max_lanes, 1 + local_bytes // LANE_BYTES)
    return max(1, min(lanes, files))


def file_system_type(path: str, mount_table: str) -> str | None:
    """The type of the file system holding absolute `path`, by the longest mount point in
    `mount_table` (the text of `/proc/mounts`) that holds it; None if none does."""
    best, best_type = "", None
    for line in mount_table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        holds = path == point or path.startswith(point.rstrip("/") + "/")
        if holds and len(point) >= len(best):  # a later mount over the same point wins
            best, best_type = point, fields[2]
    return best_type


def _unescape(field: str) -> str:
    """/proc/mounts writes a space in a mount point as \\040, and tab, newline and \\ alike."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


class LocalDisks:
    """Whether directories are on a local disk, by the mount table, remembered per path."""

    def __init__(self, mount_table: str = MOUNT_TABLE) -> None:
        self.mount_table = mount_table
        self._known: dict[str, bool] = {}

    def remembered(self, path: str) -> bool | None:
        """`holds(path)` if it was asked before, else None (without any I/O)."""
        return self._known.get(path)

    def holds(self, path: str) -> bool:
        """Reads the mount table and resolves links the first time `path` is asked."""
        known = self._known.get(path)
        if known is None:
            try:
                with open(self.mount_table, encoding="utf-8", errors="replace") as table:
                    text = table.read()
            except OSError:
                text = ""
            kind = file_system_type(os.path.realpath(path), text)
            known = self._known[path] = kind in LOCAL_DISK_TYPES
        return known


class LaneShares(Generic[T]):
    """A batch's files dealt to its lanes in turn; a lane that has loaded its own share
    takes the last file queued in the share of the busiest lane that has started.

    So no file waits behind a big or slow one in another lane. Only started lanes are
    taken from: a lane still waiting for a thread keeps its share, and a `run_lanes` that
    runs each lane to its end before the next starts (the simulator's, which models the
    lanes' overlap in virtual time) sees each lane load exactly its own share.
    Thread-safe: owners take from the front of their share, others from its back.
    """

    def __init__(self, items: Sequence[T], lanes: int) -> None:
        self._shares = [deque(items[lane::lanes]) for lane in range(lanes)]
        self._started: list[deque[T]] = []
        self._lock = threading.Lock()

    def start(self) -> deque[T]:
        """The share of the lane starting now (call once per lane)."""
        with self._lock:
            share = self._shares[len(self._started)]
            self._started.append(share)
            return share

    def take(self, share: deque[T]) -> T | None:
        """The next item for the lane of `share`; None once every started lane's is empty."""
        try:
            return share.popleft()
        except IndexError:
            pass
        while True:
            with self._lock:
                busiest = max(self._started, key=len)
            if not busiest:
                return None
            try:
                return busiest.pop()
            except IndexError:  # its owner or another lane took it first: look again
                continue
