"""`CacheClient` over fakes: reads go to the owner's data address, follow ring changes
(read afresh in the background, never while a read waits), fall back to the UFS only
when no worker answers, and pass on errors a worker names."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from ringcache.client import client as client_module
from ringcache.client.client import CacheClient
from ringcache.cluster.errors import UfsNotFound, Unavailable
from ringcache.cluster.ring.hash_ring import HashRing

WORKERS = [f"worker-{uuid.UUID(int=n)}" for n in (1, 2, 3)]


class Control:
    """What the coordinator would say; `workers` may change between refreshes."""

    def __init__(self, ufs_root: Path) -> None:
        self.workers = list(WORKERS)
        self.ufs_root = ufs_root
        self.refreshes = 0

    def ring(self) -> dict[str, Any]:
        self.refreshes += 1
        return {"workers": self.workers, "virtualNodes": 50, "version": self.refreshes}

    def nodes(self) -> list[dict[str, Any]]:
        return [{"id": w, "state": "ONLINE", "dataAddress": f"{w}:1"} for w in self.workers]

    def mounts(self) -> list[dict[str, Any]]:
        return [{"path": "/data", "ufs": f"file://{self.ufs_root}", "options": {}}]


class Data:
    """Data servers that answer from the UFS files, except the addresses marked down."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.asked: list[str] = []
        self.fail_with: Exception | None = None

    def read(self, address: str, uri: str, offset: int, length: int | None) -> bytes:
        self.asked.append(address)
        if address in self.down:
            raise Unavailable(f"{address} is down")
        if self.fail_with is not None:
            raise self.fail_with
        data = Path(uri.removeprefix("file://")).read_bytes()[offset:]
        return data if length is None else data[:length]


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Control, Data, bytes]:
    data = bytes(range(256)) * 10
    (tmp_path / "a.bin").write_bytes(data)
    return Control(tmp_path), Data(), data


def owner_of(control: Control, name: str) -> str:
    uri = f"file://{control.ufs_root}/{name}"
    return HashRing(control.workers, virtual_nodes=50).owners(uri, 1)[0]


def test_a_read_goes_to_the_owners_data_address(parts) -> None:
    control, data, expected = parts
    client = CacheClient(control, data)  # type: ignore[arg-type]
    assert client.read("/data/a.bin", 10, 20) == expected[10:30]
    assert data.asked == [f"{owner_of(control, 'a.bin')}:1"]


def test_a_departed_owner_is_replaced_by_the_new_rings_owner(parts) -> None:
    control, data, expected = parts
    client = CacheClient(control, data, ufs_fallback=False)  # type: ignore[arg-type]
    client.refresh()
    gone = owner_of(control, "a.bin")
    data.down.add(f"{gone}:1")
    control.workers.remove(gone)  # the ring moved on; the client learns it on failure
    assert client.read("/data/a.bin") == expected
    assert data.asked[0] == f"{gone}:1" and data.asked[-1] != f"{gone}:1"


def test_no_worker_answering_falls_back_to_the_ufs_unless_told_not_to(parts) -> None:
    control, data, expected = parts
    data.down = {f"{w}:1" for w in WORKERS}
    assert CacheClient(control, data).read("/data/a.bin", 5, 5) == expected[5:10]  # type: ignore[arg-type]
    strict = CacheClient(control, data, ufs_fallback=False)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        strict.read("/data/a.bin")


def test_an_error_the_worker_names_is_raised_not_papered_over(parts) -> None:
    control, data, _ = parts
    data.fail_with = UfsNotFound("gone from the UFS")
    with pytest.raises(UfsNotFound):
        CacheClient(control, data).read("/data/a.bin")  # type: ignore[arg-type]
    assert len(data.asked) == 1  # not retried elsewhere, not read from the UFS


def read_in_thread(client: CacheClient, path: str) -> tuple[threading.Event, list[bytes]]:
    """Start a read on a thread of its own: set once it returned, and what it returned."""
    done, got = threading.Event(), []

    def read() -> None:
        got.append(client.read(path))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    return done, got


def test_a_read_never_waits_for_the_periodic_refresh_of_the_ring(parts, monkeypatch) -> None:
    control, data, expected = parts
    client = CacheClient(control, data, ufs_fallback=False)  # type: ignore[arg-type]
    assert client.read("/data/a.bin") == expected  # the very first read reads the ring first
    assert control.refreshes == 1
    first = owner_of(control, "a.bin")
    asked, release = threading.Event(), threading.Event()
    read_ring = control.ring

    def slow_ring() -> dict[str, Any]:
        asked.set()
        assert release.wait(10)
        return read_ring()

    monkeypatch.setattr(control, "ring", slow_ring)
    monkeypatch.setattr(client_module, "RING_REFRESH_SECONDS", -1.0)  # every read: past due
    try:
        done, got = read_in_thread(client, "/data/a.bin")
        assert asked.wait(5)  # the refresh began...
        assert done.wait(5), "a read waited for the ring's periodic refresh"
        assert got == [expected] and data.asked[-1] == f"{first}:1"  # ...on the last ring
        control.workers.remove(first)  # the ring the refresh will find
    finally:
        release.set()
    refresher = client._refresher
    assert refresher is not None
    refresher.join(5)
    monkeypatch.setattr(client_module, "RING_REFRESH_SECONDS", 3600.0)
    assert client.read("/data/a.bin") == expected
    assert data.asked[-1] == f"{owner_of(control, 'a.bin')}:1" != f"{first}:1"


def test_a_failed_background_refresh_is_logged_and_reads_go_on(parts, monkeypatch, caplog) -> None:
    control, data, expected = parts
    client = CacheClient(control, data, ufs_fallback=False)  # type: ignore[arg-type]
    assert client.read("/data/a.bin") == expected

    def broken_ring() -> dict[str, Any]:
        raise RuntimeError("the coordinator is restarting")

    monkeypatch.setattr(control, "ring", broken_ring)
    monkeypatch.setattr(client_module, "RING_REFRESH_SECONDS", -1.0)
    with caplog.at_level(logging.WARNING, logger="ringcache.client.client"):
        assert client.read("/data/a.bin") == expected  # the last ring still routes it
        refresher = client._refresher
        assert refresher is not None
        refresher.join(5)
    assert any("the coordinator is restarting" in r.exc_text for r in caplog.records if r.exc_text)
    assert data.asked == [f"{owner_of(control, 'a.bin')}:1"] * 2


def test_a_refresh_that_ends_after_a_later_one_does_not_undo_it(parts, monkeypatch) -> None:
    control, data, expected = parts
    client = CacheClient(control, data, ufs_fallback=False)  # type: ignore[arg-type]
    assert client.read("/data/a.bin") == expected
    first = owner_of(control, "a.bin")
    asked, release = threading.Event(), threading.Event()
    read_ring = control.ring
    old_ring = {**read_ring(), "workers": list(WORKERS)}  # the slow refresh's: the ring before

    def slow_ring() -> dict[str, Any]:
        asked.set()
        assert release.wait(10)
        return old_ring

    monkeypatch.setattr(control, "ring", slow_ring)
    monkeypatch.setattr(client_module, "RING_REFRESH_SECONDS", -1.0)
    done, _ = read_in_thread(client, "/data/a.bin")  # begins a background refresh
    try:
        assert asked.wait(5) and done.wait(5)
        monkeypatch.setattr(client_module, "RING_REFRESH_SECONDS", 3600.0)
        monkeypatch.setattr(control, "ring", read_ring)
        control.workers.remove(first)
        client.refresh()  # begun later, ends first: the ring without `first`
    finally:
        release.set()
    refresher = client._refresher
    assert refresher is not None
    refresher.join(5)
    assert client.owners("/data/a.bin") == [owner_of(control, "a.bin")] != [first]
