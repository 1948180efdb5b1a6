"""The repair pass of a load job whose ring changed while it ran.

A file loaded onto a worker that has since left, or whose owners moved because a worker
joined, is not on its current owners. After the listing, the job lists its roots once more
and sends exactly those files to their current owners, skipping copies already there. The
counters are not touched: every file was counted once already.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..ring.hash_ring import HashRing
from .kinds import LoadKind
from .model import Cursor
from .source import FileSource

if TYPE_CHECKING:
    from .runner import JobRun

log = logging.getLogger(__name__)

ROUNDS = 3  # the ring may move again during a repair; a few rounds catch up with it


async def repair(run: JobRun) -> None:
    record = run.record
    replicas = record.options.get("replicas", 1)
    original_kind = run.kind
    run.kind = LoadKind({**record.options, "skipIfExists": True}, job_id="")
    failures: list[dict[str, str]] = []
    try:
        for _ in range(ROUNDS):
            current = run.ring()[0]
            stale = [
                HashRing(workers, virtual_nodes=current.virtual_nodes)
                for workers in record.repair_rings
            ]
            run.rings_used = {frozenset(current.worker_ids): current}
            failures = await _repair_round(run, stale, replicas)
            now = frozenset(run.ring()[0].worker_ids)
            moved = [sorted(w) for w in run.rings_used if w != now]
            if not moved:
                break
            record.repair_rings = sorted(moved)
    finally:
        run.kind = original_kind
    if failures:
        record.add_failures(failures)
    record.repair_rings = []
    await run.save()


async def _repair_round(run: JobRun, stale: list[HashRing], replicas: int) -> list[dict[str, str]]:
    table = await run.mounts()
    source = FileSource(
        run.roots(table),
        table,
        run.env.ufs_factory,
        Cursor(),
        file_filter=run.record.options.get("fileFilterRegex"),
    )
    failures = []
    while (page := await run.env.run_io(source.next_page)) is not None:
        paths = [f.path for f in page.files]
        current = run.ring()[0].owners_batch(paths, replicas)
        before = [ring.owners_batch(paths, replicas) for ring in stale]
        moved = [
            status
            for i, status in enumerate(page.files)
            if any(set(owners[i]) != set(current[i]) for owners in before)
        ]
        if not moved:
            continue
        async for answered in run.attempt(moved):
            for status, outcome in answered:
                if outcome.failed:
                    message = f"repair after a ring change failed: {outcome.message}"
                    entry = {"path": status.path, "reason": outcome.reason, "message": message}
                    failures.append(entry)
    log.info("job %s: repair round done, %d failures", run.record.id, len(failures))
    return failures
