"""`warm`, a job kind made up for tests: it shows what an entry alone gives a kind."""

from __future__ import annotations

import pytest

from ringcache.cluster.jobs.catalog import JOB_KINDS, CliFlag, CliVerb, JobKind
from ringcache.cluster.jobs.context import JobContext
from ringcache.cluster.jobs.model import JobRecord, JobState
from ringcache.cluster.jobs.options import FreeOptions
from ringcache.cluster.jobs.selection import TargetSelection


class WarmRun:
    """A run that warms three files, or fails once if told to, and records its end."""

    fail_next = False

    def __init__(self, record: JobRecord, context: JobContext) -> None:
        self.record = record
        self.store = context.store

    async def run(self) -> None:
        self.record.counters["warmedFiles"] += 3
        failing = WarmRun.fail_next
        WarmRun.fail_next = False
        self.record.state = JobState.FAILED if failing else JobState.SUCCEEDED
        await self.store.save(self.record)

    async def abandon(self) -> None:
        return None


def warm_kind(rerun_failed: bool = False) -> JobKind:
    return JobKind(
        name="warm",
        options=FreeOptions,
        counters=("scannedFiles", "warmedFiles", "warmedBytes", "failedFiles"),
        moved="warmedBytes",
        selection=TargetSelection(),
        run=WarmRun,
        rerun_failed=rerun_failed,
        extras=lambda record, failures: {"warmth": "HOT"},
        cli=CliVerb(
            help="warm a worker",
            flags=(
                CliFlag("--batch-size", "batchSize", "files per request", int),
                CliFlag("--hot", "temperature", "warm it hot", None, "HOT"),
            ),
            done=("warmedFiles",),
        ),
    )


def register_warm(monkeypatch: pytest.MonkeyPatch, rerun_failed: bool = False) -> JobKind:
    """`warm` in the registry for the length of a test."""
    kind = warm_kind(rerun_failed)
    monkeypatch.setitem(JOB_KINDS, "warm", kind)
    return kind
