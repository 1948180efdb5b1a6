"""How a page store stores pages: a run of them at a time, reserved, written, then listed."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from ..errors import InvalidArgument
from ..ufs.filesystem import FileVersion
from .changes import CacheChanges
from .index import CacheIndex
from .medium import Medium, PageData
from .model import CapacityExceeded, FileEntry


class SourceChanged(OSError):
    """Pages copied from a source that may have changed while they were (a peer's data
    file, whose pages the peer dropped meanwhile): none of them was listed."""


class PageWrites:
    """Stores runs of pages of recorded files.

    Guarantees: the bytes of a run are reserved in the index before they are written, so
    concurrent writers never overfill the store; a page is listed only once its write
    returned whole, and only if its file is still recorded at that version (else its
    bytes are released on the medium); a failed write keeps the pages before it. The
    medium's writes happen outside the lock unless the medium is `instant`.
    """

    def __init__(
        self, index: CacheIndex, medium: Medium, changes: CacheChanges, page_size: int
    ) -> None:
        self.index = index
        self.medium = medium
        self.changes = changes
        self.page_size = page_size

    def put_run(
        self,
        path: str,
        first_index: int,
        pages: Sequence[PageData],
        position: int,
        now: float,
        version: FileVersion | None,
        priority: str | None,
        evicted: list[tuple[str, int]],
        unchanged: Callable[[], bool] | None = None,
    ) -> int:
        """Store `pages[position:]`, or as many of them as fit in the store together;
        returns the position of the first page not handled. With `unchanged`, the pages
        written are listed only if it answers True once they are (else SourceChanged)."""
        medium, changes = self.medium, self.changes
        with changes.changing():
            entry = self.index.files.get(path)
            if version is not None and (
                entry is None
                or entry.version is not version  # the worker passes one object per file
                or (priority is not None and priority != entry.priority)
            ):
                entry = changes.record_file(path, version, now, priority)
            elif entry is None:
                entry = changes.require(path)  # raises
            entry.last_access = now
            start = first_index + position
            reserved = self._reserve_whole(entry, start, pages[position:] if position else pages)
            touched = None
            if reserved is not None:
                position += len(reserved)
            else:
                reserved = []
                position = self._reserve_each(
                    entry, first_index, pages, position, reserved, evicted
                )
                touched = range(start, first_index + position)
            # Nothing worth leaving the lock for (and no source to check): one pass.
            if medium.instant and reserved and unchanged is None:
                outcome = medium.write(entry, reserved)
                if touched is None and outcome[0] == len(reserved):
                    self._hold(entry, reserved)  # a whole run: nothing came between
                else:
                    self._list_run(entry, reserved, outcome, touched)
                return position
        # The writes happen outside the lock, so threads write pages in parallel.
        outcome = medium.write(entry, reserved) if reserved else (0, None)
        if unchanged is not None and outcome[0] and not unchanged():
            # None listed; what stopped the writes (a source that ended, say) is raised.
            stale = SourceChanged(errno.ESTALE, f"{path}: the source changed meanwhile")
            outcome = (0, outcome[1] or stale)
        with changes.changing():
            self._list_run(entry, reserved, outcome, touched)
        return position

    def _reserve_whole(
        self, entry: FileEntry, first: int, pages: Sequence[PageData]
    ) -> list[tuple[int, int, PageData]] | None:
        """The common case at once: new pages, each of its exact length, room for all of
        them. None (nothing done) otherwise, for `_reserve_each`."""
        count, size, page_size = len(pages), entry.version.size, self.page_size
        last = first + count - 1
        if not count or first < 0 or last * page_size >= size:
            return None
        run = ((1 << count) - 1) << first
        if (entry.held | entry.writing) & run:
            return None
        last_length = min(page_size, size - last * page_size)
        if count == 1:  # most calls: a file of one page, or the last of a file
            total = len(pages[0])
            if total != last_length:
                return None
            reserved = [(first, total, pages[0])]
        else:
            # Every page but the last is whole, the last is what is left of the file.
            if len(pages[-1]) != last_length:
                return None
            reserved = []
            page_index = first
            for page in pages:
                reserved.append((page_index, page_size, page))
                page_index += 1
                if len(page) != page_size and page_index <= last:
                    return None
            reserved[-1] = (last, last_length, pages[-1])
            total = (count - 1) * page_size + last_length
        index = self.index
        if index.used + total > index.capacity_bytes:
            return None
        index.used += total  # reserved now, so concurrent writers cannot overfill
        entry.writing |= run
        return reserved

    def _reserve_each(
        self,
        entry: FileEntry,
        first_index: int,
        pages: Sequence[PageData],
        position: int,
        reserved: list[tuple[int, int, PageData]],
        evicted: list[tuple[str, int]],
    ) -> int:
        """Reserve pages one by one from `position`, making room as needed, until one does
        not fit beside those reserved; returns the position of the first not handled."""
        index = self.index
        sizes = []
        for offset, data in enumerate(pages[position:]):
            page = first_index + position + offset
            size = entry.page_length(page, self.page_size)
            if len(data) != size:
                raise InvalidArgument(
                    f"page {page} of {entry.path} must be {size} bytes, not {len(data)}"
                )
            sizes.append(size)
        for size, data in zip(sizes, pages[position:], strict=True):
            page = first_index + position
            if entry.has(page):  # the pages of one version never change
                index.order.use(entry, [page])
            elif not (entry.writing >> page) & 1:  # else another thread writes these bytes
                if not reserved and size > index.capacity_bytes:
                    raise CapacityExceeded(
                        f"page {page} of {entry.path} ({size} bytes) does not fit in the page "
                        f"store ({index.capacity_bytes} bytes)",
                        path=entry.path,
                    )
                evicted += self.changes.make_room(size, keep=entry)
                if reserved and index.used + size > index.capacity_bytes:
                    break  # room for it may need the pages reserved above listed first
                index.used += size  # reserved now, so concurrent writers cannot overfill
                entry.writing |= 1 << page
                reserved.append((page, size, data))
            position += 1
        return position

    def _hold(self, entry: FileEntry, reserved: list[tuple[int, int, PageData]]) -> None:
        """List reserved pages, all written whole, and note the entry's new record."""
        first, last, count = reserved[0][0], reserved[-1][0], len(reserved)
        # In order, each page whole but the file's last: their bytes at once.
        nbytes = (count - 1) * self.page_size + reserved[-1][1]
        if last - first + 1 == count:
            self.index.hold(entry, range(first, last + 1), nbytes)
        else:
            self.index.hold(entry, [page for page, _, _ in reserved], nbytes)
        if self.changes.journaled:  # the one call of the hot path a journal needs
            self.medium.note(entry)

    def _list_run(
        self,
        entry: FileEntry,
        reserved: list[tuple[int, int, PageData]],
        outcome: tuple[int, OSError | None],
        touched: range | None,
    ) -> None:
        """Under the lock, once reserved pages were written: list those written (or
        release them all if the file went meanwhile), and raise what stopped the rest.
        `touched`: the pages of the run, some held before, made most recent again in their
        order once the new ones are listed, as storing them one by one would."""
        written, failure = outcome
        medium, index = self.medium, self.index
        current = index.files.get(entry.path)
        if current is entry and written == len(reserved):  # the common case, in one go
            if reserved:
                self._hold(entry, reserved)
                if touched is not None and len(touched) > len(reserved):
                    index.order.use(entry, [page for page in touched if entry.has(page)])
            return
        listed: list[int] = []
        listed_bytes = 0
        stray: list[tuple[int, int]] = []
        for position, (page, length, _) in enumerate(reserved):
            if position < written and current is entry:
                listed.append(page)
                listed_bytes += length
                continue
            entry.writing &= ~(1 << page)
            index.used -= length
            if position < written and not (
                current is not None
                and current.key == entry.key
                and ((current.held | current.writing) >> page) & 1
            ):
                # Removed or superseded while we wrote: the page belongs to nobody now
                # (unless the file was recorded again at this version and has it).
                stray.append((page * self.page_size, length))
        if listed:
            index.hold(entry, listed, listed_bytes)
            medium.note(entry)
        if stray and (current is None or current.key != entry.key):
            medium.remove(entry)  # no recorded file uses this version's data
        elif stray:
            medium.punch(entry, stray)
        if failure is not None:
            if failure.errno == errno.ENOSPC:
                raise CapacityExceeded(
                    f"disk full writing {entry.path}: {failure}", path=entry.path
                ) from None
            raise failure
