"""A job's files: its roots (given paths, or the lines of an index file) listed in pages.

The order is stable (roots in order, each root in `ufs.list_files` order), which is what
makes a cursor meaningful across restarts. Only the listing runs ahead: each root is split
at its top level (`list_dir`) into its files and its subdirectories, each subdirectory
listed whole by `list_files` from the cursor on, up to `list_concurrency(page size)` of
them at once, each at most AHEAD_CHUNKS chunks of LIST_CHUNK files ahead of the pages
being formed. So directories and S3 prefixes (which S3 lists one request of 1,000 keys at
a time) list side by side, and memory stays bounded however wide or deep the tree.
Blocking UFS work (and reading an index file) goes through the runtime's `run_io`, one
call a chunk: the call that reads a chunk also reads the next (or finds the end), so a
small directory is listed in a single call, not three (open, chunk, end), which a tree of
many small directories pays for in thread hand-offs more than in listing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..environment import RunIo
from ..errors import InvalidArgument, RingcacheError
from ..paths import relative_to
from ..policies.patterns import compile_user_pattern
from ..ufs.filesystem import FileStatus, UnderFileSystem
from ..ufs.mounts import MountTable
from .model import Cursor, FailureReason

INDEX_CHUNK = 1 << 20
LIST_CONCURRENCY = 16  # subdirectories of a root listed at once, at least
MAX_LIST_CONCURRENCY = 256  # and at most, however large the pages
LIST_CHUNK = 1000  # files a listing call answers (S3's most keys a request)
AHEAD_CHUNKS = 2  # chunks a subdirectory's listing may run ahead


def list_concurrency(page_files: int) -> int:
    """Subdirectories listed at once for pages of `page_files`: as many as run ahead by a
    quarter of a page between them (at least LIST_CONCURRENCY, at most
    MAX_LIST_CONCURRENCY), so memory grows by a quarter page at most.

    A large page is many listing calls; made 16 at a time, a 400,000-file page of
    1,000-file directories waits 25 calls in a row, longer than a 10,000-worker cluster
    takes to load it, so the workers would wait on the listing.
    """
    wanted = page_files // (4 * AHEAD_CHUNKS * LIST_CHUNK)
    return max(LIST_CONCURRENCY, min(MAX_LIST_CONCURRENCY, wanted))


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


_END = object()


class _Part:
    """One part of a root in listing order: files known already, or a directory listed in
    the background into `chunks` (then _END, or the fault that stopped it)."""

    def __init__(self, files: list[FileStatus] | None = None, listing: Any = None) -> None:
        # A directory's listing holds one chunk read ahead besides those queued.
        queued = 0 if files is not None else max(1, AHEAD_CHUNKS - 1)
        self.chunks: asyncio.Queue[Any] = asyncio.Queue(queued)
        self.listing = listing  # a thunk that opens the listing iterator, for a directory
        self.task: asyncio.Task | None = None
        if files is not None:
            self.chunks.put_nowait(files)
            self.chunks.put_nowait(_END)


class FileSource:
    """Streams a job's files from a cursor on; holds at most a page of them, and the
    chunks its subdirectory listings have run ahead."""

    def __init__(
        self,
        roots: Iterator[str],
        table: MountTable,
        ufs_factory,
        cursor: Cursor,
        run_io: RunIo,
        page_size: int = 1000,
        file_filter: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.table = table
        self.ufs_factory = ufs_factory
        self.run_io = run_io
        self.page_size = page_size
        self.concurrency = max(1, concurrency or list_concurrency(page_size))
        self.filter = compile_user_pattern(file_filter) if file_filter else None
        self.root = cursor.root
        self.after = cursor.after
        self.done = cursor.listed
        self._roots = roots  # may read an index file: advanced through `run_io`
        self._skip = cursor.root  # the roots the cursor is already past
        self._parts: deque[_Part] | None = None  # the current root's, None: open the next
        self._current = ""

    async def next_page(self, size: int | None = None) -> Page | None:
        """The next page (of `size` files or so, else the page size given), or None when
        every root has been listed."""
        if self.done:
            return None
        size = size or self.page_size
        files: list[FileStatus] = []
        failures: list[dict[str, str]] = []
        while len(files) < size and not self.done:
            if self._parts is None:
                root = await self.run_io(self._next_root_path)
                if root is None:
                    self.done = True
                    break
                self._current = root
                try:
                    self._parts = await self._open(root)
                except RingcacheError as exc:
                    failures.append(root_failure(root, exc))
                    self._next_root()
                    continue
            if not self._parts:
                self._next_root()
                continue
            self._start_ahead()
            chunk = await self._parts[0].chunks.get()
            if chunk is _END:
                self._parts.popleft()
                continue
            if isinstance(chunk, RingcacheError):
                # The listing broke off: name the file it stopped after, or the root itself.
                failures.append(root_failure(self.after or self._current, chunk))
                self._next_root()
                continue
            if isinstance(chunk, BaseException):
                raise chunk
            if chunk:
                self.after = chunk[-1].path
                files.extend(f for f in chunk if self.filter is None or self.filter.search(f.path))
        return Page(files, Cursor(self.root, self.after, self.done), failures)

    def close(self) -> None:
        """Stop the listings running ahead."""
        self._stop_parts()

    def _next_root_path(self) -> str | None:
        while self._skip:
            self._skip -= 1
            next(self._roots, None)
        return next(self._roots, None)

    # -- a root's parts --------------------------------------------------------------------

    async def _open(self, root: str) -> deque[_Part]:
        mount, uri = self.table.resolve(root)
        self._current = uri
        ufs = self.ufs_factory(mount.ufs, mount.options)
        after = self.after

        def whole(top: str, start_after: str | None) -> Any:
            return lambda: iter(ufs.list_files(top, page_size=LIST_CHUNK, start_after=start_after))

        try:
            children = await self.run_io(ufs.list_dir, uri)
        except RingcacheError:  # a file, nothing, or no listing: one part, which says which
            return deque([_Part(listing=whole(uri, after))])
        head = None
        if after is not None:
            try:
                head = relative_to(after, uri).split("/")[0]
            except InvalidArgument:  # a cursor spelled otherwise: the UFS compares it
                return deque([_Part(listing=whole(uri, after))])
        parts: deque[_Part] = deque()
        files: list[FileStatus] = []
        for status, is_dir in children:  # in listing order: files before a same-named dir
            name = status.path.rstrip("/").rsplit("/", 1)[-1]
            if head is not None and (name < head or (name == head and not is_dir)):
                continue  # wholly before the cursor (or the cursor itself)
            start_after = after if head is not None and name == head else None
            if head is not None and name > head:
                head = None  # everything from here on comes after the cursor
            if not is_dir:
                files.append(status)
                continue
            parts.extend(_file_parts(files))
            files = []
            parts.append(_Part(listing=whole(status.path, start_after)))
        parts.extend(_file_parts(files))
        return parts

    def _start_ahead(self) -> None:
        """Have the first `concurrency` directory parts listing."""
        started = 0
        for part in self._parts or ():
            if started >= self.concurrency:
                break
            if part.listing is None:
                continue
            if part.task is None:
                part.task = asyncio.get_running_loop().create_task(self._fill(part))
            started += 1

    async def _fill(self, part: _Part) -> None:
        try:
            chunk, listing, ahead = await self.run_io(_first_chunks, part.listing)
            while chunk is not _END:
                await part.chunks.put(chunk)
                if ahead is _END:
                    break
                chunk, ahead = ahead, await self.run_io(next, listing, _END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the page that reaches it
            await part.chunks.put(exc)
            return
        await part.chunks.put(_END)

    def _next_root(self) -> None:
        self._stop_parts()
        self.root += 1
        self.after = None

    def _stop_parts(self) -> None:
        for part in self._parts or ():
            if part.task is not None:
                part.task.cancel()
        self._parts = None


async def list_into(listed: asyncio.Queue, source: FileSource, sizes: Iterator[int]) -> None:
    """A lister: `source`'s pages, of `sizes` files in turn, into `listed`; then None, or
    the fault that stopped it (for the consumer to raise)."""
    try:
        while (page := await source.next_page(next(sizes))) is not None:
            await listed.put(page)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # raised by the consumer, which records it
        await listed.put(exc)
        return
    await listed.put(None)


def _first_chunks(open_listing: Any) -> tuple[Any, Any, Any]:
    """(first chunk, the listing, the chunk after it), either chunk _END: in one call."""
    listing = open_listing()
    chunk = next(listing, _END)
    return chunk, listing, _END if chunk is _END else next(listing, _END)


def _file_parts(files: list[FileStatus]) -> list[_Part]:
    """A run of files directly under a root, as parts of at most LIST_CHUNK files."""
    return [_Part(files[i : i + LIST_CHUNK]) for i in range(0, len(files), LIST_CHUNK)]


def root_failure(root: str, exc: RingcacheError) -> dict[str, str]:
    reason = getattr(exc, "reason", None) or (
        FailureReason.INVALID_PATH if exc.status_code == 400 else FailureReason.UFS_READ_FAILED
    )
    return {"path": root, "reason": str(reason), "message": exc.message}
