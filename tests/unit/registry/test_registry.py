"""The registry's contract: every test here runs against memory, SQLite and etcd.

Revisions are asserted relative to the store's revision at the start (etcd's keep
counting across tests). A multi-key write is asserted to take between one shared
revision (etcd's rule) and one revision per key (SQLite and memory); see `backend`.
Lease time is the registry's clock for memory and SQLite and etcd's own clock for
etcd, which `store.pass_time` and `store.until` hide.
"""

from __future__ import annotations

import asyncio
import pickle

import pytest

from ringcache.cluster.clock import ManualClock, RealClock
from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.registry import Compacted, KeyValue, WatchEvent


class ParkedClock:
    """A clock whose sleeps never end: a watch can only return by being woken."""

    def now(self) -> float:
        return 1000.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def test_revisions_are_global_and_track_create_mod_version(store):
    async def scenario():
        reg = store.make()
        b = await reg.revision()
        assert await reg.put("a", "1") == b + 1
        assert await reg.put("b", "1") == b + 2
        assert await reg.put("a", "2") == b + 3
        assert await reg.get("a") == KeyValue("a", "2", b + 1, b + 3, 2, 0)
        assert await reg.get("b") == KeyValue("b", "1", b + 2, b + 2, 1, 0)
        assert await reg.get("missing") is None
        assert await reg.delete("a")
        assert await reg.put("a", "3") == b + 5  # a re-created key starts a new life
        assert await reg.get("a") == KeyValue("a", "3", b + 5, b + 5, 1, 0)
        assert await reg.revision() == b + 5

    asyncio.run(scenario())


def test_range_by_prefix_start_after_and_limit(store):
    async def scenario():
        reg = store.make()
        await reg.put_many([(k, k.upper()) for k in ["w/c", "w/a", "w0", "w/b", "x/a", "w"]])
        assert [kv.key for kv in await reg.range("w/")] == ["w/a", "w/b", "w/c"]
        assert [kv.key for kv in await reg.range("w/", start_after="w/a")] == ["w/b", "w/c"]
        assert [kv.key for kv in await reg.range("w/", limit=2)] == ["w/a", "w/b"]
        assert await reg.range("w/", limit=0) == []
        page = await reg.range("w/", start_after="w/b", limit=5)
        assert [(kv.key, kv.value) for kv in page] == [("w/c", "W/C")]
        assert [kv.key for kv in await reg.range("")] == ["w", "w/a", "w/b", "w/c", "w0", "x/a"]
        assert await reg.range("y/") == []
        assert await reg.range("w/", start_after="w/z") == []

    asyncio.run(scenario())


def test_delete_and_delete_prefix(store):
    async def scenario():
        reg = store.make()
        await reg.put_many([("j/1", "x"), ("j/2", "y"), ("j/3", "z"), ("k/1", "w")])
        r = await reg.revision()
        assert await reg.delete("j/1") is True
        assert await reg.delete("j/1") is False
        assert await reg.revision() == r + 1
        assert await reg.delete_prefix("j/") == 2
        # one atomic delete: one shared revision (etcd) or one per key (SQLite, memory)
        assert r + 2 <= await reg.revision() <= r + 3
        assert await reg.range("j/") == []
        assert [kv.key for kv in await reg.range("")] == ["k/1"]
        assert await reg.delete_prefix("nothing/") == 0
        with pytest.raises(InvalidArgument):
            await reg.delete_prefix("")

    asyncio.run(scenario())


def test_compare_and_swap(store):
    async def scenario():
        reg = store.make()
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
        assert await reg.delete("lock", prev_revision=0) is False

    asyncio.run(scenario())


def test_put_many_is_one_atomic_transaction(store):
    async def scenario():
        reg = store.make()
        b = await reg.revision()
        last = await reg.put_many([("a", "1"), ("b", "2"), ("c", "3")])
        assert b + 1 <= last <= b + 3
        assert await reg.put_many([]) == last
        kvs = await reg.range("")
        assert [kv.value for kv in kvs] == ["1", "2", "3"]
        assert all(b < kv.mod_revision <= last for kv in kvs)
        with pytest.raises(InvalidArgument):
            await reg.put_many([("d", "4"), ("e", None)])
        assert await reg.get("d") is None
        assert await reg.revision() == last

    asyncio.run(scenario())


def test_invalid_arguments(store):
    async def scenario():
        reg = store.make()
        b = await reg.revision()
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
        assert await reg.revision() == b

    asyncio.run(scenario())


def test_lease_keepalive_extends_and_lapse_deletes_keys(store):
    # etcd's lease time is real (whole seconds); memory and SQLite follow a manual clock.
    ttl, step = (2, 1.2) if store.etcd else (10, 8)

    async def scenario():
        clock = RealClock() if store.etcd else ManualClock()
        reg = store.make(clock)
        lease = await reg.lease_grant(ttl)
        await reg.put("workers/w1", "addr", lease=lease)
        await reg.put("config", "kept")
        await store.pass_time(clock, step)
        assert await reg.lease_keepalive(lease) == ttl
        await store.pass_time(clock, step)  # past the first ttl, within the renewed one
        assert (await reg.get("workers/w1")).lease == lease
        assert 0 <= await reg.lease_time_to_live(lease) <= ttl - step + 0.01
        before = await reg.revision()
        await store.pass_time(clock, ttl - step)
        await store.until(lambda: _absent(reg, "workers/w1"))
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


async def _absent(reg, key):
    return await reg.get(key) is None


def test_lease_revoke_deletes_keys_with_events(store):
    async def scenario():
        reg = store.make()
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


def test_lapsed_leases_expire_without_other_calls(store):
    async def scenario():
        clock = RealClock() if store.etcd else ManualClock()
        reg = store.make(clock, sweep_interval=0.5)
        lease = await reg.lease_grant(1 if store.etcd else 2)
        await reg.put("w/1", "x", lease=lease)
        sweeper = asyncio.create_task(reg.run())
        started = clock.now()
        for _ in range(1000):  # manual clock: each sweep sleeps 0.5 s; etcd: real time
            if reg.backend.get("w/1") is None:
                break
            await asyncio.sleep(0.01 if store.etcd else 0)
        assert reg.backend.get("w/1") is None
        assert clock.now() - started >= (1 if store.etcd else 2)
        assert reg.backend.lease(lease) is None
        reg.stop()
        await asyncio.wait_for(sweeper, 1)

    asyncio.run(scenario())


def test_watch_returns_events_from_a_revision(store):
    async def scenario():
        reg = store.make()
        b = await reg.revision()
        await reg.put("jobs/1", "a")  # b + 1
        await reg.put("mounts/x", "m")  # b + 2
        await reg.put("jobs/2", "b")  # b + 3
        await reg.put("jobs/1", "c")  # b + 4
        await reg.delete("jobs/2")  # b + 5
        events, next_revision = await reg.watch("jobs/", b + 3, 5)
        assert [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in events] == [
            ("PUT", "jobs/2", "b", b + 3),
            ("PUT", "jobs/1", "c", b + 4),
            ("DELETE", "jobs/2", "", b + 5),
        ]
        assert events[1].kv == KeyValue("jobs/1", "c", b + 1, b + 4, 2, 0)
        assert next_revision == b + 6
        everything, _ = await reg.watch("", b + 1, 0)
        assert [e.kv.mod_revision for e in everything] == [b + i for i in range(1, 6)]

    asyncio.run(scenario())


def test_watch_batches_are_bounded_and_keep_revisions_whole(store):
    async def scenario():
        reg = store.make(watch_batch=3)
        b = await reg.revision()
        for i in range(7):
            await reg.put(f"k/{i}", str(i))
        await reg.put_many([(f"k/m{i}", "m") for i in range(4)])  # one transaction
        seen, start, head = [], b + 1, await reg.revision()
        while start <= head:
            events, start = await reg.watch("k/", start, 0)
            assert events
            # Past the batch only to finish the revision the batch ends in.
            assert all(e.kv.mod_revision == events[2].kv.mod_revision for e in events[3:])
            seen += [e.kv.key for e in events]
        assert seen == [f"k/{i}" for i in range(7)] + [f"k/m{i}" for i in range(4)]

    asyncio.run(scenario())


def test_watch_times_out_empty_on_the_clock(store):
    timeout = 0.3 if store.etcd else 5

    async def scenario():
        clock = RealClock() if store.etcd else ManualClock()
        reg = store.make(clock)
        b = await reg.revision()
        await reg.put("other", "x")
        started = clock.now()
        assert await reg.watch("jobs/", b + 1, timeout) == ([], b + 2)
        assert clock.now() - started >= timeout
        assert await reg.watch("jobs/", 0, 0) == ([], b + 2)  # 0: from now on

    asyncio.run(scenario())


def test_long_poll_is_woken_by_a_matching_write(store):
    async def scenario():
        reg = store.make(ParkedClock())
        b = await reg.revision()
        watcher = asyncio.create_task(reg.watch("jobs/", b + 1, 60))
        await asyncio.sleep(0.05)
        await reg.put("mounts/a", "m")  # another prefix must not wake the watcher
        await asyncio.sleep(0.05)
        assert not watcher.done()
        await reg.put("jobs/1", "j")
        events, next_revision = await asyncio.wait_for(watcher, 5)
        assert [(e.kv.key, e.kv.mod_revision) for e in events] == [("jobs/1", b + 2)]
        assert next_revision == b + 3

    asyncio.run(scenario())


def test_many_concurrent_watchers(store):
    async def scenario():
        reg = store.make(RealClock())
        b = await reg.revision()
        watchers = [asyncio.create_task(reg.watch(f"w/{i}/", b + 1, 30)) for i in range(200)]
        await asyncio.sleep(0.05)
        await reg.put_many([(f"w/{i}/key", str(i)) for i in range(200)])
        results = await asyncio.wait_for(asyncio.gather(*watchers), 20)
        head = await reg.revision()
        for i, (events, next_revision) in enumerate(results):
            assert [(e.kv.key, e.kv.value) for e in events] == [(f"w/{i}/key", str(i))]
            assert next_revision == head + 1

    asyncio.run(scenario())


def test_watch_from_compacted_history_raises(store):
    async def scenario():
        reg = store.make(history=5)
        b = await reg.revision()
        for i in range(20):
            await reg.put(f"k/{i}", "v")
        compacted = reg.backend.compact_revision()
        assert b < compacted <= b + 15
        with pytest.raises(Compacted) as caught:
            await reg.watch("k/", b + 1, 0)
        assert caught.value.status_code == 410
        assert caught.value.details["compact_revision"] == compacted
        events, next_revision = await reg.watch("k/", b + 16, 0)
        assert [e.kv.mod_revision for e in events] == [b + i for i in range(16, 21)]
        assert next_revision == b + 21
        assert reg.backend.compact(2) == b + 18
        with pytest.raises(Compacted):
            await reg.watch("k/", b + 18, 0)

    asyncio.run(scenario())


def test_models_survive_pickling():
    kv = KeyValue("k", "v", 1, 2, 3, 4)
    event = WatchEvent("DELETE", kv)
    assert pickle.loads(pickle.dumps(event)) == event
    error = pickle.loads(pickle.dumps(Compacted("gone", compact_revision=7)))
    assert isinstance(error, Compacted)
    assert error.details == {"compact_revision": 7}
