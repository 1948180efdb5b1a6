"""Jobs in the registry: records, the selector index, and the failed files to retry.

`/jobs/<type>/<id>` holds the record; `/job-selectors/<type>/<index|alias>/<value>` maps a
selector to its job id; `/job-failed/<id>/<generation>/<path>` lists failed files, written
in the same transaction as the record that counts them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from ..refs import ActorRef
from .model import JobRecord

log = logging.getLogger(__name__)

JOBS = "/jobs/"
SELECTORS = "/job-selectors/"
FAILED = "/job-failed/"


def record_key(record: JobRecord) -> str:
    return f"{JOBS}{record.type}/{record.id}"


def selector_key(job_type: str, kind: str, value: str) -> str:
    return f"{SELECTORS}{job_type}/{kind}/{value}"


def failed_prefix(job_id: str, generation: int) -> str:
    return f"{FAILED}{job_id}/{generation}/"


class JobStore:
    """Durable job state: a record write is acknowledged only once it is on disk."""

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry

    async def create(self, record: JobRecord) -> None:
        await self.registry.call(
            "put_many",
            [
                (record_key(record), record.encode()),
                (selector_key(record.type, *record.selector), record.id),
            ],
        )

    async def save(self, record: JobRecord, failed: list[dict[str, Any]] = ()) -> None:
        """The record and the failed files it newly counts, in one transaction."""
        prefix = failed_prefix(record.id, record.failed_generation)
        items = [(record_key(record), record.encode())]
        items += [(prefix + f["path"], json.dumps(f, sort_keys=True)) for f in failed]
        await self.registry.call("put_many", items)

    async def get(self, job_type: str, job_id: str) -> JobRecord | None:
        kv = await self.registry.call("get", f"{JOBS}{job_type}/{job_id}")
        return None if kv is None else JobRecord.decode(kv.value)

    async def find(self, job_type: str, kind: str, value: str) -> JobRecord | None:
        kv = await self.registry.call("get", selector_key(job_type, kind, value))
        return None if kv is None else await self.get(job_type, kv.value)

    async def list(
        self, job_type: str, last_key: str | None = None, count: int | None = None
    ) -> list[JobRecord]:
        prefix = f"{JOBS}{job_type}/"
        start_after = prefix + last_key if last_key else None
        entries = await self.registry.call("range", prefix, start_after=start_after, limit=count)
        return [record for kv in entries if (record := _readable(kv)) is not None]

    async def all_unfinished(self) -> list[JobRecord]:
        entries = await self.registry.call("range", JOBS)
        records = [record for kv in entries if (record := _readable(kv)) is not None]
        return [r for r in records if not r.state.finished]

    async def failed_files(self, job_id: str, generation: int) -> AsyncIterator[dict[str, Any]]:
        """The failed files of one generation, a page at a time from the registry."""
        prefix = failed_prefix(job_id, generation)
        after = None
        while True:
            page = await self.registry.call("range", prefix, start_after=after, limit=1000)
            for kv in page:
                yield json.loads(kv.value)
            if len(page) < 1000:
                return
            after = page[-1].key

    async def drop_failed(self, job_id: str, below_generation: int) -> None:
        for generation in range(below_generation):
            await self.registry.call("delete_prefix", failed_prefix(job_id, generation))


def _readable(kv: Any) -> JobRecord | None:
    """The record in `kv`, or None (logged): one unreadable record must not hide the rest
    of a listing, nor stop the coordinator resuming the others."""
    try:
        return JobRecord.decode(kv.value)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable job record %s: %s", kv.key, exc)
        return None
