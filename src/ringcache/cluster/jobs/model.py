"""A job's durable record: what it was asked to do, where it is, and what it has counted."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ..results import FailureReason
from ..units import format_time

__all__ = ["RETRYABLE", "Cursor", "FailureReason", "JobIds", "JobRecord", "JobState", "describe"]

MAX_FAILURES_SHOWN = 1000


class JobState(StrEnum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)


#: Reasons worth another attempt: the cause may pass (a flaky UFS, a worker leaving the ring).
RETRYABLE = frozenset(
    {
        FailureReason.UFS_READ_FAILED,
        FailureReason.WORKER_FAILED,
        FailureReason.MEMBERSHIP_CHANGED,
        FailureReason.NO_WORKERS,
    }
)


@dataclass
class Cursor:
    """Where the listing stands: every file before it is counted, none after it."""

    root: int = 0
    after: str | None = None
    listed: bool = False


@dataclass
class JobRecord:
    """Everything about one job that must survive a coordinator or cluster restart."""

    id: str
    type: str
    options: dict[str, Any]
    alias: str | None = None
    index: str | None = None
    paths: list[str] | None = None
    target: str | None = None
    state: JobState = JobState.WAITING
    start_time: float | None = None
    end_time: float | None = None
    elapsed: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    error_message: dict[str, Any] | None = None
    cursor: Cursor = field(default_factory=Cursor)
    failed_generation: int = 0
    repair_rings: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = JobState(self.state)

    @property
    def selector(self) -> tuple[str, str]:
        if self.target is not None:
            return ("target", self.target)
        return ("index", self.index) if self.index is not None else ("alias", self.alias or "")

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> JobRecord:
        data = json.loads(text)
        data["cursor"] = Cursor(**data["cursor"])
        return cls(**data)

    def add_failures(self, failures: list[dict[str, str]]) -> None:
        self.failures = (self.failures + failures)[-MAX_FAILURES_SHOWN:]

    def reset(self) -> None:
        """Back to the start, for running a succeeded job again."""
        self.counters = dict.fromkeys(self.counters, 0)
        self.failures = []
        self.error_message = None
        self.cursor = Cursor()
        self.repair_rings = []
        self.elapsed = 0.0
        self.start_time = self.end_time = None


def describe(
    record: JobRecord,
    counters: dict[str, int],
    failures: list[dict],
    elapsed: float,
    names: tuple[str, ...],
    moved: str,
    extras: dict[str, Any],
) -> dict[str, Any]:
    """The job as API.md shows it (`elapsed` in seconds of running): its kind's counters
    `names` in that order, its throughput in the counter `moved`, then its kind's
    `extras`; empty values left out."""
    view: dict[str, Any] = {
        "id": record.id,
        "type": record.type,
        "alias": record.alias,
        "index": record.index,
        "paths": record.paths,
        "target": record.target,
        "options": record.options,
        "state": record.state.value,
        "startTime": format_time(record.start_time) if record.start_time else None,
        "endTime": format_time(record.end_time) if record.end_time else None,
        "timeElapsedMilliseconds": int(elapsed * 1000),
        **{name: counters[name] for name in names},
        "throughputBytesPerSecond": int(counters[moved] / elapsed) if elapsed > 0 else 0,
        "failures": failures,
        "errorMessage": record.error_message,
        **extras,
    }
    return {key: value for key, value in view.items() if value not in (None, "", [], {})}


def quota_check(failures: list[dict]) -> dict[str, Any]:
    """`quotaCheckError` and `quota` from the latest failure a quota caused, if any: why
    caching stopped, and the governing quota (`totalBytes`, `remaining` when it refused)."""
    for failure in reversed(failures):
        if failure.get("reason") == FailureReason.QUOTA_EXCEEDED and "quota" in failure:
            quota = failure["quota"]
            return {
                "quotaCheckError": f"{failure['path']}: {failure.get('message', '')}",
                "quota": {
                    "path": quota.get("path"),
                    "totalBytes": quota.get("totalBytes", 0),
                    "remaining": quota.get("remaining", 0),
                },
            }
    return {}


class JobIds:
    """UUIDv7 job ids: they sort in submission order (the millisecond clock, then a counter).

    The random bits come from the runtime's generator, so a seeded simulation replays its
    ids; one instance per coordinator keeps the counter.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._last = 0

    def next(self, now: float) -> str:
        self._last = max(self._last + 1, int(now * 1000) << 12)
        stamp, sequence = self._last >> 12, self._last & 0xFFF
        value = (stamp & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76 | sequence << 64
        value |= 0b10 << 62 | self.rng.getrandbits(62)
        return str(uuid.UUID(int=value))
