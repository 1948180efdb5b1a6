"""Notes of what a client read from held UFS files: joined per file, sent in the background."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid

from ringcache.client import read_notes
from ringcache.client.read_notes import ReadNotes


def listening() -> tuple[socket.socket, str]:
    name = f"\0ringcache-test-notes-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(name)
    listener.listen(1)
    listener.settimeout(10)
    return listener, name


def lines_of(connection: socket.socket, count: int) -> list[dict]:
    connection.settimeout(10)
    buffer = b""
    while buffer.count(b"\n") < count:
        chunk = connection.recv(65536)
        assert chunk, "the notes' connection closed early"
        buffer += chunk
    return [json.loads(line) for line in buffer.splitlines()]


def test_ranges_read_on_are_joined_per_file_and_sent_once_without_a_flush(monkeypatch) -> None:
    monkeypatch.setattr(read_notes, "NOTE_SECONDS", 0.5)  # the four notes go in one batch
    listener, name = listening()
    notes = ReadNotes(token="t")
    notes.note(name, "file:///a", 0, 10)
    notes.note(name, "file:///a", 10, 5)  # read on from where the last ended: joined
    notes.note(name, "file:///b", 7, 1)
    notes.note(name, "file:///a", 40, 2)
    connection, _ = listener.accept()
    with listener, connection:
        got = sorted(lines_of(connection, 2), key=lambda line: line["path"])
        assert got == [
            {"path": "file:///a", "noted": [[0, 15], [40, 2]], "token": "t"},
            {"path": "file:///b", "noted": [[7, 1]], "token": "t"},
        ]
        notes.note(name, "file:///a", 15, 3)
        notes.flush()
        assert lines_of(connection, 1) == [{"path": "file:///a", "noted": [[15, 3]], "token": "t"}]


def test_notes_no_worker_takes_are_dropped_and_logged(caplog) -> None:
    notes = ReadNotes()
    gone = f"\0ringcache-test-notes-{uuid.uuid4().hex}"  # nobody listens
    notes.note(gone, "file:///a", 0, 10)
    with caplog.at_level(logging.INFO, logger="ringcache.client.read_notes"):
        notes.flush()
    assert "not delivered" in caplog.text
    listener, name = listening()
    with listener:
        notes.note(name, "file:///b", 0, 1)  # the next worker's still arrive
        notes.flush()
        connection, _ = listener.accept()
        with connection:
            assert lines_of(connection, 1) == [{"path": "file:///b", "noted": [[0, 1]]}]


def test_a_files_scattered_ranges_past_the_most_pending_are_dropped(monkeypatch) -> None:
    monkeypatch.setattr(read_notes, "MOST_RANGES", 3)
    monkeypatch.setattr(read_notes, "NOTE_SECONDS", 0.5)
    listener, name = listening()
    notes = ReadNotes()
    for offset in range(0, 100, 10):  # ten ranges, none following the last
        notes.note(name, "file:///a", offset, 1)
    notes.note(name, "file:///a", 21, 4)  # joins the last one kept
    notes.note(name, "file:///b", 0, 1)  # another file's are kept
    notes.flush()
    connection, _ = listener.accept()
    with listener, connection:
        got = sorted(lines_of(connection, 2), key=lambda line: line["path"])
    assert got == [
        {"path": "file:///a", "noted": [[0, 1], [10, 1], [20, 5]]},
        {"path": "file:///b", "noted": [[0, 1]]},
    ]


def test_the_sending_thread_ends_when_idle_and_the_next_note_starts_another(monkeypatch) -> None:
    monkeypatch.setattr(read_notes, "IDLE_SECONDS", 0.1)
    listener, name = listening()
    notes = ReadNotes()
    with listener:
        notes.note(name, "file:///a", 0, 1)
        first = notes._thread
        connection, _ = listener.accept()
        with connection:
            assert lines_of(connection, 1) == [{"path": "file:///a", "noted": [[0, 1]]}]
            assert first is not None
            first.join(timeout=10)
            assert not first.is_alive() and notes._thread is None
            notes.note(name, "file:///a", 5, 1)  # another thread, the same connection
            assert lines_of(connection, 1) == [{"path": "file:///a", "noted": [[5, 1]]}]


def test_notes_of_many_threads_are_all_sent_and_a_finished_thread_leaves_nothing(
    monkeypatch,
) -> None:
    monkeypatch.setattr(read_notes, "NOTE_SECONDS", 0.5)
    monkeypatch.setattr(read_notes, "MOST_QUEUED", 2)  # a thread's notes past two: dropped
    listener, name = listening()
    notes = ReadNotes()

    def reader(i: int) -> None:
        for offset in range(0, 30, 10):  # three scattered ranges: the third is dropped
            notes.note(name, f"file:///{i}", offset, 1, served=i % 2 == 1)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notes.flush()
    connection, _ = listener.accept()
    with listener, connection:
        got = sorted(lines_of(connection, 4), key=lambda line: line["path"])
    assert got == [
        {"path": f"file:///{i}", "served" if i % 2 else "noted": [[0, 1], [10, 1]]}
        for i in range(4)
    ]
    assert notes._queues == []  # the finished threads' queues went once emptied
