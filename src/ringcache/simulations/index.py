"""The simulated coordinator's file index: the production `FileIndex`, what its writes cost
in virtual time, and, for large runs, a helper process that does them.

Every report a coordinator writes to its index (`apply_reports`, which `record_many` and
`apply_report` go through) is charged to the coordinator's meter, one row per file, at
`NodeModel.index_rows_per_second`: `SimRunIo` then sleeps what the write would take.

`IndexProcess` keeps the index in a helper process, so its SQLite work runs on another
core while the simulation goes on. A report write is checked here as `FileIndex` checks it
(a bad one raises here, with nothing written), then sent without waiting; every other call
is a round trip, answered after all the writes sent before it. Calls reach the index in
the simulation's order and are answered at the same virtual instants either way, so a
run's summary does not depend on where its index lives. A checked write the helper still
fails (out of memory, say) makes every later call raise: the run can no longer be trusted.
(A thread would not do: SQLite gives up the GIL for each row it steps, and getting it back
from a busy simulation costs more than the row.)
"""

from __future__ import annotations

import functools
import marshal
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from ..cluster.index.file_index import FileIndex, FileRecord
from ..cluster.index.reports import (
    Report,
    WorkerReport,
    check_record,
    check_reported,
    listed,
)
from .costs import IoMeter

# Runs from this many files up keep their index in a helper process; below, starting one
# (about 0.6 s) costs more than it saves.
PROCESS_FROM_FILES = 100_000

PlainReport = tuple[str, list[tuple[str, int, float | None, str | None, int]], list[str], bool]

# The `FileIndex` calls `IndexProcess` sends as round trips.
FORWARDED = frozenset(
    {
        "add_stat_only",
        "cached_bytes",
        "count",
        "forget_worker",
        "get",
        "held_by",
        "held_bytes",
        "holders",
        "holding_workers",
        "list",
        "remove",
        "remove_under",
        "track_usage",
        "usage",
        "usage_and_holdings",
    }
)


def _charge(meter: IoMeter | None, reports: list[Report]) -> None:
    if meter is not None:
        meter.index_write(sum(len(held) + len(dropped) for _, held, dropped, _ in reports))


class KeptFileIndex(FileIndex):
    """An in-memory index a stopping coordinator leaves open, as it would leave its file;
    its report writes are charged to `meter` (the coordinator node's, once it is set)."""

    meter: IoMeter | None = None

    def close(self) -> None:
        pass  # the next coordinator opens it again

    def discard(self) -> None:
        super().close()

    def apply_reports(self, reports: Iterable[Report]) -> None:
        reports = listed(reports)
        _charge(self.meter, reports)
        super().apply_reports(reports)


class IndexProcess:
    """`KeptFileIndex`, kept in a helper process (see the module's docstring).

    Guarantees: calls take effect in the order they are made; a report write returns once
    checked and sent; every other call answers (or raises) as `FileIndex` would, after
    every earlier write. `discard()` stops the helper, which also stops when this process
    goes away (its stdin closes).
    """

    meter: IoMeter | None = None
    # The report writes that are not `apply_reports` itself all go through it.
    record_cached = FileIndex.record_cached
    record_dropped = FileIndex.record_dropped
    record_many = FileIndex.record_many
    apply_report = FileIndex.apply_report

    def __init__(self) -> None:
        # A fresh interpreter (no inherited threads, no re-run of the caller's main module)
        # that speaks `multiprocessing` messages over its stdin and stdout.
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve_stdio; serve_stdio()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        self._requests = Connection(os.dup(stdin.fileno()), readable=False)
        self._replies = Connection(os.dup(stdout.fileno()), writable=False)
        stdin.close()
        stdout.close()
        self._sent = 0
        self._failed: BaseException | None = None  # a sent write the helper failed
        self._reported: set[str] = set()  # `reported_workers`: the helper's index is new

    def __repr__(self) -> str:
        return f"IndexProcess(pid={self._process.pid})"

    def __getattr__(self, name: str) -> Any:
        if name not in FORWARDED:
            raise AttributeError(name)
        return functools.partial(self._call, name)

    def reported_workers(self) -> set[str]:
        return set(self._reported)  # kept here, as `FileIndex` keeps it: no round trip

    def forget_worker(self, worker_id: str) -> int:
        self._reported.discard(worker_id)
        return self._call("forget_worker", worker_id)

    def apply_reports(self, reports: Iterable[Report]) -> None:
        reports = listed(reports)
        _charge(self.meter, reports)  # before the checks, as `KeptFileIndex` charges
        plain: list[PlainReport] = []
        for worker, held, dropped, replace in reports:
            rows = []
            for record, cached_bytes in held:
                check_record(record)  # as `apply_reports` would, before writing anything
                rows.append((record.path, record.length, record.mtime, record.etag, cached_bytes))
            plain.append((worker, rows, dropped, replace))
        self._send("apply_plain", plain)  # answered only if it fails
        self._reported.update(worker for worker, held, _, _ in reports if held)

    def apply_worker_reports(self, reports: Iterable[WorkerReport]) -> None:
        reports = list(reports)
        # Checked as `FileIndex` checks them, then charged as `apply_reports` would be.
        rows = sum(check_reported(files) for _, files, _ in reports)
        if self.meter is not None:
            self.meter.index_write(rows)
        self._send("apply_worker_reports", reports)  # answered only if it fails
        self._reported.update(w for w, files, _ in reports if any(len(e) == 5 for e in files))

    def close(self) -> None:
        pass  # the next coordinator opens it again

    def discard(self) -> None:
        """Stop the helper at once, writes still queued and all: its index goes with it."""
        try:
            self._process.terminate()
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        finally:
            self._requests.close()
            self._replies.close()

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        ticket = self._send(name, *args, **kwargs)
        try:
            answered, ok, value = self._replies.recv()
        except (EOFError, OSError):
            raise RuntimeError(self._died()) from None
        if answered != ticket:  # the answer to a write sent earlier: it failed
            self._failed = value
            raise RuntimeError(f"the file index failed a report write: {value!r}")
        if not ok:
            raise value
        return value

    def _send(self, name: str, *args: Any, **kwargs: Any) -> int:
        if self._failed is not None:
            raise RuntimeError(f"the file index failed a report write: {self._failed!r}")
        self._sent += 1
        try:
            self._requests.send_bytes(_encoded((self._sent, name, args, kwargs)))
        except OSError:
            raise RuntimeError(self._died()) from None
        return self._sent

    def _died(self) -> str:
        return f"the simulated file index's helper process exited ({self._process.poll()})"


def serve_stdio() -> None:
    """The helper process's main: `serve_index` over stdin and stdout (anything printed
    goes to stderr instead, so it cannot garble a message). A Ctrl-C meant for the
    simulation is left to it: the helper ends when the simulation lets go of it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(os.dup(0), writable=False)
    replies = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    serve_index(requests, replies)


def serve_index(incoming: Connection, outgoing: Connection) -> None:
    """A `FileIndex` in memory, serving requests in order until the other end goes away.
    A thread reads requests as they come, so a sender never waits for the index to finish
    its earlier work. Writes are answered only when they fail.

    Requests wait in their encoded bytes and are decoded only when their turn comes: a
    report batch of 200,000 files is about 12 MB as bytes and 50 MB decoded, and the
    next batch arrives while the index applies the one before (at 1,000 workers and
    1,000,000 files, the helper's peak RSS went from 0.69 GB to 0.63-0.64 GB)."""
    requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                requests.put(incoming.recv_bytes())
        except (EOFError, OSError):
            requests.put(None)

    threading.Thread(target=read, name="requests", daemon=True).start()
    index = FileIndex()
    while (message := requests.get()) is not None:
        served = _served(index, message)
        del message  # neither it nor its request is held while the next one waits
        if served is None:
            continue
        name, answer = served
        try:
            outgoing.send(answer)
        except OSError:
            break  # nobody is listening any more
        except Exception as exc:  # an answer that does not pickle: say so instead
            error = RuntimeError(f"unpicklable answer to {name}: {exc!r}")
            outgoing.send((answer[0], False, error))
        del served, answer
    index.close()


def _served(index: FileIndex, message: bytes) -> tuple[str, tuple[int, bool, Any]] | None:
    """Request `message` done on `index`: the call's name and its answer, or None for a
    write that succeeded (writes are answered only when they fail)."""
    ticket, name, args, kwargs = _decoded(message)
    try:
        if name == "apply_plain":
            index.apply_reports(_records(args[0]))
            return None
        if name == "apply_worker_reports":
            index.apply_worker_reports(args[0])
            return None
        if name not in FORWARDED:
            raise AttributeError(f"FileIndex has no forwarded call {name!r}")
        return name, (ticket, True, getattr(index, name)(*args, **kwargs))
    except Exception as exc:  # the caller raises it
        return name, (ticket, False, exc)


def _encoded(request: tuple) -> bytes:
    """A request as bytes: by `marshal` when it holds only plain values (reports do: it
    takes a third of pickle's time for them), else by plain pickle (a third faster than
    `Connection.send`'s, which reduces sockets and the like). A byte says which."""
    try:
        # Version 2 keeps no table of shared objects: the paths of a report are shared
        # with the stores, and tracking each took a quarter of the encoding's time.
        return b"M" + marshal.dumps(request, 2)
    except ValueError:  # an object marshal does not take (a FileRecord, say)
        return b"P" + pickle.dumps(request, pickle.HIGHEST_PROTOCOL)


def _decoded(message: bytes) -> tuple:
    body = memoryview(message)[1:]
    return marshal.loads(body) if message[:1] == b"M" else pickle.loads(body)


def _records(plain: list[PlainReport]) -> list[Report]:
    return [
        (worker, [(FileRecord(*row[:4]), row[4]) for row in held], dropped, replace)
        for worker, held, dropped, replace in plain
    ]
