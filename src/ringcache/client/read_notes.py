"""What a same-host client read itself, without asking, told to the files' owners.

A client handed a local UFS file's descriptor for a range (a miss, see
`dataserver.local_reads`) holds it for a while and reads more of that file from it without
asking its owner (`LocalReads`); and it reads a cached file its owner published as
readable without asking (`cluster.worker.published`) from the cache's data file. So that
the owner still counts (and, of a UFS file, stores) what was read, each such range is
noted here, and a thread of its own sends the notes to the owner on a
connection of its own: one line per file (ranges that follow each other joined), at most
NOTE_SECONDS after the first of them was noted. No reader waits for it, and the owner
never answers a note.
"""

from __future__ import annotations

import atexit
import json
import logging
import socket
import threading
import time
import weakref
from collections import deque

from .forks import renew_in_children

log = logging.getLogger(__name__)

NOTE_SECONDS = 0.05  # what is read meanwhile is sent in the same lines
MOST_RANGES = 4096  # ranges of one file sent at once (as many as a worker takes in a note)
MOST_QUEUED = 65536  # notes one thread keeps waiting for the sender; any more are dropped
SEND_TIMEOUT = 5.0  # a worker that takes no note for this long is let go
IDLE_SECONDS = 10.0  # the sending thread ends after this long without a note

_LIVE: weakref.WeakSet[ReadNotes] = weakref.WeakSet()  # flushed at exit

# A note as queued: the worker's socket, the file's URI, whether it was read from a cached
# file published (else from a UFS file), and the range.
Note = tuple[str, str, bool, int, int]


class ReadNotes:
    """Ranges read without asking, pending until sent to the workers' sockets.

    Guarantees: a range noted is sent once, about NOTE_SECONDS later (or by `flush`, and
    at the interpreter's exit); one that cannot be sent (its worker went away, or took
    none for SEND_TIMEOUT) is dropped and logged, and so are a file's ranges past
    MOST_RANGES in one send, and a thread's notes past MOST_QUEUED waiting: their pages
    are missed again by a later read (or their hits not counted), no byte is read wrong,
    and memory stays bounded. Noting takes no lock (each thread queues its own notes; the
    sender takes them), so readers on many threads do not wait on each other.
    Thread-safe; a forked child starts with nothing pending and connections of its own.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._reset()
        _LIVE.add(self)
        renew_in_children(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._sending = threading.Lock()  # one sender at a time owns the connections
        self._local = threading.local()
        # Each noting thread's queue, with that thread (a dead one's goes once emptied).
        self._queues: list[tuple[weakref.ref[threading.Thread], deque[Note]]] = []
        self._sockets: dict[str, socket.socket] = {}
        self._thread: threading.Thread | None = None

    def note(self, name: str, uri: str, offset: int, length: int, served: bool = False) -> None:
        """`[offset, offset + length)` of `uri` was read, from a UFS file handed over (or,
        `served`, from a cached file its owner published); its owner serves on `name`."""
        try:
            queue = self._local.queue
        except AttributeError:  # this thread's first note
            queue = self._local.queue = deque()
            with self._lock:
                self._queues.append((weakref.ref(threading.current_thread()), queue))
        if len(queue) < MOST_QUEUED:
            queue.append((name, uri, served, offset, length))
        if self._thread is None:
            self._start()

    def flush(self) -> bool:
        """Send every note pending now; whether there was any."""
        with self._sending:
            pending = self._take()
            for name, files in pending.items():
                self._send(name, files)
        return bool(pending)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ringcache-read-notes", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        idle = 0.0
        while True:
            time.sleep(NOTE_SECONDS)
            if self.flush():
                idle = 0.0
                continue
            idle += NOTE_SECONDS
            if idle < IDLE_SECONDS:
                continue
            with self._lock:
                self._thread = None  # first: a note queued from now on starts another
                if not any(queue for _, queue in self._queues):
                    return
                self._thread = threading.current_thread()  # one came meanwhile
            idle = 0.0

    def _take(self) -> dict[str, dict[tuple[str, bool], list[list[int]]]]:
        """The notes queued, per worker socket, per file URI and kind: `[offset, length]`
        ranges in the order read, those that follow each other joined."""
        pending: dict[str, dict[tuple[str, bool], list[list[int]]]] = {}
        with self._lock:
            queues = list(self._queues)
        for owner, queue in queues:
            while queue:
                name, uri, served, offset, length = queue.popleft()
                ranges = pending.setdefault(name, {}).setdefault((uri, served), [])
                if ranges and sum(ranges[-1]) == offset:
                    ranges[-1][1] += length  # read on from where the last range ended
                elif len(ranges) < MOST_RANGES:
                    ranges.append([offset, length])
            thread = owner()
            if thread is None or not thread.is_alive():
                with self._lock:
                    if not queue:  # (by identity: empty queues are all equal)
                        self._queues = [kept for kept in self._queues if kept[1] is not queue]
        return pending

    def _send(self, name: str, files: dict[tuple[str, bool], list[list[int]]]) -> None:
        lines = b"".join(self._line(*file, ranges) for file, ranges in files.items())
        for _ in range(2):  # a connection the worker closed meanwhile: once more, afresh
            sock = self._sockets.get(name)
            try:
                if sock is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sockets[name] = sock
                    sock.settimeout(SEND_TIMEOUT)
                    sock.connect(name)
                sock.sendall(lines)
                return
            except OSError as exc:
                error = exc
                self._sockets.pop(name).close()
        log.info("notes of %d file(s) read were not delivered: %s", len(files), error)

    def _line(self, uri: str, served: bool, ranges: list[list[int]]) -> bytes:
        note: dict[str, object] = {"path": uri, "served" if served else "noted": ranges}
        if self.token is not None:
            note["token"] = self.token
        return json.dumps(note, separators=(",", ":")).encode() + b"\n"

    def after_fork(self) -> None:
        for sock in self._sockets.values():
            sock.close()  # the parent's connection stays open in the parent
        self._reset()


def _flush_all() -> None:
    for notes in list(_LIVE):
        try:
            notes.flush()
        except Exception:  # exiting: what cannot be told is missed again later
            log.info("read notes were not sent at exit", exc_info=True)


atexit.register(_flush_all)
