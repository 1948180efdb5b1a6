"""What differs between job types: who gets each file, what they are asked, how it counts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..ring.hash_ring import HashRing
from ..ufs.filesystem import FileStatus
from .model import FailureReason


@dataclass(slots=True)
class Outcome:
    """One file's result in one attempt, merged over every worker that was asked."""

    status: str  # LOADED SKIPPED FREED NOT_CACHED FAILED
    bytes: int = 0
    reason: str = ""
    message: str = ""
    details: dict[str, Any] | None = None  # kept with a failure, e.g. `quota`

    @property
    def failed(self) -> bool:
        return self.status == "FAILED"


def failed(
    reason: FailureReason | str, message: str, details: dict[str, Any] | None = None
) -> Outcome:
    return Outcome("FAILED", reason=str(reason), message=message, details=details)


def all_failed(files: list[FileStatus], reason: FailureReason, message: str) -> list[dict]:
    """The answers of a batch that failed as a whole, one per file."""
    return [
        {"path": f.path, "status": "FAILED", "bytes": 0, "reason": str(reason), "message": message}
        for f in files
    ]


def failure_entry(status: FileStatus, outcome: Outcome) -> dict[str, Any]:
    """What a job records of a file that failed: its path, why, its version and details."""
    entry = {"path": status.path, "reason": outcome.reason, "message": outcome.message}
    entry.update(size=status.size, mtime=status.mtime, etag=status.etag, **(outcome.details or {}))
    return {k: v for k, v in entry.items() if v is not None}


class LoadKind:
    """Load: each file goes to its first `replicas` ring owners, UFS -> worker."""

    name = "load"
    method = "load_batch"

    def __init__(self, options: dict[str, Any], job_id: str) -> None:
        self.replicas = options.get("replicas", 1)
        self.worker_options = {
            "jobId": job_id,
            "skipIfExists": options.get("skipIfExists", False),
            "ifChanged": options.get("loadPolicy") == "IF_CHANGED",
            "bandwidth": options.get("bandwidth"),
        }

    def plan(self, files: list[FileStatus], ring: HashRing, live: set[str]) -> dict[str, list[int]]:
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
    def merge(results: list[dict[str, Any]]) -> Outcome:
        """One outcome for a file from its owners' answers: any failure fails it (a quota's
        refusal keeps the `quota` it names); else loaded if any owner loaded it; else
        skipped, which includes FILTERED (a `skipCache` file, never cached)."""
        loaded, size = False, 0
        for result in results:  # one loop, no generators: this runs once per file
            status = result["status"]
            if status == "FAILED":
                details = {"quota": result["quota"]} if "quota" in result else None
                reason = result.get("reason") or "UFS_READ_FAILED"
                return failed(reason, result.get("message", ""), details)
            loaded = loaded or status == "LOADED"
            size = max(size, result["bytes"])
        return Outcome("LOADED" if loaded else "SKIPPED", size)

    @staticmethod
    def count(counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None:
        if outcome.status == "LOADED":
            counters["loadedBytes"] += status.size
            counters["loadedNonEmptyFiles"] += status.size > 0
        elif outcome.status == "SKIPPED":
            counters["skippedFiles"] += 1
            counters["skippedBytes"] += status.size
        else:
            counters["failedFiles"] += 1

    @staticmethod
    def scanned(counters: dict[str, int], status: FileStatus) -> None:
        counters["scannedFiles"] += 1
        counters["totalBytes"] += status.size


class FreeKind:
    """Free: every live worker drops what it holds of each file (owners and stale copies)."""

    name = "free"
    method = "free_batch"
    replicas = 0

    def __init__(self, options: dict[str, Any], job_id: str) -> None:
        self.job_id = job_id

    def plan(self, files: list[FileStatus], ring: HashRing, live: set[str]) -> dict[str, list[int]]:
        """Every live worker gets every file (positions in `files`)."""
        return {worker_id: list(range(len(files))) for worker_id in sorted(live)}

    def arguments(self, files: list[FileStatus]) -> tuple:
        return ([f.path for f in files],)

    @staticmethod
    def merge(results: list[dict[str, Any]]) -> Outcome:
        for result in results:
            if result["status"] == "FAILED":
                return failed(result.get("reason") or "WORKER_FAILED", result.get("message", ""))
        freed = sum(r["bytes"] for r in results if r["status"] == "FREED")
        if any(r["status"] == "FREED" for r in results):
            return Outcome("FREED", freed)
        return Outcome("NOT_CACHED")

    @staticmethod
    def count(counters: dict[str, int], status: FileStatus, outcome: Outcome) -> None:
        if outcome.status == "FREED":
            counters["freedFiles"] += 1
            counters["freedBytes"] += outcome.bytes
        elif outcome.failed:
            counters["failedFiles"] += 1

    @staticmethod
    def scanned(counters: dict[str, int], status: FileStatus) -> None:
        counters["scannedFiles"] += 1


KINDS = {"load": LoadKind, "free": FreeKind}
