"""Domain errors. Each names the HTTP status it maps to, so one place can translate them."""

from __future__ import annotations

from enum import StrEnum


class FailureReason(StrEnum):
    """Why a file failed, as a job's `failures` and the simulator summaries name it."""

    UFS_NOT_FOUND = "UFS_NOT_FOUND"
    UFS_READ_FAILED = "UFS_READ_FAILED"
    WORKER_FAILED = "WORKER_FAILED"
    MEMBERSHIP_CHANGED = "MEMBERSHIP_CHANGED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    CAPACITY_EXCEEDED = "CAPACITY_EXCEEDED"
    FILTERED = "FILTERED"
    INVALID_PATH = "INVALID_PATH"
    NO_WORKERS = "NO_WORKERS"
    OUTSIDE_LOCAL_ROOTS = "OUTSIDE_LOCAL_ROOTS"  # a symlink leads out of the allowed roots


class RingcacheError(Exception):
    """Base class: a fault the caller can act on. `status_code` is its REST answer."""

    status_code = 500

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self):  # keep details across Ray's pickling
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[RingcacheError], message: str, details: dict) -> RingcacheError:
    return cls(message, **details)


class InvalidArgument(RingcacheError):
    """The request is malformed or names something that cannot work (400)."""

    status_code = 400


class NotFound(RingcacheError):
    """The thing asked for does not exist (404)."""

    status_code = 404


class Conflict(RingcacheError):
    """The request collides with existing state (409)."""

    status_code = 409


class Gone(RingcacheError):
    """The thing to act on is gone or already finished (410)."""

    status_code = 410


class NotSupported(RingcacheError):
    """The operation is disabled or not implemented here (501)."""

    status_code = 501


class Unavailable(RingcacheError):
    """A peer could not be reached (503)."""

    status_code = 503


class UfsError(RingcacheError):
    """The under file system failed; `reason` is one of the job failure reasons."""

    def __init__(
        self, message: str, reason: str = FailureReason.UFS_READ_FAILED, **details: object
    ) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class UfsNotFound(UfsError):
    status_code = 404

    def __init__(self, message: str, **details: object) -> None:
        details.pop("reason", None)
        super().__init__(message, reason=FailureReason.UFS_NOT_FOUND, **details)
