"""`BatchLoads` and `FileLoader`: one result per file, each file cached whole or not at all."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ringcache.cluster.policies import CacheRule, FilterRule, PriorityRule, QuotaRule
from ringcache.cluster.ufs.factory import ufs_for
from ringcache.cluster.worker.file_loader import (
    UFS_READS_IN_FLIGHT,
    UFS_RUN_MOST_PAGES,
    UFS_RUN_PAGES,
    growing_ranges,
)

from .fakes import PAGE, Parts


def test_a_batch_loads_each_file_whole_and_answers_for_each(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    a = parts.write("a.bin", os.urandom(3 * PAGE + 1))
    empty = parts.write("empty.bin", b"")
    run(parts.mounts.refresh())
    answers = run(
        parts.loads.load_batch(
            ["/data/a.bin", (empty, 0, None, None), "/elsewhere/x", "/data/missing.bin"]
        )
    )
    assert [(r.path, r.status, r.bytes) for r in answers[:2]] == [
        (a, "LOADED", 3 * PAGE + 1),
        (empty, "LOADED", 0),
    ]
    assert answers[2].status == "FAILED" and answers[2].reason == "INVALID_PATH"
    assert answers[3].status == "FAILED" and answers[3].path == "/data/missing.bin"
    assert parts.store.file_info(a).complete
    assert parts.store.file_info(empty) is not None
    assert run(parts.reads.read("/data/a.bin")) == (parts.ufs_root / "a.bin").read_bytes()
    assert parts.counters["misses"] == 0  # all from the cache


def test_skip_if_exists_and_if_changed_skip_what_is_cached_whole(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    parts.write("a.bin", os.urandom(PAGE))
    run(parts.mounts.refresh())
    assert run(parts.loads.load_batch(["/data/a.bin"]))[0].status == "LOADED"
    for options in ({"skipIfExists": True}, {"ifChanged": True}):
        assert run(parts.loads.load_batch(["/data/a.bin"], options))[0].status == "SKIPPED"
    assert run(parts.loads.load_batch(["/data/a.bin"], {}))[0].status == "LOADED"
    # A job that loaded a file before its coordinator restarted counts it loaded, not skipped.
    job = {"skipIfExists": True, "jobId": "load-1"}
    parts.write("b.bin", os.urandom(PAGE))
    assert run(parts.loads.load_batch(["/data/b.bin"], job))[0].status == "LOADED"
    assert run(parts.loads.load_batch(["/data/b.bin"], job))[0].status == "LOADED"


def test_filtered_files_are_not_cached_and_new_files_get_their_level(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    tmp = parts.write("scratch/t.bin", os.urandom(10))
    low = parts.write("low/l.bin", os.urandom(2 * PAGE))
    parts.set_policies(
        filters=[FilterRule.parse(".*/scratch/.*", CacheRule.SKIP_CACHE.value)],
        priorities=[PriorityRule.parse("/data/low", "LOW", parts.table())],
    )
    run(parts.mounts.refresh())
    answers = run(parts.loads.load_batch(["/data/scratch/t.bin", "/data/low/l.bin"]))
    assert [a.status for a in answers] == ["FILTERED", "LOADED"]
    assert parts.store.file_info(tmp) is None
    assert parts.store.file_info(low).priority == "LOW"


def test_a_quota_refuses_a_file_unless_the_coordinator_checked(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    big = parts.write("q/big.bin", os.urandom(3 * PAGE))
    parts.set_policies(quotas=[QuotaRule.parse("/data/q", "2KB", None, parts.table())])
    run(parts.mounts.refresh())
    (refused,) = run(parts.loads.load_batch(["/data/q/big.bin"]))
    assert refused.status == "FAILED" and refused.reason == "QUOTA_EXCEEDED"
    assert refused.quota["path"] == "/data/q"
    assert parts.store.file_info(big) is None
    (checked,) = run(parts.loads.load_batch(["/data/q/big.bin"], {"quotaChecked": True}))
    assert checked.status == "LOADED"


def test_make_room_evicts_least_recently_used_first_never_the_batch(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    old = parts.write("q/old.bin", os.urandom(PAGE))
    new = parts.write("q/new.bin", os.urandom(PAGE))
    parts.set_policies(quotas=[QuotaRule.parse("/data/q", "1KiB", "EVICT", parts.table())])
    run(parts.mounts.refresh())
    assert run(parts.loads.load_batch(["/data/q/old.bin"]))[0].status == "LOADED"
    keep = parts.write("q/keep.bin", os.urandom(PAGE))
    assert run(parts.loads.load_batch(["/data/q/keep.bin"], {"quotaChecked": True}))
    assert run(parts.loads.make_room({"/data/q": 2 * PAGE}, [keep])) == PAGE
    assert parts.store.file_info(old) is None and parts.store.file_info(keep).complete
    options = {"quotaChecked": True}
    assert run(parts.loads.load_batch(["/data/q/new.bin"], options))[0].status == "LOADED"
    assert parts.store.file_info(new).complete


def test_a_file_the_ufs_cannot_read_fails_and_leaves_nothing_behind(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uri = parts.uri("gone.bin")  # listed, then deleted before the load
    run(parts.mounts.refresh())
    (answer,) = run(parts.loads.load_batch([(uri, 2 * PAGE, 1.0, None)]))
    assert (answer.status, answer.reason) == ("FAILED", "UFS_NOT_FOUND")  # at its open
    assert parts.store.file_info(uri) is None


class RemoteLooking:
    """The local UFS as a remote one looks to a loader (no local path: ranged reads, not a
    kernel copy), recording the ranges read."""

    def __init__(self, ufs: Any) -> None:
        self.ufs = ufs
        self.reads: list[tuple[int, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ufs, name)

    def local_path(self, uri: str) -> None:
        return None

    def open_local(self, uri: str) -> None:
        return None

    def read(self, uri: str, offset: int = 0, length: int | None = None) -> bytes:
        self.reads.append((offset, length))
        return self.ufs.read(uri, offset, length)


class Meeting(RemoteLooking):
    """A remote-looking UFS whose first `parties` reads wait until all of them run at once."""

    def __init__(self, ufs: Any, parties: int) -> None:
        super().__init__(ufs)
        self.meet = threading.Barrier(parties, timeout=10)
        self.arrived = 0
        self.lock = threading.Lock()

    def read(self, uri: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.lock:
            self.arrived += 1
            first = self.arrived <= self.meet.parties
        if first:
            self.meet.wait()
        return super().read(uri, offset, length)


def test_a_large_remote_file_is_read_in_ranges_that_grow_to_a_bound(tmp_path: Path, run) -> None:
    pages = UFS_RUN_PAGES + 2 * UFS_RUN_PAGES + 3 * UFS_RUN_MOST_PAGES + 5
    parts = Parts(tmp_path, capacity=(pages + 1) * PAGE)
    data = os.urandom(pages * PAGE - 7)
    uri = parts.write("big.bin", data)
    opened: list[RemoteLooking] = []

    def remote(root: str, options: dict[str, Any]) -> RemoteLooking:
        opened.append(RemoteLooking(ufs_for(root, options)))
        return opened[-1]

    parts.loads.ufs_factory = remote
    run(parts.mounts.refresh())
    (answer,) = run(parts.loads.load_batch(["/data/big.bin"]))
    assert (answer.status, answer.bytes) == ("LOADED", len(data))
    reads = sorted(opened[0].reads)  # a few in flight at once: made in any order
    sizes = [length // PAGE for _, length in reads[:-1]]
    assert sizes == [UFS_RUN_PAGES, 2 * UFS_RUN_PAGES] + [UFS_RUN_MOST_PAGES] * 3
    following = zip(reads, reads[1:], strict=False)
    assert all(offset + length == after for (offset, length), (after, _) in following)
    assert reads[0][0] == 0
    last_offset, last_length = reads[-1]
    assert last_offset + last_length == len(data)  # every byte asked once, in order
    assert parts.store.file_info(uri).complete
    assert run(parts.reads.read("/data/big.bin")) == data
    assert parts.counters["misses"] == 0  # all from the cache


def test_a_large_remote_file_s_reads_are_in_flight_together(tmp_path: Path, run) -> None:
    pages = UFS_RUN_PAGES + UFS_READS_IN_FLIGHT * UFS_RUN_MOST_PAGES
    parts = Parts(tmp_path, capacity=(pages + 1) * PAGE)
    data = os.urandom(pages * PAGE - 3)
    parts.write("big.bin", data)
    opened: list[Meeting] = []

    def remote(root: str, options: dict[str, Any]) -> Meeting:
        opened.append(Meeting(ufs_for(root, options), UFS_READS_IN_FLIGHT))
        return opened[-1]

    parts.loads.ufs_factory = remote
    run(parts.mounts.refresh())
    (answer,) = run(parts.loads.load_batch(["/data/big.bin"]))
    assert (answer.status, answer.bytes) == ("LOADED", len(data))
    assert not opened[0].meet.broken  # the first reads waited for each other: all at once
    assert run(parts.reads.read("/data/big.bin")) == data


def test_a_failed_range_of_a_large_file_leaves_nothing_cached(tmp_path: Path, run) -> None:
    pages = UFS_RUN_PAGES + UFS_READS_IN_FLIGHT * UFS_RUN_MOST_PAGES
    parts = Parts(tmp_path, capacity=(pages + 1) * PAGE)
    uri = parts.write("big.bin", os.urandom(pages * PAGE))

    class FailsLater(RemoteLooking):
        def read(self, uri: str, offset: int = 0, length: int | None = None) -> bytes:
            if offset >= (UFS_RUN_PAGES + UFS_RUN_MOST_PAGES) * PAGE:
                raise OSError("connection reset")
            return super().read(uri, offset, length)

    parts.loads.ufs_factory = lambda root, options: FailsLater(ufs_for(root, options))
    run(parts.mounts.refresh())
    (answer,) = run(parts.loads.load_batch(["/data/big.bin"]))
    assert (answer.status, answer.reason) == ("FAILED", "UFS_READ_FAILED")
    assert parts.store.file_info(uri) is None


def test_growing_ranges_cover_a_run_once_in_order() -> None:
    for start, stop in [(0, 0), (0, 1), (3, 9), (5, 5 + UFS_RUN_PAGES), (0, 500)]:
        ranges = list(growing_ranges(start, stop))
        assert [page for a, b in ranges for page in range(a, b)] == list(range(start, stop))
        assert all(b - a <= UFS_RUN_MOST_PAGES for a, b in ranges)
