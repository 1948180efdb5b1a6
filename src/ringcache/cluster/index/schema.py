"""The file index's SQLite schema and the statements its writes share.

Two tables keyed by canonical UFS URI, `files(path, length, mtime, etag)` and
`holders(path, worker, bytes)`; triggers drop a file's holders when its version changes or
it is forgotten. `usage(root, bytes)` counts the bytes held under each tracked root, moved
by triggers that exist only while some root is tracked.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2  # 2: holders carry bytes, and the usage table exists

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, length INTEGER NOT NULL, mtime REAL, etag TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holders (
    path TEXT NOT NULL, worker TEXT NOT NULL, bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (path, worker)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS holders_by_worker ON holders (worker, path);
CREATE TABLE IF NOT EXISTS usage (
    root TEXT PRIMARY KEY, below TEXT NOT NULL, bytes INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS new_version AFTER UPDATE OF length, mtime, etag ON files
WHEN (old.length, old.mtime, old.etag) IS NOT (new.length, new.mtime, new.etag)
BEGIN DELETE FROM holders WHERE path = old.path; END;
CREATE TRIGGER IF NOT EXISTS forget_file AFTER DELETE ON files
BEGIN DELETE FROM holders WHERE path = old.path; END;
"""

# Present only while some root is tracked: a trigger costs every holder write, even with
# nothing to count (about 40% of an index write).
USAGE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS usage_held AFTER INSERT ON holders BEGIN
    UPDATE usage SET bytes = bytes + new.bytes
    WHERE new.path = root OR substr(new.path, 1, length(below)) = below;
END""",
    """CREATE TRIGGER IF NOT EXISTS usage_dropped AFTER DELETE ON holders BEGIN
    UPDATE usage SET bytes = bytes - old.bytes
    WHERE old.path = root OR substr(old.path, 1, length(below)) = below;
END""",
    """CREATE TRIGGER IF NOT EXISTS usage_changed AFTER UPDATE OF bytes ON holders BEGIN
    UPDATE usage SET bytes = bytes + new.bytes - old.bytes
    WHERE new.path = root OR substr(new.path, 1, length(below)) = below;
END""",
)
NO_USAGE_TRIGGERS = tuple(
    f"DROP TRIGGER IF EXISTS {name}" for name in ("usage_held", "usage_dropped", "usage_changed")
)

HOLD = """
INSERT INTO holders (path, worker, bytes) VALUES (?, ?, ?)
ON CONFLICT (path, worker) DO UPDATE SET bytes = excluded.bytes
WHERE holders.bytes != excluded.bytes
"""

# Only a changed version rewrites the row (and so fires `new_version`).
UPSERT_FILE = """
INSERT INTO files (path, length, mtime, etag) VALUES (?, ?, ?, ?)
ON CONFLICT (path) DO UPDATE SET length = excluded.length, mtime = excluded.mtime,
    etag = excluded.etag
WHERE (files.length, files.mtime, files.etag) IS NOT (excluded.length, excluded.mtime,
    excluded.etag)
"""


def count_usage(db: sqlite3.Connection) -> None:
    """The usage triggers exist exactly while some root is tracked."""
    tracked = db.execute("SELECT 1 FROM usage LIMIT 1").fetchone() is not None
    for statement in USAGE_TRIGGERS if tracked else NO_USAGE_TRIGGERS:
        db.execute(statement)
