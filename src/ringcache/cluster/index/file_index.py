"""The global file index: which UFS files the cluster knows, at what version, held by whom.

Two SQLite tables keyed by canonical UFS URI, so every question is an index range:
`files(path, length, mtime, etag)` and `holders(path, worker, bytes)`, `bytes` being what
that worker holds of the file. A version change (another length, mtime or etag) clears the
file's holders in the same statement, by trigger: they held the old version, and a reader
must never be sent to a peer holding stale bytes.

A third table, `usage(root, bytes)`, keeps the bytes held under each root the quotas ask
about, moved by triggers on `holders`: whoever writes the index (worker reports,
removals) moves the usage with it, in the same transaction, at O(roots) per row. The schema
and shared statements are in `file_index_schema.py`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ..registry.sqlite_backend import prefix_end
from .record import FileRecord
from .reports import (
    Report,
    WorkerReport,
    check_record,
    check_reported,
    listed,
    report_rows,
)
from .schema import HOLD, SCHEMA, SCHEMA_VERSION, UPSERT_FILE, count_usage

INDEX_FILE = "file_index.sqlite"
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


class FileIndex:
    """The coordinator's index of files: version and holding workers per UFS URI.

    Guarantees: every method is one transaction (a batch is all or nothing); a file has
    holders only at its current version; listings are sorted by path and page through
    the index by `last_key` without skipping or repeating an entry; each call costs an
    index range, not a scan, so a million entries stay cheap. Thread-safe (one lock).
    The index is derived state (workers report what they hold), so it favours speed over
    fsync: WAL with synchronous=NORMAL can lose the last commits in a power cut, never
    corrupt the file. `FileIndex(":memory:")` is an index held in memory only.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        # Autocommit; `_transaction` opens each transaction explicitly.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # Holders are derived state (workers report them again), so an index from an
            # older schema drops them rather than guess the bytes each holder had.
            self._db.executescript("DROP TABLE IF EXISTS holders; DROP TABLE IF EXISTS usage;")
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        with self._transaction() as db:
            count_usage(db)
        self._reported = set(self.holding_workers())  # see `reported_workers`

    @classmethod
    def open(cls, state_dir: Path) -> FileIndex:
        """The index kept in `state_dir / "file_index.sqlite"` (the directory is created)."""
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        return cls(Path(state_dir) / INDEX_FILE)

    def __repr__(self) -> str:
        return f"FileIndex({self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writes ----------------------------------------------------------------------------

    def record_cached(
        self, path: str, length: int, mtime: float | None, etag: str | None, worker_id: str
    ) -> None:
        """`worker_id` holds all of `path` at this version (a new version drops other holders)."""
        self.record_many(cached=[(FileRecord(path, length, mtime, etag), worker_id)])

    def record_dropped(self, path: str, worker_id: str) -> None:
        """`worker_id` no longer holds `path`; the entry itself stays known."""
        self.record_many(dropped=[(path, worker_id)])

    def record_many(
        self,
        cached: Iterable[tuple[FileRecord, str]] = (),
        dropped: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Apply a batch in one transaction: every `cached` report, then every `dropped`.

        A `cached` report means the worker holds the whole file. When one batch reports a
        path at several versions, the last one is the file's version and only the workers
        that reported that version hold it.
        """
        holds = [(worker_id, [(record, record.length)], (), False) for record, worker_id in cached]
        drops = [(worker_id, (), [path], False) for path, worker_id in dropped]
        self.apply_reports([*holds, *drops])

    def apply_report(
        self,
        worker_id: str,
        held: Iterable[tuple[FileRecord, int]] = (),
        dropped: Iterable[str] = (),
        *,
        replace: bool = False,
    ) -> None:
        """What one worker says it holds now, in one transaction.

        `held` pairs each file's version with the bytes the worker holds of it (a partly
        cached file counts what it has); `dropped` are paths it no longer holds. With
        `replace`, the worker's other holder rows go first: the report is all it holds.
        """
        self.apply_reports([(worker_id, held, dropped, replace)])

    def apply_reports(self, reports: Iterable[Report]) -> None:
        """`apply_report(worker_id, held, dropped, replace=replace)` for each report, in
        order, all in one transaction: one commit for many workers' reports, its rows
        written in path order (see `file_index_reports`). When the reports name a path at
        several versions, the last one is the file's version and only the workers that
        reported it hold it."""
        reports = listed(reports)
        rows = report_rows(reports)
        with self._transaction() as db:
            db.executemany("DELETE FROM holders WHERE worker = ?", rows.replaced)
            db.executemany(UPSERT_FILE, rows.files)
            db.executemany(HOLD, rows.holders)
            db.executemany("DELETE FROM holders WHERE path = ? AND worker = ?", rows.gone)
            self._reported.update(worker_id for worker_id, held, _, _ in reports if held)

    def apply_worker_reports(self, reports: Iterable[WorkerReport]) -> None:
        """Reports as workers send them (see `WorkerReport`), applied as `apply_reports`
        applies theirs: `full` replaces what the index knew the worker to hold."""
        converted: list[Report] = []
        for worker_id, files, full in reports:
            check_reported(files)
            held, dropped = [], []
            for entry in files:
                if len(entry) == 1:
                    dropped.append(entry[0])
                else:
                    path, size, mtime, etag, cached_bytes = entry
                    held.append((FileRecord(path, size, mtime, etag), cached_bytes))
            converted.append((worker_id, held, dropped, full))
        self.apply_reports(converted)

    def add_stat_only(self, records: Iterable[FileRecord]) -> int:
        """Know these files without caching them (POST /file_index); returns how many."""
        latest = {}
        for record in records:
            check_record(record)
            latest[record.path] = record
        with self._transaction() as db:
            db.executemany(UPSERT_FILE, [record.row() for record in latest.values()])
        return len(latest)

    def remove(self, paths: Iterable[str]) -> int:
        """Forget these entries and their holders; returns how many existed."""
        with self._transaction() as db:
            cursor = db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
            return max(cursor.rowcount, 0)

    def remove_under(self, ufs_root: str) -> int:
        """Forget `ufs_root` and everything below it (an unmount); returns how many."""
        clause, params = _under(ufs_root)
        with self._transaction() as db:
            return db.execute(f"DELETE FROM files WHERE {clause}", params).rowcount

    def forget_worker(self, worker_id: str) -> int:
        """`worker_id` holds nothing any more (decommissioned, cache wiped)."""
        with self._transaction() as db:
            self._reported.discard(worker_id)
            return db.execute("DELETE FROM holders WHERE worker = ?", (worker_id,)).rowcount

    # -- reads -----------------------------------------------------------------------------

    def list(
        self, prefix: str | None = None, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        """One page, sorted by path: entries starting with `prefix` (a plain string prefix),
        after `last_key`, at most `count` (default 1000, at most 10,000), in API.md's shape
        `{"path", "length", "workers"}`."""
        count = DEFAULT_PAGE if count is None else count
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_PAGE:
            raise InvalidArgument(f"count must be an integer from 1 to {MAX_PAGE}, not {count!r}")
        clauses, params = [], []
        if prefix:
            end = prefix_end(prefix)
            clauses.append("path >= ?" if end is None else "path >= ? AND path < ?")
            params.extend([prefix] if end is None else [prefix, end])
        if last_key is not None:
            clauses.append("path > ?")
            params.append(last_key)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT path, length FROM files {where} ORDER BY path LIMIT ?", [*params, count]
            ).fetchall()
            workers = self._holders_between(rows[0][0], rows[-1][0]) if rows else {}
        return [
            {"path": path, "length": length, "workers": workers.get(path, [])}
            for path, length in rows
        ]

    def _holders_between(self, first: str, last: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for path, worker in self._db.execute(
            "SELECT path, worker FROM holders WHERE path >= ? AND path <= ? ORDER BY path, worker",
            (first, last),
        ):
            found.setdefault(path, []).append(worker)
        return found

    def get(self, path: str) -> FileRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT path, length, mtime, etag FROM files WHERE path = ?", (path,)
            ).fetchone()
        return None if row is None else FileRecord(*row)

    def holders(self, path: str) -> list[str]:
        """The workers holding `path` at its current version, sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT worker FROM holders WHERE path = ? ORDER BY worker", (path,)
            ).fetchall()
        return [worker for (worker,) in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM files").fetchone()[0]

    def cached_bytes(self, ufs_root: str) -> int:
        """Bytes cached under `ufs_root`, every copy counted, as the holders reported them.
        A sum over the entries under the root; `usage` answers the same in O(1) for the
        roots given to `track_usage`."""
        clause, params = _under(ufs_root)
        with self._lock:
            row = self._db.execute(
                f"SELECT coalesce(sum(bytes), 0) FROM holders WHERE {clause}", params
            ).fetchone()
        return int(row[0])

    def reported_workers(self) -> set[str]:
        """Every worker that may hold a file here, without reading the index: those that
        held one when it was opened and each a report has said holds something since,
        but for those forgotten (a superset of `holding_workers`)."""
        return set(self._reported)

    def holding_workers(self) -> list[str]:
        """Every worker that holds anything, sorted: one index seek per worker."""
        workers: list[str] = []
        with self._lock:
            while True:
                row = self._db.execute(
                    "SELECT worker FROM holders WHERE worker > ? ORDER BY worker LIMIT 1",
                    (workers[-1] if workers else "",),
                ).fetchone()
                if row is None:
                    return workers
                workers.append(row[0])

    def held_by(
        self, workers: Iterable[str], last_key: str | None = None, count: int = DEFAULT_PAGE
    ) -> list[dict[str, Any]]:
        """One page, sorted by path, of the files any of `workers` holds, after `last_key`:
        `{"path", "length", "mtime", "etag", "workers"}` with every holder of each."""
        wanted = sorted(set(workers))
        paths: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                paths.update(
                    path
                    for (path,) in self._db.execute(
                        f"SELECT DISTINCT path FROM holders WHERE worker IN ({marks}) "
                        "AND path > ? ORDER BY path LIMIT ?",
                        [*chunk, last_key or "", count],
                    )
                )
            entries = []
            for path in sorted(paths)[:count]:
                row = self._db.execute(
                    "SELECT length, mtime, etag FROM files WHERE path = ?", (path,)
                ).fetchone()
                holders = self._db.execute(
                    "SELECT worker FROM holders WHERE path = ? ORDER BY worker", (path,)
                ).fetchall()
                length, mtime, etag = row
                entries.append(
                    {
                        "path": path,
                        "length": length,
                        "mtime": mtime,
                        "etag": etag,
                        "workers": [worker for (worker,) in holders],
                    }
                )
        return entries

    def held_bytes(self, worker_id: str, paths: Iterable[str]) -> dict[str, int]:
        """The bytes `worker_id` holds of each of `paths` (absent: none), by index lookups."""
        with self._lock:
            return self._held(worker_id, paths)

    def _held(self, worker_id: str, paths: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(paths))
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(
                    f"SELECT path, bytes FROM holders WHERE worker = ? AND path IN ({marks})",
                    [worker_id, *chunk],
                ).fetchall()
            )
        return found

    # -- usage under roots (quotas) --------------------------------------------------------

    def track_usage(self, roots: Iterable[str]) -> None:
        """Keep the bytes under exactly these UFS roots current from now on.

        A new root is summed once (`cached_bytes`); from then on the triggers move it.
        """
        wanted = set(roots)
        with self._transaction() as db:
            tracked = {root for (root,) in db.execute("SELECT root FROM usage")}
            db.executemany("DELETE FROM usage WHERE root = ?", [(r,) for r in tracked - wanted])
            for root in sorted(wanted - tracked):
                clause, params = _under(root)
                total = db.execute(
                    f"SELECT coalesce(sum(bytes), 0) FROM holders WHERE {clause}", params
                ).fetchone()[0]
                below = root if root.endswith("/") else root + "/"
                db.execute(
                    "INSERT INTO usage (root, below, bytes) VALUES (?, ?, ?)", (root, below, total)
                )
            count_usage(db)

    def usage_and_holdings(
        self, wanted: dict[str, list[str]]
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """`usage()` and, for each worker in `wanted`, `held_bytes` of its paths, read at
        one instant (no write lands between the two)."""
        with self._lock:
            usage = dict(self._db.execute("SELECT root, bytes FROM usage").fetchall())
            held = {worker: self._held(worker, paths) for worker, paths in wanted.items()}
        return usage, held

    def usage(self) -> dict[str, int]:
        """Bytes held under each tracked root, every copy counted."""
        with self._lock:
            return dict(self._db.execute("SELECT root, bytes FROM usage").fetchall())


def _under(root: str, column: str = "path") -> tuple[str, list[str]]:
    """`column` is `root` or below it on a segment boundary (`/a` covers `/a/b`, not `/ab`)."""
    below = root if root.endswith("/") else root + "/"  # a root like file:/// has its slash
    end = prefix_end(below)
    if end is None:
        return f"({column} = ? OR {column} >= ?)", [root, below]
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))", [root, below, end]
