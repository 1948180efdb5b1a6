"""What a page store finds on disk when it opens: the whole pages its journal vouches for.

A page counts only if the journal lists it and its data file holds data over all of it;
everything else on disk (orphan data files, pages written but not yet listed, pages
evicted but still listed at a crash) is removed or punched out, so its space is free.
"""

from __future__ import annotations

import logging

from .layout import LAYOUT_VERSION, Journal, PageLayout
from .model import FileEntry, bits, page_runs

log = logging.getLogger(__name__)


def recover_entries(layout: PageLayout, journal: Journal, page_size: int) -> list[FileEntry]:
    """The files to keep, oldest cached first, each with only its whole pages; a store of
    another layout or page size is dropped."""
    stored = layout.read_format()
    expected = {"layout": LAYOUT_VERSION, "page_size": page_size}
    if stored is not None and stored != expected:
        log.warning("page store %s was %s; dropping its pages", layout.root, stored)
        records: dict[str, dict] = {}
    else:
        records = journal.replay()
    by_key: dict[str, FileEntry] = {}
    for record in records.values():
        entry = FileEntry.from_record(record)
        if entry is not None:
            by_key[entry.key] = entry
    on_disk = set()
    for key in layout.scan():
        entry = by_key.get(key)
        if entry is None:  # another version's, or an orphan: never served
            layout.remove(key)
            continue
        on_disk.add(key)
        _keep_whole_pages(layout, entry, page_size)
    for entry in by_key.values():
        if entry.key not in on_disk:
            entry.held = 0
    # A non-empty file without pages was being loaded or evicted: drop its record.
    kept = [entry for entry in by_key.values() if entry.held or entry.version.size == 0]
    # No access times are kept on disk: the oldest cached data counts as least recent.
    kept.sort(key=lambda entry: (entry.cached_at, entry.path))
    return kept


def _keep_whole_pages(layout: PageLayout, entry: FileEntry, size: int) -> None:
    """Keep the listed pages the data file holds whole; punch out everything else
    (pages written but not yet listed, or evicted but still listed, at a crash)."""
    count = entry.page_count(size)
    listed = {
        index: (index * size, entry.page_length(index, size))
        for index in entry.indexes()
        if index < count
    }
    entry.held = bits(layout.whole(entry.key, listed))
    if not entry.held:
        layout.remove(entry.key)
        return
    unlisted = [index for index in range(count) if not entry.has(index)]
    layout.punch(
        entry.key,
        [
            (start * size, min(stop * size, entry.version.size) - start * size)
            for start, stop in page_runs(unlisted)
        ],
    )
