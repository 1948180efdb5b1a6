"""Unit tests of the registry service over a real SQLite file, with a manual clock."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3

import pytest

from ringcache.cluster.clock import ManualClock, RealClock
from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.registry import (
    Compacted,
    KeyValue,
    Registry,
    SqliteBackend,
    WatchEvent,
    open_registry,
)
from ringcache.cluster.registry.sqlite_backend import prefix_end


def make(tmp_path, clock=None, **backend_options) -> Registry:
    backend = SqliteBackend(tmp_path / "registry.sqlite", **backend_options)
    return Registry(backend, clock or ManualClock())


class ParkedClock:
    """A clock whose sleeps never end: a watch can only return by being woken."""

    def now(self) -> float:
        return 1000.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def test_revisions_are_global_and_track_create_mod_version(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        assert await reg.revision() == 0
        assert await reg.put("a", "1") == 1
        assert await reg.put("b", "1") == 2
        assert await reg.put("a", "2") == 3
        assert await reg.get("a") == KeyValue("a", "2", 1, 3, 2, 0)
        assert await reg.get("b") == KeyValue("b", "1", 2, 2, 1, 0)
        assert await reg.get("missing") is None
        assert await reg.delete("a")
        assert await reg.put("a", "3") == 5  # a re-created key starts a new life
        assert await reg.get("a") == KeyValue("a", "3", 5, 5, 1, 0)
        assert await reg.revision() == 5

    asyncio.run(scenario())


def test_range_by_prefix_start_after_and_limit(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        await reg.put_many([(k, k.upper()) for k in ["w/c", "w/a", "w0", "w/b", "x/a", "w"]])
        assert [kv.key for kv in await reg.range("w/")] == ["w/a", "w/b", "w/c"]
        assert [kv.key for kv in await reg.range("w/", start_after="w/a")] == ["w/b", "w/c"]
        assert [kv.key for kv in await reg.range("w/", limit=2)] == ["w/a", "w/b"]
        page = await reg.range("w/", start_after="w/b", limit=5)
        assert [(kv.key, kv.value) for kv in page] == [("w/c", "W/C")]
        assert [kv.key for kv in await reg.range("")] == ["w", "w/a", "w/b", "w/c", "w0", "x/a"]
        assert await reg.range("y/") == []

    asyncio.run(scenario())


def test_prefix_end_handles_unicode_edges():
    assert prefix_end("a/") == "a0"
    assert prefix_end("") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


def test_delete_and_delete_prefix(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        await reg.put_many([("j/1", "x"), ("j/2", "y"), ("j/3", "z"), ("k/1", "w")])
        assert await reg.delete("j/1") is True
        assert await reg.delete("j/1") is False
        assert await reg.revision() == 5
        assert await reg.delete_prefix("j/") == 2
        assert await reg.revision() == 7  # one revision per deleted key
        assert await reg.range("j/") == []
        assert [kv.key for kv in await reg.range("")] == ["k/1"]
        assert await reg.delete_prefix("nothing/") == 0
        with pytest.raises(InvalidArgument):
            await reg.delete_prefix("")

    asyncio.run(scenario())


def test_compare_and_swap(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        created = await reg.put("lock", "me", prev_revision=0)
        with pytest.raises(Conflict) as caught:
            await reg.put("lock", "you", prev_revision=0)
        assert caught.value.details["mod_revision"] == created
        assert caught.value.status_code == 409
        updated = await reg.put("lock", "me2", prev_revision=created)
        with pytest.raises(Conflict):
            await reg.put("lock", "stale", prev_revision=created)
        with pytest.raises(Conflict) as caught:
            await reg.delete("lock", prev_revision=created)
        assert caught.value.details["mod_revision"] == updated
        assert (await reg.get("lock")).value == "me2"
        assert await reg.delete("lock", prev_revision=updated) is True
        with pytest.raises(Conflict) as caught:
            await reg.put("lock", "x", prev_revision=updated)
        assert caught.value.details["mod_revision"] == 0

    asyncio.run(scenario())


def test_put_many_is_one_atomic_transaction(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        assert await reg.put_many([("a", "1"), ("b", "2"), ("c", "3")]) == 3
        assert await reg.put_many([]) == 3
        with pytest.raises(InvalidArgument):
            await reg.put_many([("d", "4"), ("e", None)])
        assert await reg.get("d") is None

    asyncio.run(scenario())
    # A failure inside the transaction rolls back every key and the revision.
    backend = SqliteBackend(tmp_path / "registry.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        backend.put_many([("d", "4"), ("e", None)])
    assert backend.get("d") is None
    assert backend.revision() == 3
    assert backend.put("d", "4") == 4


def test_invalid_arguments(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        for bad in [
            lambda: reg.put("", "v"),
            lambda: reg.put("k", 1),
            lambda: reg.put("\ud800", "v"),
        ]:
            with pytest.raises(InvalidArgument):
                await bad()
        with pytest.raises(InvalidArgument):
            await reg.lease_grant(0)
        with pytest.raises(InvalidArgument):
            await reg.watch("", 1, -1)
        with pytest.raises(NotFound):
            await reg.put("k", "v", lease=12345)
        assert await reg.revision() == 0

    asyncio.run(scenario())


def test_lease_keepalive_extends_and_lapse_deletes_keys(tmp_path):
    async def scenario():
        clock = ManualClock()
        reg = make(tmp_path, clock)
        lease = await reg.lease_grant(10)
        await reg.put("workers/w1", "addr", lease=lease)
        await reg.put("config", "kept")
        clock.advance(8)
        assert await reg.lease_keepalive(lease) == 10
        clock.advance(8)
        assert (await reg.get("workers/w1")).lease == lease
        assert await reg.lease_time_to_live(lease) == pytest.approx(2)
        before = await reg.revision()
        clock.advance(2)
        assert await reg.get("workers/w1") is None
        assert await reg.lease_time_to_live(lease) is None
        with pytest.raises(NotFound):
            await reg.lease_keepalive(lease)
        with pytest.raises(NotFound):
            await reg.put("workers/w1", "again", lease=lease)
        events, _ = await reg.watch("workers/", before + 1, 0)
        assert events == [WatchEvent("DELETE", KeyValue("workers/w1", "", 0, before + 1, 0, 0))]
        assert (await reg.get("config")).value == "kept"
        assert await reg.lease_grant(5) != lease  # lease ids are never reused

    asyncio.run(scenario())


def test_lease_revoke_deletes_keys_with_events(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        lease = await reg.lease_grant(30)
        await reg.put("w/a", "1", lease=lease)
        await reg.put("w/b", "2", lease=lease)
        await reg.put("w/c", "3")
        await reg.put("w/b", "2'")  # a put without the lease detaches the key from it
        start = await reg.revision() + 1
        await reg.lease_revoke(lease)
        events, next_revision = await reg.watch("w/", start, 0)
        assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [("DELETE", "w/a", start)]
        assert next_revision == start + 1
        assert [kv.key for kv in await reg.range("w/")] == ["w/b", "w/c"]
        with pytest.raises(NotFound):
            await reg.lease_revoke(lease)
        with pytest.raises(NotFound):
            await reg.lease_keepalive(lease)

    asyncio.run(scenario())


def test_run_loop_expires_leases_without_other_calls(tmp_path):
    async def scenario():
        clock = ManualClock()
        reg = Registry(SqliteBackend(tmp_path / "r.sqlite"), clock, sweep_interval=0.5)
        lease = await reg.lease_grant(2)
        await reg.put("w/1", "x", lease=lease)
        sweeper = asyncio.create_task(reg.run())
        started = clock.now()
        for _ in range(1000):  # each sweep sleeps 0.5 s on the manual clock
            if reg.backend.get("w/1") is None:
                break
            await asyncio.sleep(0)
        assert reg.backend.get("w/1") is None
        assert clock.now() - started >= 2
        assert reg.backend.lease(lease) is None
        reg.stop()
        await asyncio.wait_for(sweeper, 1)

    asyncio.run(scenario())


def test_watch_returns_events_from_a_revision(tmp_path):
    async def scenario():
        reg = make(tmp_path)
        await reg.put("jobs/1", "a")  # 1
        await reg.put("mounts/x", "m")  # 2
        await reg.put("jobs/2", "b")  # 3
        await reg.put("jobs/1", "c")  # 4
        await reg.delete("jobs/2")  # 5
        events, next_revision = await reg.watch("jobs/", 3, 5)
        assert [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in events] == [
            ("PUT", "jobs/2", "b", 3),
            ("PUT", "jobs/1", "c", 4),
            ("DELETE", "jobs/2", "", 5),
        ]
        assert events[1].kv == KeyValue("jobs/1", "c", 1, 4, 2, 0)
        assert next_revision == 6
        everything, _ = await reg.watch("", 1, 0)
        assert [e.kv.mod_revision for e in everything] == [1, 2, 3, 4, 5]

    asyncio.run(scenario())


def test_watch_batches_are_bounded(tmp_path):
    async def scenario():
        reg = Registry(SqliteBackend(tmp_path / "r.sqlite"), ManualClock(), watch_batch=3)
        await reg.put_many([(f"k/{i}", str(i)) for i in range(7)])
        seen, start = [], 1
        while start <= 7:
            events, start = await reg.watch("k/", start, 0)
            assert 0 < len(events) <= 3
            seen += [e.kv.key for e in events]
        assert seen == [f"k/{i}" for i in range(7)]

    asyncio.run(scenario())


def test_watch_times_out_empty_on_the_clock(tmp_path):
    async def scenario():
        clock = ManualClock()
        reg = make(tmp_path, clock)
        await reg.put("other", "x")
        started = clock.now()
        assert await reg.watch("jobs/", 1, 5) == ([], 2)
        assert clock.now() - started >= 5
        assert await reg.watch("jobs/", 0, 0) == ([], 2)  # 0: from now on

    asyncio.run(scenario())


def test_long_poll_is_woken_by_a_matching_write(tmp_path):
    async def scenario():
        reg = make(tmp_path, ParkedClock())
        watcher = asyncio.create_task(reg.watch("jobs/", 1, 60))
        await asyncio.sleep(0.01)
        await reg.put("mounts/a", "m")  # another prefix must not wake the watcher
        await asyncio.sleep(0.01)
        assert not watcher.done()
        await reg.put("jobs/1", "j")
        events, next_revision = await asyncio.wait_for(watcher, 5)
        assert [(e.kv.key, e.kv.mod_revision) for e in events] == [("jobs/1", 2)]
        assert next_revision == 3

    asyncio.run(scenario())


def test_many_concurrent_watchers(tmp_path):
    async def scenario():
        reg = make(tmp_path, RealClock())
        watchers = [asyncio.create_task(reg.watch(f"w/{i}/", 1, 30)) for i in range(200)]
        await asyncio.sleep(0.01)
        await reg.put_many([(f"w/{i}/key", str(i)) for i in range(200)])
        results = await asyncio.wait_for(asyncio.gather(*watchers), 10)
        for i, (events, next_revision) in enumerate(results):
            assert [(e.kv.key, e.kv.value) for e in events] == [(f"w/{i}/key", str(i))]
            assert next_revision == 201

    asyncio.run(scenario())


def test_watch_from_compacted_history_raises(tmp_path):
    async def scenario():
        reg = make(tmp_path, history=5)
        for i in range(20):
            await reg.put(f"k/{i}", "v")
        compacted = reg.backend.compact_revision()
        assert 0 < compacted <= 15
        with pytest.raises(Compacted) as caught:
            await reg.watch("k/", 1, 0)
        assert caught.value.status_code == 410
        assert caught.value.details["compact_revision"] == compacted
        events, next_revision = await reg.watch("k/", 16, 0)
        assert [e.kv.mod_revision for e in events] == [16, 17, 18, 19, 20]
        assert next_revision == 21
        assert reg.backend.compact(2) == 18
        with pytest.raises(Compacted):
            await reg.watch("k/", 18, 0)

    asyncio.run(scenario())


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


def test_models_survive_pickling():
    kv = KeyValue("k", "v", 1, 2, 3, 4)
    event = WatchEvent("DELETE", kv)
    assert pickle.loads(pickle.dumps(event)) == event
    error = pickle.loads(pickle.dumps(Compacted("gone", compact_revision=7)))
    assert isinstance(error, Compacted)
    assert error.details == {"compact_revision": 7}
