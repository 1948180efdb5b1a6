"""The coordinator's job desk: submit, find, list and stop jobs of every kind in `catalog`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..environment import Environment
from ..errors import Conflict, Gone, InvalidArgument, NotFound
from ..refs import Peers
from ..ring.policy import RingPolicy
from .catalog import job_kind
from .context import JobContext
from .model import JobIds, JobRecord, JobState, describe
from .runner import JobRun
from .store import JobStore

log = logging.getLogger(__name__)


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
        ring: Callable[[], tuple[RingPolicy, set[str]]],
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
        kind = job_kind(job_type)
        fields = kind.selection.parse(body, self.ring()[1])
        options = kind.parse_options(body.get("options"))
        await kind.selection.check(fields, self.mounts)
        existing = await self.store.find(job_type, *kind.selection.key(fields))
        if existing is not None:
            await self._resubmit(existing)
        record = JobRecord(
            id=self.ids.next(self.env.clock.now()),
            type=job_type,
            options=options,
            counters=dict.fromkeys(kind.counters, 0),
            **fields,
        )
        await self.store.create(record)
        self._launch(record)
        return self._describe(record)

    async def _resubmit(self, record: JobRecord) -> None:
        """The 409 rule: resume a stopped or failed job, re-run a succeeded one."""
        state = record.state
        if state.finished:
            if state is JobState.SUCCEEDED or (
                state is JobState.FAILED and job_kind(record.type).rerun_failed
            ):
                record.reset()
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
        job_kind(job_type)
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
        job_kind(job_type)
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
        run = job_kind(record.type).run(record, self.context)
        self.runs[record.id] = run
        task = asyncio.get_running_loop().create_task(run.run())
        self.tasks[record.id] = task
        task.add_done_callback(lambda _: self._forget(record.id, task))

    def _forget(self, job_id: str, task: asyncio.Task) -> None:
        if self.tasks.get(job_id) is task:
            del self.tasks[job_id]
            del self.runs[job_id]

    def _describe(self, record: JobRecord) -> dict[str, Any]:
        kind = job_kind(record.type)
        run = self.runs.get(record.id)
        if run is not None and run.record is record and record.state is JobState.RUNNING:
            counters, failures, elapsed = run.live_counters(), run.live_failures(), run.elapsed()
        else:
            counters, failures, elapsed = record.counters, record.failures, record.elapsed
        extras = kind.extras(record, failures)
        return describe(record, counters, failures, elapsed, kind.counters, kind.moved, extras)
