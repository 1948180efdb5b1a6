"""Same-host reads of the files workers published as readable without asking (see
`cluster.worker.published`): from the cache's data file, by its path."""

from __future__ import annotations

import mmap
import os
import threading

from ..cluster.cache.model import clamped
from ..cluster.worker.published import PublishedFile, PublishedView
from .held_files import HeldFiles, pread_all
from .read_notes import ReadNotes


class PublishedReads:
    """Per worker on this host, its table of published files and its socket's name.

    Guarantees: a range is returned only if the file's entry was valid when found and the
    worker's change epoch is still there once it was read (no page can have been dropped
    meanwhile); each range read is noted to the worker (`notes`), which counts it as the
    hit it was, and the data file is then held (`held`) to be read on from without
    looking again. Thread-safe."""

    def __init__(self, held: HeldFiles, notes: ReadNotes) -> None:
        self._held = held
        self._notes = notes
        self._tables: dict[str, tuple[PublishedView, str]] = {}
        self._lock = threading.Lock()

    def look_in(self, worker_id: str, name: str, path: str, epoch: mmap.mmap) -> None:
        """From now on, look in the table at `path` (of the worker whose socket is `name`
        and whose change epoch `epoch` maps) before asking it, if this process may map it."""
        view = PublishedView.open(path, epoch)
        if view is not None:
            with self._lock:
                self._tables.setdefault(worker_id, (view, name))

    def knows(self, worker_id: str) -> bool:
        return worker_id in self._tables

    def view(self, worker_id: str) -> PublishedView | None:
        table = self._tables.get(worker_id)
        return None if table is None else table[0]

    def find(self, worker_id: str, uri: str) -> PublishedFile | None:
        """The file as the worker published it (where its bytes are, its cached version),
        if it did and the entry is valid now; else None."""
        view = self.view(worker_id)
        return None if view is None else view.find(uri)

    def read(self, worker_id: str, uri: str, offset: int, length: int | None) -> bytes | None:
        """The range from the file's data file, if its owner published it and no page was
        dropped meanwhile; else None."""
        table = self._tables.get(worker_id)
        if table is None:
            return None
        view, name = table
        found = view.find(uri)
        if found is None:
            return None
        start, end = clamped(offset, length, found.size)
        try:
            fd = os.open(found.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # gone meanwhile, or not this process's to open: ask
            return None
        try:
            data = pread_all(fd, end - start, found.base + start)
        except OSError:
            os.close(fd)
            return None
        if not view.still(found):
            os.close(fd)
            return None
        if end > start:
            self._notes.note(name, uri, start, end - start, served=True)
        key = (worker_id, uri)  # read on from it, as from a descriptor handed over
        self._held.hold(
            key, fd, found.size, name, base=found.base, epoch=found.epoch, shared=view.epoch
        )
        return data
