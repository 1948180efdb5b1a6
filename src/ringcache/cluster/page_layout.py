"""Where a `PageStore` keeps its bytes on disk, and how it writes them.

    root/FORMAT                   {"layout": 1, "page_size": N}
    root/journal                  one JSON line per change to the set of cached files
    root/<2 hex>/<key>.<index>    one page
    root/<2 hex>/<name>.tmp       a FORMAT or journal rewrite in progress (deleted at startup)

`<key>` is the SHA-1 of the file's UFS path *and* version, so a page can only ever be
read back for the version it was written for, whatever happened in between. Pages are
written straight to their name (a rename per page halved write throughput on ext4): the
store lists a page only once its write has returned, and a crash mid-write leaves a page
shorter than its length, which the startup scan drops. File metadata goes to an append-only
journal rather than a file per cached file: caching a small file then costs one file
creation, like a plain copy, instead of two. There is no fsync: this is a cache, and
the startup scan drops any page whose size or key does not match a journal record.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LAYOUT_VERSION = 1
_BUCKET = re.compile(r"^[0-9a-f]{2}$")
_PAGE = re.compile(r"^([0-9a-f]{40})\.(\d+)$")


def file_key(path: str, size: int, mtime: float | None, etag: str | None) -> str:
    """The on-disk name of one version of a cached file."""
    identity = json.dumps([path, size, mtime, etag])
    return hashlib.sha1(identity.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class ScannedPages:
    """Pages the startup scan found for one key, as `(index, size in bytes)`."""

    key: str
    pages: list[tuple[int, int]]


class PageLayout:
    """Page files under one store root; knows nothing of capacity, LRU or versions."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        for bucket in range(256):
            os.makedirs(os.path.join(self.root, f"{bucket:02x}"), exist_ok=True)

    def page_path(self, key: str, index: int) -> str:
        return f"{self.root}/{key[:2]}/{key}.{index}"

    def read_format(self) -> dict | None:
        return _read_json(os.path.join(self.root, "FORMAT"))

    def write_format(self, page_size: int) -> None:
        record = {"layout": LAYOUT_VERSION, "page_size": page_size}
        write_atomic(os.path.join(self.root, "FORMAT"), json.dumps(record).encode())

    def write_page(self, key: str, index: int, data: bytes | memoryview | FileRange) -> None:
        _write_file(self.page_path(key, index), data)  # a failed write leaves no short page

    def read_page(self, key: str, index: int, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `[start, end)` of a page; FileNotFoundError if it vanished from disk."""
        fd = os.open(self.page_path(key, index), os.O_RDONLY)
        try:
            if end is None:
                end = os.fstat(fd).st_size
            return os.pread(fd, end - start, start)
        finally:
            os.close(fd)

    def remove_page(self, key: str, index: int) -> None:
        _unlink(self.page_path(key, index))

    def scan(self) -> Iterator[ScannedPages]:
        """Every key with pages on disk; deletes leftover `.tmp` files on the way.

        Files whose names this layout does not produce are left alone, so a root pointed
        at the wrong directory loses nothing.
        """
        for bucket in sorted(os.listdir(self.root)):
            directory = os.path.join(self.root, bucket)
            if not _BUCKET.match(bucket) or not os.path.isdir(directory):
                continue
            found: dict[str, ScannedPages] = {}
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.endswith(".tmp"):
                        _unlink(entry.path)
                    elif match := _PAGE.match(entry.name):
                        key, index = match.group(1), int(match.group(2))
                        scanned = found.setdefault(key, ScannedPages(key, []))
                        scanned.pages.append((index, entry.stat().st_size))
            yield from found.values()


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
                _write_all(self._fd, b"".join(lines))
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


@dataclass(frozen=True)
class FileRange:
    """Bytes `[offset, offset + length)` of an open file, as page data: the kernel copies
    them (`copy_file_range`), so they never pass through Python."""

    fd: int
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length


def _copy_range(source: FileRange, fd: int) -> None:
    remaining, offset = source.length, source.offset
    while remaining:
        try:
            copied = os.copy_file_range(source.fd, fd, remaining, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(source.fd, remaining, offset)  # no kernel copy here: plain I/O
            if len(data) != remaining:
                raise OSError(errno.EIO, "the source file ended before the page did") from None
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return
        if copied == 0:
            raise OSError(errno.EIO, "the source file ended before the page did")
        remaining -= copied
        offset += copied


def _write_all(fd: int, data: bytes | memoryview | FileRange) -> None:
    if isinstance(data, FileRange):
        _copy_range(data, fd)
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_file(path: str, data: bytes | memoryview | FileRange) -> None:
    """Create (or truncate) `path` with `data`; on any failure the file is removed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:  # the bucket directory was removed under us
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
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
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


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
