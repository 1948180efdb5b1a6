"""Pages taken from a body arriving on a socket (`StreamRange`): moved into the data file
by `splice` (or through a buffer where it is not available), in order, never past the
body's end; a body that ends early leaves no page listed and no wrong byte to read."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringcache.cluster.cache import page_io, pipes
from ringcache.cluster.cache.page_io import ArrivingFile, SocketStream, StreamEnded
from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ufs.filesystem import FileVersion

PAGE = 4096
PATH = "file:///data/a.bin"


@pytest.fixture(params=["splice", "buffer"])
def moved_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with splice (which must still work after it: no silent fallback),
    and with splice unavailable (the buffer's loop)."""
    spliced: list[int] = []
    if request.param == "buffer":
        monkeypatch.setattr(pipes, "splice_works", [False])
    else:
        assert pipes.splice_works[0], "no splice on this system"
        splice = os.splice

        def counted(*args: object, **kwargs: object) -> int:
            spliced.append(1)
            return splice(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(page_io.os, "splice", counted)
    yield request.param
    assert pipes.splice_works[0] == (request.param == "splice")
    assert bool(spliced) == (request.param == "splice")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    here, there = socket.socketpair()
    here.settimeout(5.0)
    yield here, there
    here.close()
    there.close()


def send_later(sock: socket.socket, data: bytes, close: bool) -> threading.Thread:
    """Send `data` from another thread (more than a socket buffer holds), then close."""

    def send() -> None:
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_pages_arriving_hold_the_body_and_what_follows_it_stays(
    tmp_path: Path, moved_by: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    here, there = pair
    data = os.urandom(40 * PAGE + 123)
    # The head's read took the body's first bytes; the next answer follows the body.
    buffered = bytearray(data[:300])
    sender = send_later(there, data[300:] + b"NEXT", close=False)
    stream = SocketStream(here, buffered, len(data))
    arriving = ArrivingFile(stream, 0, len(data))
    store = PageStore(tmp_path / "pages", 1 << 30, page_size=PAGE)
    version = FileVersion(len(data), 1.0, None)
    store.put_pages(PATH, 0, arriving.pages(PAGE), 0.0, version=version, unchanged=arriving.arrived)
    sender.join()
    assert arriving.arrived()
    assert store.read(PATH, 0, None, 1.0) == data
    assert here.recv(16) == b"NEXT"  # never read past the body's end


def test_pages_held_already_are_skipped_in_the_stream(
    tmp_path: Path, moved_by: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    here, there = pair
    data = os.urandom(5 * PAGE + 7)
    store = PageStore(tmp_path / "pages", 1 << 30, page_size=PAGE)
    version = FileVersion(len(data), 1.0, None)
    store.put_page(PATH, 2, data[2 * PAGE : 3 * PAGE], 0.0, version=version)
    sender = send_later(there, data, close=False)
    stream = SocketStream(here, bytearray(), len(data))
    arriving = ArrivingFile(stream, 0, len(data))
    store.put_pages(PATH, 0, arriving.pages(PAGE), 0.0, version=version, unchanged=arriving.arrived)
    sender.join()
    assert store.read(PATH, 0, None, 1.0) == data
    assert stream.position == len(data)


@pytest.mark.parametrize("sent", [0, 100, 3 * PAGE, 3 * PAGE + 100])
def test_a_body_ending_early_leaves_no_page_and_no_wrong_byte(
    tmp_path: Path, moved_by: str, pair: tuple[socket.socket, socket.socket], sent: int
) -> None:
    here, there = pair
    data = os.urandom(6 * PAGE)
    sender = send_later(there, data[:sent], close=True)  # the peer went away mid-body
    stream = SocketStream(here, bytearray(), len(data))
    arriving = ArrivingFile(stream, 0, len(data))
    store = PageStore(tmp_path / "pages", 1 << 30, page_size=PAGE)
    version = FileVersion(len(data), 1.0, None)
    with pytest.raises(StreamEnded):
        store.put_pages(
            PATH, 0, arriving.pages(PAGE), 0.0, version=version, unchanged=arriving.arrived
        )
    sender.join()
    assert stream.failed and not arriving.arrived()
    assert store.stats().used_bytes == 0
    assert store.read(PATH, 0, PAGE, 1.0) is None and store.missing_pages(PATH) == list(range(6))
    with pytest.raises(StreamEnded):  # a failed stream is never read again
        stream.read(1)


def test_a_silent_peer_times_out(
    tmp_path: Path, moved_by: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    here, there = pair
    here.settimeout(0.2)
    there.sendall(b"x" * 100)  # then nothing, the connection left open
    stream = SocketStream(here, bytearray(), PAGE)
    arriving = ArrivingFile(stream, 0, PAGE)
    store = PageStore(tmp_path / "pages", 1 << 30, page_size=PAGE)
    version = FileVersion(PAGE, 1.0, None)
    with pytest.raises(StreamEnded):
        store.put_pages(
            PATH, 0, arriving.pages(PAGE), 0.0, version=version, unchanged=arriving.arrived
        )
    assert store.stats().used_bytes == 0


def test_a_page_whose_file_did_not_all_arrive_is_not_listed(
    tmp_path: Path, moved_by: str, pair: tuple[socket.socket, socket.socket]
) -> None:
    """The peer vouches for a file by its last byte: pages written before it came (here:
    asked for on their own) are not listed."""
    here, there = pair
    data = os.urandom(3 * PAGE)
    sender = send_later(there, data, close=False)
    stream = SocketStream(here, bytearray(), len(data))
    arriving = ArrivingFile(stream, 0, len(data))
    store = PageStore(tmp_path / "pages", 1 << 30, page_size=PAGE)
    version = FileVersion(len(data), 1.0, None)
    first = arriving.pages(PAGE)[:1]
    with pytest.raises(OSError) as changed:
        store.put_pages(PATH, 0, first, 0.0, version=version, unchanged=arriving.arrived)
    assert type(changed.value).__name__ == "SourceChanged"
    assert store.stats().used_bytes == 0
    stream.skip_to(len(data))
    sender.join()
