"""The repair pass of a load job, with fake workers: a kind of work of its own (`RepairWork`),
sent through a `Dispatcher` of its own, never by changing what a running job's work is."""

from __future__ import annotations

import asyncio
from typing import Any

from ringcache.cluster.jobs.dispatch import Dispatcher
from ringcache.cluster.jobs.model import Cursor, JobRecord
from ringcache.cluster.jobs.repair import Repair
from ringcache.cluster.jobs.source import Page
from ringcache.cluster.jobs.work import RepairWork
from ringcache.cluster.results import FailureReason, FileResult, failure, loaded, skipped
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ufs.filesystem import FileStatus

BEFORE = [f"worker-00000000-0000-4000-8000-00000000000{i}" for i in (1, 2)]
NOW = [*BEFORE, "worker-00000000-0000-4000-8000-000000000003"]  # joined during the load
FILES = [FileStatus(f"file:///srv/data/f{i}", 10 + i, 1.0, None) for i in range(60)]


class Worker:
    """Answers `load_batch`: LOADED, or SKIPPED for what it holds, FAILED for `broken`."""

    def __init__(self, name: str, calls: list, held: set[str], broken: set[str]) -> None:
        self.name, self.calls, self.held, self.broken = name, calls, held, broken

    async def call(self, method: str, files: list, options: dict[str, Any]) -> list[FileResult]:
        self.calls.append((self.name, method, [f.path for f in files], options))
        answers = []
        for f in files:
            if f.path in self.broken:
                answers.append(failure(f.path, FailureReason.UFS_READ_FAILED, "boom"))
            elif f.path in self.held:
                answers.append(skipped(f.path, f.size))
            else:
                answers.append(loaded(f.path, f.size))
        return answers


class Peers:
    def __init__(self, held: set[str] = frozenset(), broken: set[str] = frozenset()) -> None:
        self.calls: list[tuple] = []
        self.held, self.broken = held, broken

    def worker(self, worker_id: str) -> Worker:
        return Worker(worker_id, self.calls, self.held, self.broken)


class Listing:
    """The job's files in two pages, from the start each time it is asked."""

    def __init__(self) -> None:
        self.pages = [FILES[:30], FILES[30:]]

    async def next_page(self) -> Page | None:
        return Page(self.pages.pop(0), Cursor()) if self.pages else None

    def close(self) -> None:
        self.pages = []


def repair_with(peers: Peers, record: JobRecord) -> list[str]:
    """Run a repair over `peers` on the ring NOW; the saves it made, by repair_rings."""
    ring = HashRing(NOW, virtual_nodes=50)
    saves: list[str] = []

    async def listing() -> Listing:
        return Listing()

    async def save() -> None:
        saves.append(repr(record.repair_rings))

    def current() -> tuple[HashRing, set[str]]:
        return ring, set(NOW)

    repair = Repair(
        record,
        RepairWork(record.options),
        current,
        lambda: Dispatcher(peers, current, batch_size=7),
        listing,
        save,
    )
    asyncio.run(repair.run())
    return saves


def load_record() -> JobRecord:
    counters = {"scannedFiles": 60, "failedFiles": 0}
    record = JobRecord(id="j1", type="load", options={"replicas": 1}, counters=counters)
    record.repair_rings = [sorted(BEFORE)]
    return record


def test_only_files_whose_owners_moved_go_to_their_current_owners_skipping_copies() -> None:
    peers, record = Peers(), load_record()
    assert repair_with(peers, record) == ["[]"]  # saved once, the stale rings cleared
    now, before = HashRing(NOW, virtual_nodes=50), HashRing(BEFORE, virtual_nodes=50)
    moved = {f.path for f in FILES if now.owners(f.path, 1) != before.owners(f.path, 1)}
    assert 0 < len(moved) < len(FILES)
    sent = {path for _, _, paths, _ in peers.calls for path in paths}
    assert sent == moved
    for worker_id, method, paths, options in peers.calls:
        assert method == "load_batch" and options["skipIfExists"] is True
        assert all(now.owners(path, 1) == [worker_id] for path in paths)
        assert len(paths) <= 7
    assert record.counters == {"scannedFiles": 60, "failedFiles": 0}  # counted by the load
    assert record.failures == []


def test_a_file_that_fails_in_the_repair_is_recorded_as_failed_there() -> None:
    now, before = HashRing(NOW, virtual_nodes=50), HashRing(BEFORE, virtual_nodes=50)
    moved = [f.path for f in FILES if now.owners(f.path, 1) != before.owners(f.path, 1)]
    peers, record = Peers(broken={moved[0]}), load_record()
    repair_with(peers, record)
    assert record.failures == [
        {
            "path": moved[0],
            "reason": "UFS_READ_FAILED",
            "message": "repair after a ring change failed: boom",
        }
    ]


def test_repair_work_skips_existing_copies_and_counts_nothing() -> None:
    work = RepairWork({"replicas": 2, "skipIfExists": False, "loadPolicy": "IF_CHANGED"})
    assert work.replicas == 2 and work.worker_options["skipIfExists"] is True
    assert work.worker_options["jobId"] == ""
    counters = {"scannedFiles": 0, "loadedBytes": 0}
    outcome = work.merge([loaded(FILES[0].path, 10)])
    work.scanned(counters, FILES[0])
    work.count(counters, FILES[0], outcome)
    assert counters == {"scannedFiles": 0, "loadedBytes": 0}
