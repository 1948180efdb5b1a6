"""How a page store stores pages: a run of them at a time, reserved, written, then listed."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from itertools import islice

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
            run = pages[position:] if position else pages
            # The common case, a whole run (no tuple per page), else page by page.
            reserved: list[tuple[int, int, PageData]] = []
            touched = None
            nbytes = self._whole_run(entry, start, run)
            if nbytes is not None:
                self.index.used += nbytes  # reserved now, so concurrent writers cannot overfill
                if medium.instant and unchanged is None:
                    # Nothing worth leaving the lock for (and no source to check): written
                    # and listed in one pass, as nothing can come between.
                    count = len(run)
                    outcome = medium.write_run(entry, start, run, nbytes)
                    if outcome[0] == count:
                        self._listed(entry, range(start, start + count), nbytes)
                    else:  # as reserved, for what was written to be listed, the rest released
                        entry.writing |= ((1 << count) - 1) << start
                        self._list_whole(entry, start, run, outcome)
                    return position + count
                entry.writing |= ((1 << len(run)) - 1) << start
            else:
                position = self._reserve_each(
                    entry, first_index, pages, position, reserved, evicted
                )
                touched = range(start, first_index + position)
                if medium.instant and reserved and unchanged is None:
                    self._list_run(entry, reserved, medium.write(entry, reserved), touched)
                    return position
        # The writes happen outside the lock, so threads write pages in parallel.
        if nbytes is not None:
            outcome = medium.write_run(entry, start, run, nbytes)
        else:
            outcome = medium.write(entry, reserved) if reserved else (0, None)
        if unchanged is not None and outcome[0] and not unchanged():
            # None listed; what stopped the writes (a source that ended, say) is raised.
            stale = SourceChanged(errno.ESTALE, f"{path}: the source changed meanwhile")
            outcome = (0, outcome[1] or stale)
        with changes.changing():
            if nbytes is not None:
                self._list_whole(entry, start, run, outcome)
                return position + len(run)
            self._list_run(entry, reserved, outcome, touched)
        return position

    def _whole_run(self, entry: FileEntry, first: int, pages: Sequence[PageData]) -> int | None:
        """The common case, checked at once: new pages, each of its exact length (every one
        whole but the file's last), room for all of them; their bytes. None otherwise, for
        `_reserve_each`."""
        count, page_size = len(pages), self.page_size
        last = first + count - 1
        last_length = entry.version.size - last * page_size  # past the run if it ends early
        if not count or first < 0 or last_length <= 0:
            return None
        taken = entry.held | entry.writing  # none, for a file's first run
        if taken and taken >> first & ((1 << count) - 1):
            return None
        if last_length > page_size:
            last_length = page_size  # the run ends before the file's last page
        if len(pages[-1]) != last_length:
            return None
        if count > 1 and set(map(len, islice(pages, count - 1))) != {page_size}:
            return None
        total = (count - 1) * page_size + last_length
        index = self.index
        if index.used + total > index.capacity_bytes:
            return None
        return total

    def _list_whole(
        self,
        entry: FileEntry,
        first: int,
        pages: Sequence[PageData],
        outcome: tuple[int, OSError | None],
    ) -> None:
        """`_list_run` of a whole run reserved from `first`: in one go if all of it was
        written and the file is still recorded as it was."""
        count = len(pages)
        if outcome[0] == count and self.index.files.get(entry.path) is entry:
            nbytes = (count - 1) * self.page_size + len(pages[-1])
            self._listed(entry, range(first, first + count), nbytes)
            return
        page_size = self.page_size
        reserved = [(index, page_size, data) for index, data in enumerate(pages, first)]
        last, _, data = reserved[-1]
        reserved[-1] = (last, len(data), data)
        self._list_run(entry, reserved, outcome, None)

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
            self._listed(entry, range(first, last + 1), nbytes)
        else:
            self._listed(entry, [page for page, _, _ in reserved], nbytes)

    def _listed(self, entry: FileEntry, pages: range | list[int], nbytes: int) -> None:
        """Pages reserved and written whole (`nbytes` in all) are held now, and the
        entry's new record is noted if the medium keeps records."""
        self.index.hold(entry, pages, nbytes)
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
            self._listed(entry, listed, listed_bytes)
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
