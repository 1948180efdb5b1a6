"""Same-host reads of local UFS files their owner records nothing of: read by the client
itself, without asking, and noted to the owner afterwards (see
`cluster.worker.held_names`)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..cluster.cache.model import clamped
from ..cluster.ufs.local_roots import RealRoots, descriptor_path
from ..cluster.worker.held_names import HeldNamesView
from .early_reads import local_path, open_to_read
from .held_files import HeldFiles, pread_all
from .published_reads import PublishedReads
from .read_notes import ReadNotes


@dataclass(frozen=True)
class Grant:
    """What a worker answering a miss allowed (the `direct` field of its answer): files
    under `roots` it records nothing of (`names`, mapped from `names_path`) may be read
    without asking while its published table is at `generation`; `notes_to` is its
    socket."""

    generation: int
    roots: RealRoots
    names: HeldNamesView
    names_path: str
    notes_to: str


class DirectReads:
    """Per worker on this host, what its miss answers granted at its latest generation.

    Guarantees: a range is read here only if its file's real path (resolved on the opened
    descriptor) is under a granted root, the worker's published table is at the grant's
    generation with its lease ahead (so the rules and mounts in force are the grant's, and
    the worker runs), and its filter said it records nothing of the file just before; the
    bytes are then the UFS file's own, as a miss handed over would have read them. Each
    range read is noted to the worker, which stores and counts it as the miss it was; the
    descriptor is held (`held`) to read on from when more of the file follows. Anything
    else (no grant, a file it may hold, a symlink out of the roots, not a regular file,
    an empty range, an error) answers None: the caller asks. Thread-safe."""

    def __init__(self, held: HeldFiles, notes: ReadNotes, tables: PublishedReads) -> None:
        self._held = held
        self._notes = notes
        self._tables = tables
        self._grants: dict[str, Grant] = {}

    def grant(self, worker_id: str, name: str, direct: dict) -> None:
        """Take the `direct` field of an answer from `worker_id` (its socket `name`): its
        roots join those granted at the same generation (one mount's, then another's)."""
        generation, path = int(direct["generation"]), str(direct["names"])
        roots = tuple(str(root) for root in direct["roots"])
        current = self._grants.get(worker_id)
        if current is not None and current.generation == generation:
            if set(roots) <= set(current.roots.roots):
                return
            roots = tuple(sorted({*current.roots.roots, *roots}))
        if current is not None and current.names_path == path:
            names = current.names
        else:
            view = HeldNamesView.open(path)
            if view is None:
                return
            names = view
        grants = dict(self._grants)  # replaced whole: readers take no lock (nor a child)
        grants[worker_id] = Grant(generation, RealRoots(roots), names, path, name)
        self._grants = grants  # two threads at once may lose one: it is granted again

    def granted(self, worker_id: str) -> Grant | None:
        return self._grants.get(worker_id)

    def read(self, worker_id: str, uri: str, offset: int, length: int | None) -> bytes | None:
        """The range, read from the UFS file itself if its owner allows that now (see the
        class's doc); else None."""
        opened = self._open(worker_id, uri)
        if opened is None:
            return None
        fd, grant, found = opened
        start, end = clamped(offset, length, found.st_size)
        try:
            data = pread_all(fd, end - start, start) if end > start else b""
        except OSError:
            data = b""
        except BaseException:
            os.close(fd)
            raise
        if not data:  # nothing to note (the owner records what it answers): asked
            os.close(fd)
            return None
        self._notes.note(grant.notes_to, uri, start, len(data))
        if end < found.st_size:
            self._held.hold((worker_id, uri), fd, found.st_size, grant.notes_to)
        else:
            os.close(fd)
        return data

    def stat(self, worker_id: str, uri: str) -> os.stat_result | None:
        """The UFS file's status, taken by the client itself when its owner would answer it
        from the UFS file (it records nothing of it) and allows reading it unasked; else
        None."""
        opened = self._open(worker_id, uri)
        if opened is None:
            return None
        os.close(opened[0])
        return opened[2]

    def _open(self, worker_id: str, uri: str) -> tuple[int, Grant, os.stat_result] | None:
        """The file `uri` names, opened, with the grant that allows it and its status, if
        the class's conditions hold now; else None."""
        grant = self._grants.get(worker_id)
        if grant is None:
            return None
        path = local_path(uri)
        if path is None or not grant.roots.hold(path):  # (its real path is checked below)
            return None
        view = self._tables.view(worker_id)
        if view is None or view.generation_now() != grant.generation:
            return None
        if grant.names.may_hold(uri):
            return None
        fd = open_to_read(path)
        if fd is None:
            return None
        try:
            real = descriptor_path(fd)  # as the worker's own confinement checks it
            found = os.fstat(fd)
        except OSError:
            os.close(fd)
            return None
        if not grant.roots.hold(real) or not stat.S_ISREG(found.st_mode):
            os.close(fd)
            return None
        return fd, grant, found
