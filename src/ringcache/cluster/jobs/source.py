"""A job's files: its roots (given paths, or the lines of an index file) listed in pages.

Listing is blocking UFS work, so `FileSource.next_page` is meant to run through the
runtime's `run_io`. The order is stable (roots in order, each root in `ufs.list_files`
order), which is what makes a cursor meaningful across restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import RingcacheError
from ..policies.patterns import compile_user_pattern
from ..ufs.filesystem import FileStatus, UnderFileSystem
from ..ufs.mounts import MountTable
from .model import Cursor, FailureReason

INDEX_CHUNK = 1 << 20


@dataclass
class Page:
    """Up to a page of files, the cursor just after them, and roots that failed to list."""

    files: list[FileStatus]
    cursor: Cursor
    failures: list[dict[str, str]] = field(default_factory=list)


def index_lines(ufs: UnderFileSystem, uri: str) -> Iterator[str]:
    """The paths in an index file: non-empty lines not starting with `#`, read in chunks."""
    offset, rest = 0, b""
    while True:
        chunk = ufs.read(uri, offset, INDEX_CHUNK)
        offset += len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop() if chunk else b""
        for line in lines:
            text = line.decode("utf-8", errors="replace").strip()
            if text and not text.startswith("#"):
                yield text
        if not chunk:
            return


class FileSource:
    """Streams a job's files from a cursor on; never holds more than a page of them."""

    def __init__(
        self,
        roots: Iterator[str],
        table: MountTable,
        ufs_factory,
        cursor: Cursor,
        page_size: int = 1000,
        file_filter: str | None = None,
    ) -> None:
        self.table = table
        self.ufs_factory = ufs_factory
        self.page_size = page_size
        self.filter = compile_user_pattern(file_filter) if file_filter else None
        self.root = cursor.root
        self.after = cursor.after
        self.done = cursor.listed
        self._roots = roots
        for _ in range(cursor.root):  # skip the roots the cursor is already past
            next(self._roots, None)
        self._listing: Iterator[list[FileStatus]] | None = None
        self._current = ""

    def next_page(self) -> Page | None:
        """The next page, or None when every root has been listed."""
        if self.done:
            return None
        files: list[FileStatus] = []
        failures: list[dict[str, str]] = []
        while len(files) < self.page_size and not self.done:
            if self._listing is None:
                root = next(self._roots, None)
                if root is None:
                    self.done = True
                    break
                self._current = root
                try:
                    self._listing = self._open(root)
                except RingcacheError as exc:
                    failures.append(root_failure(root, exc))
                    self._next_root()
                    continue
            try:
                chunk = next(self._listing)
            except StopIteration:
                self._next_root()
                continue
            except RingcacheError as exc:
                # The listing broke off: name the file it stopped after, or the root itself.
                failures.append(root_failure(self.after or self._current, exc))
                self._next_root()
                continue
            self.after = chunk[-1].path
            files.extend(f for f in chunk if self.filter is None or self.filter.search(f.path))
        return Page(files, Cursor(self.root, self.after, self.done), failures)

    def _open(self, root: str) -> Iterator[list[FileStatus]]:
        mount, uri = self.table.resolve(root)
        self._current = uri
        ufs = self.ufs_factory(mount.ufs, mount.options)
        listing = ufs.list_files(uri, page_size=self.page_size, start_after=self.after)
        return iter(listing)

    def _next_root(self) -> None:
        self.root += 1
        self.after = None
        self._listing = None


def root_failure(root: str, exc: RingcacheError) -> dict[str, str]:
    reason = getattr(exc, "reason", None) or (
        FailureReason.INVALID_PATH if exc.status_code == 400 else FailureReason.UFS_READ_FAILED
    )
    return {"path": root, "reason": str(reason), "message": exc.message}
