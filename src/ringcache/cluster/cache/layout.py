"""Where a `PageStore` keeps its bytes on disk, and how it writes them.

    root/FORMAT                   {"layout": 2, "page_size": N}
    root/journal                  one JSON line per change to what is cached of a file
    root/<2 hex>/<key>            the cached pages of one version of one file
    root/<2 hex>/<name>.tmp       a FORMAT or journal rewrite in progress (deleted at startup)

`<key>` is the SHA-1 of the file's UFS path *and* version, so a page can only ever be
read back for the version it was written for, whatever happened in between. A file's
pages live in one sparse data file, page `i` at `i * page_size`: creating a file per page
halved the throughput of loading large files (a file creation costs as much as copying
a MiB). An evicted page becomes a hole again (`fallocate` punch), an evicted file is
unlinked. The journal lists a file's pages, each only once its write has returned; at
startup a listed page is kept only if the data file still holds data over all of it
(`SEEK_HOLE`), so neither a crash mid-write nor one between an eviction and its record
can make a page be served that is not whole; every other range is punched out. There is
no fsync: this is a cache.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .json_text import compact_json, dumps_json
from .page_io import (
    FileRange,
    PageData,
    StreamRange,
    coalesced,
    has_data,
    punch_quietly,
    write_all,
    write_at,
)

LAYOUT_VERSION = 2
_BUCKET = re.compile(r"^[0-9a-f]{2}$")
_DATA = re.compile(r"^[0-9a-f]{40}$")
_LAYOUT_1_PAGE = re.compile(r"^[0-9a-f]{40}\.\d+$")

log = logging.getLogger(__name__)


def file_key(path: str, size: int, mtime: float | None, etag: str | None) -> str:
    """The on-disk name of one version of a cached file: the SHA-1 of
    `json.dumps([path, size, mtime, etag])`."""
    identity = dumps_json([path, size, mtime, etag])
    return hashlib.sha1(identity.encode("utf-8", "surrogatepass")).hexdigest()


class PageLayout:
    """Data files under one store root; knows nothing of capacity, LRU or versions.
    Offsets and lengths are in bytes; the store maps pages to them."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        for bucket in range(256):
            os.makedirs(os.path.join(self.root, f"{bucket:02x}"), exist_ok=True)

    def data_path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}"

    def read_format(self) -> dict | None:
        return _read_json(os.path.join(self.root, "FORMAT"))

    def write_format(self, page_size: int) -> None:
        record = {"layout": LAYOUT_VERSION, "page_size": page_size}
        write_atomic(os.path.join(self.root, "FORMAT"), json.dumps(record).encode())

    def write_pages(
        self, key: str, pages: Sequence[tuple[int, PageData | FileRange | StreamRange]]
    ) -> tuple[int, OSError | None]:
        """Write `(offset, data)` pieces in order into a key's data file (created if need
        be); returns how many were written whole, and the error that stopped the rest. A
        piece that failed leaves nothing of itself behind."""
        path = self.data_path(key)
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the bucket directory was removed under us
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as exc:
            return 0, exc
        written = 0
        try:
            for offset, data, count in coalesced(pages):
                if count > 1:  # a run of one file's pieces, end to end: one kernel copy
                    try:
                        write_at(fd, offset, data)
                        written += count
                        continue
                    except OSError:
                        pass  # piece by piece below, to know which were written whole
                for offset, data in pages[written : written + count]:
                    try:
                        write_at(fd, offset, data)
                    except OSError as exc:
                        punch_quietly(fd, offset, len(data))
                        return written, exc
                    written += 1
        finally:
            os.close(fd)
        return written, None

    def read(self, key: str, offset: int, length: int) -> bytes:
        """`length` bytes at `offset`; FileNotFoundError if the data file vanished or no
        longer reaches that far."""
        fd = os.open(self.data_path(key), os.O_RDONLY)
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise FileNotFoundError(errno.ENOENT, "a cached page is shorter than recorded")
        return data

    def punch(self, key: str, ranges: Iterable[tuple[int, int]]) -> None:
        """Give back the disk space of `(offset, length)` ranges (they read as zeros)."""
        try:
            fd = os.open(self.data_path(key), os.O_WRONLY)
        except FileNotFoundError:
            return
        try:
            for offset, length in ranges:
                punch_quietly(fd, offset, length)
        finally:
            os.close(fd)

    def remove(self, key: str) -> None:
        _unlink(self.data_path(key))

    def whole(self, key: str, ranges: dict[int, tuple[int, int]]) -> set[int]:
        """The ids of `{id: (offset, length)}` ranges that hold data over all their bytes
        (written and not punched since); none if the data file is missing."""
        try:
            fd = os.open(self.data_path(key), os.O_RDONLY)
        except FileNotFoundError:
            return set()
        try:
            size = os.fstat(fd).st_size
            return {
                id_
                for id_, (offset, length) in ranges.items()
                if has_data(fd, size, offset, length)
            }
        finally:
            os.close(fd)

    def scan(self) -> Iterator[str]:
        """The key of every data file; deletes leftover `.tmp` files and layout-1 pages.

        Files whose names this software does not produce are left alone, so a root
        pointed at the wrong directory loses nothing.
        """
        for bucket in sorted(os.listdir(self.root)):
            directory = os.path.join(self.root, bucket)
            if not _BUCKET.match(bucket) or not os.path.isdir(directory):
                continue
            keys = []
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.endswith(".tmp") or _LAYOUT_1_PAGE.match(entry.name):
                        _unlink(entry.path)
                    elif _DATA.match(entry.name):
                        keys.append(entry.name)
            yield from keys


class Journal:
    """Append-only JSON lines: `{"path", ...fields}` records a file, `{"path", "removed":
    true}` forgets it; the last line for a path wins. `rewrite` compacts it atomically.

    Records are staged in memory (cheap, under the caller's own lock, in the order of the
    changes they describe) and written by `write_staged`, in that order, as one `write`
    call on an O_APPEND descriptor, under `write_lock`. A caller that writes its staged
    records before answering loses no acknowledged record to a process crash; a torn last
    line (power loss) is skipped on replay.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines = 0
        self.write_lock = threading.Lock()  # held while staged records go to disk
        self.staged = 0  # records staged so far; the number of the last one
        self.written = 0  # every record numbered up to this one is on disk
        self._buffer: list[bytes] = []
        self._buffer_lock = threading.Lock()
        self._fd = -1
        self._closer: weakref.finalize | None = None

    def replay(self) -> dict[str, dict]:
        """The live record of every path, in the order they were last written."""
        live: dict[str, dict] = {}
        try:
            with open(self.path, "rb") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        path = record["path"]
                    except (ValueError, TypeError, KeyError):
                        continue  # a torn or damaged line
                    live.pop(path, None)
                    if not record.get("removed"):
                        live[path] = record
        except FileNotFoundError:
            pass
        return live

    def stage(self, record: dict) -> None:
        """Queue `record` to be written after every record staged before it."""
        line = _line(record)
        with self._buffer_lock:
            self._buffer.append(line)
            self.staged += 1

    def write_staged(self) -> None:
        """Write every staged record, oldest first. The caller holds `write_lock`."""
        lines, last = self._take_staged()
        if lines:
            try:
                if self._fd < 0:
                    self._open()
                write_all(self._fd, b"".join(lines))
            except BaseException:
                with self._buffer_lock:  # not written: the next caller tries again
                    self._buffer[:0] = lines
                raise
            self.lines += len(lines)
        self.written = last

    def drop_staged(self) -> None:
        """Forget the staged records: a `rewrite` about to run already holds what they say.
        The caller holds `write_lock`."""
        self.written = self._take_staged()[1]

    def rewrite(self, records: Iterable[dict]) -> None:
        """Replace the journal by exactly `records` (a temp file renamed over it)."""
        self.close()
        body = b"".join(_line(record) for record in records)
        write_atomic(self.path, body)
        self.lines = body.count(b"\n")

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer, self._fd = None, -1

    def _take_staged(self) -> tuple[list[bytes], int]:
        with self._buffer_lock:
            lines, self._buffer = self._buffer, []
            return lines, self.staged

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._closer = weakref.finalize(self, os.close, self._fd)


def _write_file(path: str, data: bytes | memoryview | FileRange) -> None:
    """Create (or truncate) `path` with `data`; on any failure the file is removed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:  # the bucket directory was removed under us
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)


def write_atomic(path: str, data: bytes | memoryview | FileRange) -> None:
    """Write `data` to `path` through a temporary name, so readers see all of it or none."""
    temporary = path + ".tmp"
    _write_file(temporary, data)
    os.replace(temporary, path)


def _line(record: dict) -> bytes:
    return compact_json(record).encode() + b"\n"


def _read_json(path: str) -> dict | None:
    try:
        with open(path, "rb") as handle:
            value = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
