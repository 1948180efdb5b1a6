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

from .forks import renew_in_children

log = logging.getLogger(__name__)

NOTE_SECONDS = 0.05  # what is read meanwhile is sent in the same lines
MOST_RANGES = 4096  # ranges of one file pending at once (as many as a worker takes in a note)
SEND_TIMEOUT = 5.0  # a worker that takes no note for this long is let go
IDLE_SECONDS = 10.0  # the sending thread ends after this long without a note

_LIVE: weakref.WeakSet[ReadNotes] = weakref.WeakSet()  # flushed at exit


class ReadNotes:
    """Ranges read without asking, pending until sent to the workers' sockets.

    Guarantees: a range noted is sent once, about NOTE_SECONDS later (or by `flush`, and
    at the interpreter's exit); one that cannot be sent (its worker went away, or took
    none for SEND_TIMEOUT) is dropped and logged, and so are a file's ranges past
    MOST_RANGES pending at once: their pages are missed again by a later read, no byte is
    read wrong, and memory stays bounded.
    Thread-safe; a forked child starts with nothing pending and connections of its own.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._reset()
        _LIVE.add(self)
        renew_in_children(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sending = threading.Lock()  # one sender at a time owns the connections
        # Per worker socket, per file URI and kind: `[offset, length]` ranges, in the order
        # read. The kind: read from a cached file published (True), else from a UFS file.
        self._pending: dict[str, dict[tuple[str, bool], list[list[int]]]] = {}
        self._sockets: dict[str, socket.socket] = {}
        self._thread: threading.Thread | None = None

    def note(self, name: str, uri: str, offset: int, length: int, served: bool = False) -> None:
        """`[offset, offset + length)` of `uri` was read, from a UFS file handed over (or,
        `served`, from a cached file its owner published); its owner serves on `name`."""
        with self._lock:
            ranges = self._pending.setdefault(name, {}).setdefault((uri, served), [])
            if ranges and sum(ranges[-1]) == offset:
                ranges[-1][1] += length  # read on from where the last range ended
            elif len(ranges) < MOST_RANGES:
                ranges.append([offset, length])
            else:  # scattered reads outrunning the sender: missed again later, not kept
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="ringcache-read-notes", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def flush(self) -> None:
        """Send every note pending now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        with self._sending:
            for name, files in pending.items():
                self._send(name, files)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wake.wait_for(lambda: self._pending, IDLE_SECONDS):
                    self._thread = None  # the next note starts another
                    return
            time.sleep(NOTE_SECONDS)
            self.flush()

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
