"""What only the SQLite backend promises: its file, its rollback, its key ranges."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.registry import SqliteBackend, open_registry
from ringcache.cluster.registry.sqlite_backend import prefix_end


def test_prefix_end_handles_unicode_edges():
    assert prefix_end("a/") == "a0"
    assert prefix_end("") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


def test_a_failed_transaction_rolls_back_every_key_and_the_revision(tmp_path):
    backend = SqliteBackend(tmp_path / "registry.sqlite")
    assert backend.put_many([("a", "1"), ("b", "2"), ("c", "3")]) == 3
    with pytest.raises(sqlite3.IntegrityError):
        backend.put_many([("d", "4"), ("e", None)])
    assert backend.get("d") is None
    assert backend.revision() == 3
    assert backend.put("d", "4") == 4
    backend.close()


def test_reopening_the_file_keeps_everything(tmp_path):
    clock = ManualClock()

    async def write():
        reg = open_registry(tmp_path / "state", clock)
        await reg.put("a", "1")
        await reg.put_many([("b", "2"), ("c", "3")])
        short, long = await reg.lease_grant(5), await reg.lease_grant(100)
        await reg.put("w/short", "s", lease=short)
        await reg.put("w/long", "l", lease=long)
        reg.close()
        return short, long

    async def reopen(short, long):
        clock.advance(10)  # the short lease lapses while the registry is down
        reg = open_registry(tmp_path / "state", clock)
        assert reg.backend.revision() == 5
        assert [(kv.key, kv.value) for kv in await reg.range("")] == [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("w/long", "l"),
        ]
        assert await reg.lease_time_to_live(short) is None
        assert await reg.lease_time_to_live(long) == pytest.approx(90)
        assert await reg.revision() == 6  # the lapse deleted w/short
        assert await reg.put("d", "4") == 7
        assert await reg.lease_grant(1) not in (short, long)
        events, _ = await reg.watch("", 1, 0)
        assert [e.kv.mod_revision for e in events] == list(range(1, 8))

    asyncio.run(reopen(*asyncio.run(write())))
