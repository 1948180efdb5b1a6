"""The one registry of job kinds: everything that differs between load, free and rebalance.

A kind is one `JobKind` entry: its name, options model, counters, how a submission names
its work and how a job is found again (`selection`), how a run of it is built (`run`), what
its view adds (`extras`) and, if the CLI offers it, its verb. The job manager, the REST
routes (`http/jobs.py`), the CLI subcommands (`cli/jobs.py`) and the simulator summaries
derive from `JOB_KINDS`; adding a kind is adding an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import InvalidArgument
from .context import JobContext
from .model import JobRecord, JobState, quota_check
from .options import FreeOptions, LoadOptions, RebalanceOptions, parse_options
from .rebalance import RebalanceRun
from .runner import JobRun
from .selection import FilesSelection, Selection, TargetSelection
from .work import FreeWork, LoadWork


@dataclass(frozen=True)
class CliFlag:
    """A CLI flag that sets one option: `--flag VALUE` (of `type`), or, with `type`
    None, a switch that sets the option to `value`."""

    flag: str
    option: str
    help: str
    type: type | None = str
    value: Any = True


@dataclass(frozen=True)
class CliVerb:
    """A kind as a `ringcache` subcommand: its help, its option flags, and for `--watch`
    the counters that count a file done."""

    help: str
    flags: tuple[CliFlag, ...]
    done: tuple[str, ...]


@dataclass(frozen=True)
class JobKind:
    """One kind of job. Guarantees: `counters` are every counter its records and views
    have, in the order views show them; `selection.selectors` end with `id`."""

    name: str
    options: type[BaseModel]
    counters: tuple[str, ...]
    moved: str  # the counter of bytes moved, for the throughput a view shows
    selection: Selection
    run: Callable[[JobRecord, JobContext], JobRun]
    # The 409 rule for a FAILED job: run it again from the start (idempotent work), or
    # resume it, retrying its failed files.
    rerun_failed: bool = False
    extras: Callable[[JobRecord, list[dict]], dict[str, Any]] = lambda record, failures: {}
    cli: CliVerb | None = None

    @property
    def selectors(self) -> tuple[str, ...]:
        return self.selection.selectors

    def parse_options(self, options: Any) -> dict[str, Any]:
        """The options with defaults filled in; InvalidArgument naming what is wrong."""
        return parse_options(self.options, options)


def _load_extras(record: JobRecord, failures: list[dict]) -> dict[str, Any]:
    running = {"runningState": "LOADING"} if record.state is JobState.RUNNING else {}
    return {**running, **quota_check(failures)}


def _rebalance_extras(record: JobRecord, failures: list[dict]) -> dict[str, Any]:
    if record.state is not JobState.RUNNING:
        return {}
    return {"phase": "PRUNING" if record.cursor.root else "LOADING"}


_FILES = FilesSelection()
_BATCH = CliFlag("--batch-size", "batchSize", "files per worker request (200)", int)

LOAD = JobKind(
    name="load",
    options=LoadOptions,
    counters=(
        "scannedFiles",
        "totalBytes",
        "loadedNonEmptyFiles",
        "loadedBytes",
        "skippedFiles",
        "skippedBytes",
        "failedFiles",
    ),
    moved="loadedBytes",
    selection=_FILES,
    run=lambda record, context: JobRun(record, context, LoadWork(record.options, record.id)),
    extras=_load_extras,
    cli=CliVerb(
        help="load files into the cache (a load job)",
        flags=(
            _BATCH,
            CliFlag("--replicas", "replicas", "copies per file (1)", int),
            CliFlag("--filter", "fileFilterRegex", "load only files whose UFS path matches"),
            CliFlag("--skip-if-exists", "skipIfExists", "skip cached files", None),
            CliFlag(
                "--if-changed",
                "loadPolicy",
                "reload only files changed on the UFS",
                None,
                "IF_CHANGED",
            ),
            CliFlag("--bandwidth", "bandwidth", "per-worker UFS read limit, e.g. 100MB"),
        ),
        done=("loadedNonEmptyFiles", "skippedFiles", "failedFiles"),
    ),
)

FREE = JobKind(
    name="free",
    options=FreeOptions,
    counters=("scannedFiles", "freedFiles", "freedBytes", "failedFiles"),
    moved="freedBytes",
    selection=_FILES,
    run=lambda record, context: JobRun(record, context, FreeWork(record.options, record.id)),
    cli=CliVerb(
        help="drop cached files (a free job)",
        flags=(_BATCH,),
        done=("freedFiles", "failedFiles"),
    ),
)

REBALANCE = JobKind(
    name="rebalance",
    options=RebalanceOptions,
    counters=(
        "scannedFiles",
        "loadedFiles",
        "loadedBytes",
        "loadedFromPeerBytes",
        "loadedFromUfsBytes",
        "prunedFiles",
        "prunedBytes",
        "failedFiles",
    ),
    moved="loadedBytes",
    selection=TargetSelection(),
    run=RebalanceRun,
    rerun_failed=True,  # a rebalance is idempotent: running it again is the retry
    extras=_rebalance_extras,
)

JOB_KINDS: dict[str, JobKind] = {kind.name: kind for kind in (LOAD, FREE, REBALANCE)}


def job_kind(name: str) -> JobKind:
    """The kind named `name`; InvalidArgument listing the kinds if there is none."""
    kind = JOB_KINDS.get(name)
    if kind is None:
        raise InvalidArgument(f"unknown job type {name!r}; use one of {tuple(JOB_KINDS)}")
    return kind
