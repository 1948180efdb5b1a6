"""What changed in this worker's cache, reported to the coordinator's global file index.

Every change to the store is noted (the store `GovernedStore` wraps notes it) and handed
to the coordinator when it asks (`drain_index_reports`); the first report after a start is
of everything held.
"""

from __future__ import annotations

from typing import Any

from ..cache.store import PageStore
from ..environment import RunIo
from ..policies.tracking import ReportJournal
from .scans import held_paths

REPORT_LIMIT = 5000  # files per report: bounded messages; the coordinator asks again


class IndexReports:
    """Hands the coordinator the state of every file whose cached bytes changed.

    Guarantees: those of `ReportJournal` (each change reported, in acknowledged batches);
    a report carries each file's state when the report is made.
    """

    def __init__(self, store: PageStore, journal: ReportJournal, run_io: RunIo) -> None:
        self.store = store
        self.journal = journal
        self.run_io = run_io

    async def report_everything(self) -> None:
        """Queue a report of everything held, to replace what the receiver knew."""
        self.journal.note_all(await self.run_io(held_paths, self.store))

    async def drain(self, acked: int | None = None, limit: int = REPORT_LIMIT) -> dict[str, Any]:
        """What changed in this worker's cache since the last report the caller applied.

        `acked` is the token of that report (None: none, and then everything held is
        reported, as after this worker's own start). Each file is `[path, size, mtime,
        etag, cachedBytes]` while held, `[path]` once dropped. `full`: this report starts
        a report of everything held (replace what is known of this worker); `more`: ask
        again now, the report was cut at `limit` files.
        """
        if acked is None and not self.journal.full_pending:
            # A coordinator that never heard from us (restarted, or its index is new):
            # everything we hold, so its index need not be trusted to have survived.
            await self.report_everything()
        batch = self.journal.take(acked, limit)
        files = await self.run_io(self._states, batch.paths) if batch.paths else []
        return {"token": batch.token, "full": batch.full, "more": batch.more, "files": files}

    def _states(self, paths: list[str]) -> list[list[Any]]:
        return [
            [path] if held is None else [path, *held[0], held[1]]  # size, mtime, etag
            for path, held in zip(paths, self.store.held(paths), strict=True)
        ]
