"""What differs between the file jobs: who gets each file, what they are asked, how it counts.

A job run plans its files with one of these (`plan`), sends each worker `method` with
`arguments`, merges the answers of every worker asked about a file into one `Outcome`
(`merge`) and counts it (`scanned`, `count`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from ..results import FailureReason, FileOutcome, FileResult
from ..ring.policy import RingPolicy
from ..ufs.filesystem import FileStatus

LOADED, SKIPPED, FREED, FAILED = (
    FileOutcome.LOADED,
    FileOutcome.SKIPPED,
    FileOutcome.FREED,
    FileOutcome.FAILED,
)


@dataclass(slots=True)
class Outcome:
    """One file's result in one attempt, merged over every worker that was asked."""

    status: FileOutcome
    bytes: int = 0
    reason: str = ""
    message: str = ""
    details: dict[str, Any] | None = None  # kept with a failure, e.g. `quota`

    @property
    def failed(self) -> bool:
        return self.status is FAILED


def failed(
    reason: FailureReason | str, message: str, details: dict[str, Any] | None = None
) -> Outcome:
    return Outcome(FAILED, reason=str(reason), message=message, details=details)


def failure_entry(status: FileStatus, outcome: Outcome) -> dict[str, Any]:
    """What a job records of a file that failed: its path, why, its version and details."""
    entry = {"path": status.path, "reason": outcome.reason, "message": outcome.message}
    entry.update(size=status.size, mtime=status.mtime, etag=status.etag, **(outcome.details or {}))
    return {k: v for k, v in entry.items() if v is not None}


class FileWork(Protocol):
    """How a file job's files are planned, asked of workers, merged and counted."""

    method: str
    replicas: int  # ring owners per file; 0: the ring does not place the work

    def plan(
        self, files: list[FileStatus], ring: RingPolicy, live: set[str]
    ) -> dict[str, list[int]]: ...

    def arguments(self, files: list[FileStatus]) -> tuple: ...

    def merge(self, results: list[FileResult]) -> Outcome: ...

    def count(self, counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None: ...

    def scanned(self, counters: dict[str, int], status: FileStatus) -> None: ...


class LoadWork:
    """Load: each file goes to its first `replicas` ring owners, UFS -> worker."""

    method = "load_batch"

    def __init__(self, options: dict[str, Any], job_id: str) -> None:
        self.replicas = options.get("replicas", 1)
        self.worker_options = {
            "jobId": job_id,
            "skipIfExists": options.get("skipIfExists", False),
            "ifChanged": options.get("loadPolicy") == "IF_CHANGED",
            "bandwidth": options.get("bandwidth"),
        }

    def plan(
        self, files: list[FileStatus], ring: RingPolicy, live: set[str]
    ) -> dict[str, list[int]]:
        """Which worker gets which of `files` (positions in it, in order): their owners."""
        owners = ring.owners_batch([f.path for f in files], self.replicas)
        plan: dict[str, list[int]] = defaultdict(list)
        for position, workers in enumerate(owners):
            for worker_id in workers:
                plan[worker_id].append(position)
        return plan

    def arguments(self, files: list[FileStatus]) -> tuple:
        # A FileStatus is the `(path, size, mtime, etag)` tuple `load_batch` takes.
        return (files, self.worker_options)

    @staticmethod
    def merge(results: list[FileResult]) -> Outcome:
        """One outcome for a file from its owners' answers: any failure fails it (a quota's
        refusal keeps the `quota` it names); else loaded if any owner loaded it; else
        skipped, which includes FILTERED (a `skipCache` file, never cached)."""
        loaded, size = False, 0
        for result in results:  # one loop, no generators: this runs once per file
            status = result.status
            if status is FAILED:
                details = {"quota": result.quota} if result.quota is not None else None
                reason = result.reason or FailureReason.UFS_READ_FAILED
                return failed(reason, result.message, details)
            loaded = loaded or status is LOADED
            size = max(size, result.bytes)
        return Outcome(LOADED if loaded else SKIPPED, size)

    @staticmethod
    def count(counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None:
        if outcome.status is LOADED:
            counters["loadedBytes"] += status.size
            counters["loadedNonEmptyFiles"] += status.size > 0
        elif outcome.status is SKIPPED:
            counters["skippedFiles"] += 1
            counters["skippedBytes"] += status.size
        else:
            counters["failedFiles"] += 1

    @staticmethod
    def scanned(counters: dict[str, int], status: FileStatus) -> None:
        counters["scannedFiles"] += 1
        counters["totalBytes"] += status.size


class RepairWork(LoadWork):
    """A load job's repair pass: its files again to their current owners, copies already
    there skipped. It counts nothing: every file was counted once by the load itself."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__({**options, "skipIfExists": True}, job_id="")

    @staticmethod
    def count(counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None:
        return None

    @staticmethod
    def scanned(counters: dict[str, int], status: FileStatus) -> None:
        return None


class FreeWork:
    """Free: every live worker drops what it holds of each file (owners and stale copies)."""

    method = "free_batch"
    replicas = 0

    def __init__(self, options: dict[str, Any], job_id: str) -> None:
        self.job_id = job_id

    def plan(
        self, files: list[FileStatus], ring: RingPolicy, live: set[str]
    ) -> dict[str, list[int]]:
        """Every live worker gets every file (positions in `files`)."""
        return {worker_id: list(range(len(files))) for worker_id in sorted(live)}

    def arguments(self, files: list[FileStatus]) -> tuple:
        return ([f.path for f in files],)

    @staticmethod
    def merge(results: list[FileResult]) -> Outcome:
        for result in results:
            if result.status is FAILED:
                return failed(result.reason or FailureReason.WORKER_FAILED, result.message)
        if any(r.status is FREED for r in results):
            return Outcome(FREED, sum(r.bytes for r in results if r.status is FREED))
        return Outcome(FileOutcome.NOT_CACHED)

    @staticmethod
    def count(counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None:
        if outcome.status is FREED:
            counters["freedFiles"] += 1
            counters["freedBytes"] += outcome.bytes
        elif outcome.failed:
            counters["failedFiles"] += 1

    @staticmethod
    def scanned(counters: dict[str, int], status: FileStatus) -> None:
        counters["scannedFiles"] += 1
