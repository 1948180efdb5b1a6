"""The coordinator's job desk: submit, find, list and stop load and free jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..environment import Environment
from ..errors import Conflict, Gone, InvalidArgument, NotFound
from ..refs import Peers
from ..ring.hash_ring import HashRing
from ..ufs.mounts import MountTable
from .model import JobIds, JobRecord, JobState, describe
from .options import parse_options
from .rebalance import RebalanceRun
from .runner import JobContext, JobRun
from .store import JobStore

log = logging.getLogger(__name__)

JOB_TYPES = ("load", "free", "rebalance")


class JobManager:
    """Owns every job's lifecycle; job state lives in the registry, runs are asyncio tasks.

    Guarantees: a submitted job is in the registry before `submit` returns; a job's
    terminal state is written before it is reported; unfinished jobs resume on `start`.
    """

    def __init__(
        self,
        registry: Any,
        peers: Peers,
        env: Environment,
        ring: Callable[[], tuple[HashRing, set[str]]],
        mounts: Callable[[], Any],
        lease_ttl: float,
        lost_files: Any = None,
        on_results: Any = None,
    ) -> None:
        self.store = JobStore(registry)
        self.context = JobContext(
            self.store, env, peers, ring, mounts, lease_ttl, lost_files, on_results
        )
        self.ids = JobIds(env.random)
        self.env = env
        self.ring = ring
        self.mounts = mounts
        self.runs: dict[str, JobRun] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    async def start(self) -> None:
        """Resume every job a previous coordinator left unfinished, from its checkpoint."""
        for record in await self.store.all_unfinished():
            log.info("resuming %s job %s from %s", record.type, record.id, record.cursor)
            self._launch(record)

    async def stop_all(self) -> None:
        """Shut down without touching job state: the next coordinator resumes the jobs."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await asyncio.gather(*(run.abandon() for run in self.runs.values()))

    # -- calls -----------------------------------------------------------------------------

    async def submit(self, job_type: str, body: dict[str, Any]) -> dict[str, Any]:
        _check_type(job_type)
        if job_type == "rebalance":
            return await self._submit_rebalance(body)
        index, paths, alias = _selector(body)
        options = parse_options(job_type, body.get("options"))
        table: MountTable = await self.mounts()
        for path in [index] if index is not None else paths:
            table.resolve(path)  # 400 naming the path when it is under no mount point
        kind, value = ("index", index) if index is not None else ("alias", alias)
        existing = await self.store.find(job_type, kind, value)
        if existing is not None:
            await self._resubmit(existing)
        record = JobRecord(
            id=self.ids.next(self.env.clock.now()),
            type=job_type,
            options=options,
            alias=alias,
            index=index,
            paths=paths,
        )
        await self.store.create(record)
        self._launch(record)
        return self._describe(record)

    async def _submit_rebalance(self, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) - {"target", "options"}:
            raise InvalidArgument("a rebalance body has `target` and optional `options`")
        target = body.get("target")
        if not isinstance(target, str) or not target:
            raise InvalidArgument('give the target: a worker id, or "ALL"')
        live = self.ring()[1]
        if target != "ALL" and target not in live:
            raise InvalidArgument(f"{target!r} is not a live worker; use a worker id or ALL")
        options = parse_options("rebalance", body.get("options"))
        existing = await self.store.find("rebalance", "target", target)
        if existing is not None:
            await self._resubmit(existing)
        record = JobRecord(
            id=self.ids.next(self.env.clock.now()), type="rebalance", options=options, target=target
        )
        await self.store.create(record)
        self._launch(record)
        return self._describe(record)

    async def _resubmit(self, record: JobRecord) -> None:
        """The 409 rule: resume a stopped or failed job, re-run a succeeded one."""
        state = record.state
        if state.finished:
            if state is JobState.SUCCEEDED or (
                state is JobState.FAILED and record.type == "rebalance"
            ):
                record.reset()  # a rebalance is idempotent: running it again is the retry
                note = f"it had {state.value.lower()} and runs again"
            else:
                note = f"it was {state.value} and resumes, retrying its failed files"
            record.state = JobState.WAITING
            await self.store.save(record)
            self._launch(record)
        else:
            note = f"it is {state.value} and is left alone"
        raise Conflict(
            f"a {record.type} job with this {record.selector[0]} exists ({record.id}): {note}",
            id=record.id,
            state=record.state.value,
        )

    async def get(self, job_type: str, kind: str, value: str) -> dict[str, Any]:
        return self._describe(await self._find(job_type, kind, value))

    async def list(
        self, job_type: str, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        _check_type(job_type)
        if count is not None and count < 0:
            raise InvalidArgument(f"count must not be negative, not {count}")
        records = await self.store.list(job_type, last_key, count)
        return [self._describe(self.runs[r.id].record if r.id in self.runs else r) for r in records]

    async def stop(self, job_type: str, kind: str, value: str) -> dict[str, Any]:
        try:
            record = await self._find(job_type, kind, value)
        except NotFound as exc:
            raise Gone(exc.message) from None
        if record.state.finished:
            raise Gone(f"{job_type} job {record.id} is already {record.state.value}")
        run, task = self.runs.get(record.id), self.tasks.get(record.id)
        if task is not None and run is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await run.stop()
            record = run.record
        else:
            record.state = JobState.STOPPED
            record.end_time = self.env.clock.now()
            await self.store.save(record)
        return self._describe(record)

    # -- internals -------------------------------------------------------------------------

    async def _find(self, job_type: str, kind: str, value: str) -> JobRecord:
        _check_type(job_type)
        running = self._running(job_type, kind, value)
        if running is not None:
            return running
        if kind == "id":
            record = await self.store.get(job_type, value)
        else:
            record = await self.store.find(job_type, kind, value)
        if record is None:
            raise NotFound(f"no {job_type} job with {kind} {value!r}")
        run = self.runs.get(record.id)
        return run.record if run is not None else record

    def _running(self, job_type: str, kind: str, value: str) -> JobRecord | None:
        """The record of a job this coordinator runs, without a registry read: progress
        is polled often, and a selector names one job for good (set when it is created)."""
        for run in self.runs.values():
            record = run.record
            if record.type == job_type and (
                record.id == value if kind == "id" else record.selector == (kind, value)
            ):
                return record
        return None

    def _launch(self, record: JobRecord) -> None:
        run_class = RebalanceRun if record.type == "rebalance" else JobRun
        run = run_class(record, self.context)
        self.runs[record.id] = run
        task = asyncio.get_running_loop().create_task(run.run())
        self.tasks[record.id] = task
        task.add_done_callback(lambda _: self._forget(record.id, task))

    def _forget(self, job_id: str, task: asyncio.Task) -> None:
        if self.tasks.get(job_id) is task:
            del self.tasks[job_id]
            del self.runs[job_id]

    def _describe(self, record: JobRecord) -> dict[str, Any]:
        run = self.runs.get(record.id)
        if run is not None and run.record is record and record.state is JobState.RUNNING:
            return describe(record, run.live_counters(), run.live_failures(), run.elapsed())
        return describe(record, record.counters, record.failures, record.elapsed)


def _check_type(job_type: str) -> None:
    if job_type not in JOB_TYPES:
        raise InvalidArgument(f"unknown job type {job_type!r}; use one of {JOB_TYPES}")


def _selector(body: dict[str, Any]) -> tuple[str | None, list[str] | None, str | None]:
    """Exactly one of `index` or `paths` + `alias`; InvalidArgument saying what is wrong."""
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    unknown = set(body) - {"index", "paths", "alias", "options"}
    if unknown:
        raise InvalidArgument(f"unknown field(s): {', '.join(sorted(unknown))}")
    index, paths, alias = body.get("index"), body.get("paths"), body.get("alias")
    if index is not None and (paths is not None or alias is not None):
        raise InvalidArgument("give either index or paths with alias, not both")
    if index is not None:
        if not isinstance(index, str) or not index:
            raise InvalidArgument("index must be the path of an index file")
        return index, None, None
    if paths is None and alias is None:
        raise InvalidArgument("give index, or paths with alias")
    if paths is None or alias is None:
        raise InvalidArgument("paths and alias go together")
    if not isinstance(alias, str) or not alias:
        raise InvalidArgument("alias must be a non-empty string")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise InvalidArgument("paths must be a non-empty list of paths")
    return None, list(paths), alias
