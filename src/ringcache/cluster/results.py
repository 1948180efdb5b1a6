"""Per-file results of a worker's batch calls (load, free, fetch, prune), typed and built here.

A worker answers each file of a batch with one `FileResult`; the jobs read them. They
cross Ray by pickle and, in the simulator, are passed by reference millions of times, so a
result is a plain named tuple and the builders below are the only places that make one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from .errors import FailureReason

__all__ = [
    "FailureReason",
    "FileOutcome",
    "FileResult",
    "all_failed",
    "failure",
    "filtered",
    "freed",
    "loaded",
    "not_cached",
    "skipped",
]


class FileOutcome(StrEnum):
    """What became of one file in one worker's batch."""

    LOADED = "LOADED"
    SKIPPED = "SKIPPED"  # already cached at this version
    FILTERED = "FILTERED"  # a `skipCache` rule keeps it out of the cache
    FREED = "FREED"
    NOT_CACHED = "NOT_CACHED"
    FAILED = "FAILED"


class FileResult(NamedTuple):
    """One file's answer: `bytes` loaded, skipped or freed; `reason` and `message` when it
    failed (or, LOADED, why its first source did not serve it); `source` ("peer" or
    "ufs") of a fetched copy; `quota` that refused it."""

    path: str
    status: FileOutcome
    bytes: int = 0
    reason: str = ""
    message: str = ""
    source: str = ""
    quota: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.status is FileOutcome.FAILED


_new = tuple.__new__  # skips the keyword handling of NamedTuple.__new__: these run per file
LOADED, SKIPPED, FILTERED = FileOutcome.LOADED, FileOutcome.SKIPPED, FileOutcome.FILTERED
FREED, NOT_CACHED, FAILED = FileOutcome.FREED, FileOutcome.NOT_CACHED, FileOutcome.FAILED


def loaded(
    path: str, size: int, source: str = "", reason: str = "", message: str = ""
) -> FileResult:
    """A file cached; `reason` and `message` say why not from the source tried first."""
    return _new(FileResult, (path, LOADED, size, reason, message, source, None))


def skipped(path: str, size: int) -> FileResult:
    return _new(FileResult, (path, SKIPPED, size, "", "", "", None))


def filtered(path: str, size: int) -> FileResult:
    return _new(FileResult, (path, FILTERED, size, "", "", "", None))


def freed(path: str, size: int) -> FileResult:
    return _new(FileResult, (path, FREED, size, "", "", "", None))


def not_cached(path: str) -> FileResult:
    return _new(FileResult, (path, NOT_CACHED, 0, "", "", "", None))


def failure(
    path: str, reason: FailureReason | str, message: str, quota: dict[str, Any] | None = None
) -> FileResult:
    return _new(FileResult, (path, FAILED, 0, str(reason), message, "", quota))


def all_failed(paths: list[str], reason: FailureReason, message: str) -> list[FileResult]:
    """The answers of a batch that failed as a whole, one per file."""
    return [failure(path, reason, message) for path in paths]
