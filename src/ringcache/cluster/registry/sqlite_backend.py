"""The embedded registry backend: one SQLite file in the cluster's state directory."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.registry.backend import Deleted, check_prev_revision
from ringcache.cluster.registry.model import KeyValue, Lease, WatchEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compact_revision', 0), ('last_lease', 0);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_lease ON kv (lease) WHERE lease != 0;
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY, type TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    create_revision INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY, ttl REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (expires_at);
"""

_KV_COLUMNS = "key, value, create_revision, mod_revision, version, lease"


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (etcd's
    range_end), or None when there is none. SQLite compares TEXT as UTF-8 bytes, which
    orders like Python's code points, so `prefix <= key < prefix_end` is an index range."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code <= 0x10FFFF:
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded; skip past them
                code = 0xE000
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _prefix_clause(prefix: str) -> tuple[str, list[object]]:
    end = prefix_end(prefix)
    if end is None:
        return "key >= ?", [prefix]
    return "key >= ? AND key < ?", [prefix, end]


class SqliteBackend:
    """`RegistryBackend` on a SQLite file in WAL mode with synchronous=FULL.

    Guarantees: a write returns only after its transaction is committed and the WAL is
    fsynced, so a crash (even `kill -9` or power loss) never loses an acknowledged write;
    multi-key writes are all-or-nothing; the revision is persisted and only increases;
    the event history keeps at least the newest `history` revisions (older ones are
    compacted in batches). Thread-safe (one lock); meant for one process at a time.
    `SqliteBackend(":memory:")` gives a throwaway store for tests.
    """

    def __init__(self, path: str | Path, *, history: int = 100_000) -> None:
        if history < 1:
            raise InvalidArgument("history must keep at least one revision", history=history)
        self.path = str(path)
        self.history = history
        # Compact in batches so a busy store does not delete one row per write.
        self._compact_slack = max(1, min(history // 10, 10_000))
        self._lock = threading.RLock()
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._lock:
            self._db.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
        self._revision = self._meta("revision")

    def __repr__(self) -> str:
        return f"SqliteBackend({self.path!r}, revision={self._revision})"

    # -- reads ---------------------------------------------------------------------------

    def revision(self) -> int:
        return self._revision

    def compact_revision(self) -> int:
        return self._meta("compact_revision")

    def get(self, key: str) -> KeyValue | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        return KeyValue(*row) if row else None

    def range(
        self, prefix: str, start_after: str | None = None, limit: int | None = None
    ) -> list[KeyValue]:
        where, args = _prefix_clause(prefix)
        if start_after is not None:
            where += " AND key > ?"
            args.append(start_after)
        args.append(-1 if limit is None else limit)
        sql = f"SELECT {_KV_COLUMNS} FROM kv WHERE {where} ORDER BY key LIMIT ?"
        with self._lock:
            return [KeyValue(*row) for row in self._db.execute(sql, args)]

    def lease(self, lease_id: int) -> Lease | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, ttl, expires_at FROM leases WHERE id = ?", (lease_id,)
            ).fetchone()
        return Lease(*row) if row else None

    def expired_leases(self, now: float) -> list[int]:
        sql = "SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at, id"
        with self._lock:
            return [row[0] for row in self._db.execute(sql, (now,))]

    def events_since(self, prefix: str, revision: int, limit: int) -> list[WatchEvent]:
        where, args = _prefix_clause(prefix)
        sql = (
            "SELECT type, key, value, create_revision, revision, version, lease FROM events"
            f" WHERE revision >= ? AND {where} ORDER BY revision LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, [revision, *args, limit]).fetchall()
        return [WatchEvent(row[0], KeyValue(*row[1:])) for row in rows]

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, value: str, lease: int = 0, prev_revision: int | None = None) -> int:
        with self._transaction():
            self._compare(key, prev_revision)
            if lease and not self._lease_exists(lease):
                raise NotFound("lease not found", lease=lease)
            return self._put_row(key, value, lease)

    def put_many(self, items: Sequence[tuple[str, str]]) -> int:
        with self._transaction():
            for key, value in items:
                self._put_row(key, value, 0)
            return self._revision

    def delete(self, key: str, prev_revision: int | None = None) -> int | None:
        with self._transaction():
            if self._compare(key, prev_revision) is None:
                return None
            return self._delete_row(key)

    def delete_prefix(self, prefix: str) -> Deleted:
        where, args = _prefix_clause(prefix)
        with self._transaction():
            keys = [r[0] for r in self._db.execute(f"SELECT key FROM kv WHERE {where}", args)]
            return [(key, self._delete_row(key)) for key in sorted(keys)]

    def grant(self, ttl: float, now: float, lease_id: int = 0) -> int:
        with self._transaction():
            last = self._meta("last_lease")
            if lease_id == 0:
                lease_id = last + 1
            elif self._lease_exists(lease_id):
                raise Conflict("lease already exists", lease=lease_id)
            # Ids never repeat, so a stale holder can never keep someone else's lease alive.
            self._set_meta("last_lease", max(last, lease_id))
            self._db.execute("INSERT INTO leases VALUES (?, ?, ?)", (lease_id, ttl, now + ttl))
            return lease_id

    def refresh(self, lease_id: int, now: float) -> float:
        with self._transaction():
            found = self.lease(lease_id)
            if found is None:
                raise NotFound("lease not found", lease=lease_id)
            self._db.execute(
                "UPDATE leases SET expires_at = ? WHERE id = ?", (now + found.ttl, lease_id)
            )
            return found.ttl

    def revoke(self, lease_id: int) -> Deleted:
        with self._transaction():
            if not self._lease_exists(lease_id):
                raise NotFound("lease not found", lease=lease_id)
            sql = "SELECT key FROM kv WHERE lease = ? ORDER BY key"
            keys = [row[0] for row in self._db.execute(sql, (lease_id,))]
            deleted = [(key, self._delete_row(key)) for key in keys]
            self._db.execute("DELETE FROM leases WHERE id = ?", (lease_id,))
            return deleted

    def compact(self, keep: int) -> int:
        with self._transaction():
            return self._compact(keep)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            start = self._revision
            # IMMEDIATE takes the write lock up front: reads inside see what we write over.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                if self._revision != start:
                    self._set_meta("revision", self._revision)
                    if self._revision - self._meta("compact_revision") > (
                        self.history + self._compact_slack
                    ):
                        self._compact(self.history)
                self._db.execute("COMMIT")
            except BaseException:
                self._revision = start
                if self._db.in_transaction:  # a failed COMMIT may already have ended it
                    self._db.execute("ROLLBACK")
                raise

    def _compare(self, key: str, prev_revision: int | None) -> int | None:
        """Check the CAS condition; returns the key's current mod_revision (None: absent)."""
        row = self._db.execute("SELECT mod_revision FROM kv WHERE key = ?", (key,)).fetchone()
        current = row[0] if row else None
        check_prev_revision(key, current, prev_revision)
        return current

    def _put_row(self, key: str, value: str, lease: int) -> int:
        self._revision += 1
        rev = self._revision
        row = self._db.execute(
            "SELECT create_revision, version FROM kv WHERE key = ?", (key,)
        ).fetchone()
        create, version = (row[0], row[1] + 1) if row else (rev, 1)
        self._db.execute(
            "INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?, ?)",
            (key, value, create, rev, version, lease),
        )
        self._db.execute(
            "INSERT INTO events VALUES (?, 'PUT', ?, ?, ?, ?, ?)",
            (rev, key, value, create, version, lease),
        )
        return rev

    def _delete_row(self, key: str) -> int:
        self._revision += 1
        self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
        self._db.execute(
            "INSERT INTO events VALUES (?, 'DELETE', ?, '', 0, 0, 0)", (self._revision, key)
        )
        return self._revision

    def _compact(self, keep: int) -> int:
        target = max(self._meta("compact_revision"), self._revision - max(keep, 0))
        self._db.execute("DELETE FROM events WHERE revision <= ?", (target,))
        self._set_meta("compact_revision", target)
        return target

    def _lease_exists(self, lease_id: int) -> bool:
        sql = "SELECT 1 FROM leases WHERE id = ?"
        return self._db.execute(sql, (lease_id,)).fetchone() is not None

    def _meta(self, name: str) -> int:
        with self._lock:
            return self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]

    def _set_meta(self, name: str, value: int) -> None:
        self._db.execute("UPDATE meta SET value = ? WHERE name = ?", (value, name))
