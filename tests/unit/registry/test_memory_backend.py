"""MemoryBackend against SqliteBackend: the same calls must give the same answers."""

from __future__ import annotations

import asyncio
import random

import pytest

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound, RingcacheError
from ringcache.cluster.registry import KeyValue, Registry, SqliteBackend, memory_backend
from ringcache.cluster.registry.memory_backend import MemoryBackend

KEYS = ["/a", "/a/x", "/a/y", "/ab", "/b", "/b/z", "a", "", "/a\U0010ffff", "/é"]
PREFIXES = ["", "/", "/a", "/a/", "/b", "a", "/é", "/z"]


def _outcome(call, args):
    """A call's answer, or its error's type, message and details (to compare errors too)."""
    try:
        return ("ok", call(*args))
    except RingcacheError as exc:
        return ("error", type(exc).__name__, exc.message, exc.details)


def _random_call(rng: random.Random, now: float, leases: list[int]):
    key = rng.choice(KEYS[:-1] + ["/k" + str(rng.randrange(30))])
    prefix = rng.choice(PREFIXES)
    lease = rng.choice([0, *leases[-3:], 999]) if rng.random() < 0.5 else 0
    prev = rng.choice([None] * 6 + [0, rng.randrange(1, 40)])
    choices = [
        ("put", (key, f"v{rng.randrange(100)}", lease, prev)),
        ("put_many", ([(rng.choice(KEYS[:-1]), "m"), ("/k" + str(rng.randrange(30)), "n")],)),
        ("delete", (key, prev)),
        ("delete_prefix", (prefix,)),
        ("grant", (float(rng.choice([1, 2, 5])), now)),
        ("grant", (3.0, now, rng.choice([0, *leases, 50 + rng.randrange(5)]))),
        ("refresh", (rng.choice([*leases, 999]), now)),
        ("revoke", (rng.choice([*leases, 999]),)),
        ("expired_leases", (now,)),
        ("lease", (rng.choice([*leases, 999]),)),
        ("get", (key,)),
        ("range", (prefix, rng.choice([None, "/a", "/a/x", "/b"]), rng.choice([None, 0, 1, 3]))),
        ("events_since", (prefix, rng.randrange(-2, 60), rng.choice([1, 5, 100]))),
        ("revision", ()),
        ("compact_revision", ()),
        ("compact", (rng.randrange(0, 30),)),
    ]
    return rng.choice(choices)


@pytest.mark.parametrize("seed", range(12))
def test_random_operations_match_sqlite(seed):
    _match_sqlite(seed)


@pytest.mark.parametrize("seed", range(4))
def test_prefixes_past_the_indexed_ones_are_walked_with_the_same_answers(seed, monkeypatch):
    # Only the first three prefixes asked get an index of their events: the rest are
    # walked, and both ways answer as SQLite does.
    monkeypatch.setattr(memory_backend, "WATCHED_PREFIXES", 3)
    memory = _match_sqlite(seed)
    assert len(memory._watched) == 3


def _match_sqlite(seed: int) -> MemoryBackend:
    rng = random.Random(seed)
    history = rng.choice([1, 5, 20, 100_000])
    sqlite, memory = SqliteBackend(":memory:", history=history), MemoryBackend(history=history)
    now, leases = 1000.0, []
    for step in range(600):
        now += rng.choice([0.0, 0.0, 0.5, 1.0, 2.5])
        method, args = _random_call(rng, now, leases)
        expected = _outcome(getattr(sqlite, method), args)
        actual = _outcome(getattr(memory, method), args)
        assert actual == expected, f"seed {seed} step {step}: {method}{args}"
        if method == "grant" and expected[0] == "ok":
            leases.append(expected[1])
    full = [(p, memory.range(p)) for p in PREFIXES]
    assert full == [(p, sqlite.range(p)) for p in PREFIXES]
    sqlite.close()
    return memory


def test_expired_leases_are_oldest_first_and_reading_does_not_consume():
    backend = MemoryBackend()
    late = backend.grant(5.0, now=100.0)
    early = backend.grant(1.0, now=100.0)
    backend.refresh(late, now=101.0)  # leaves a stale heap entry at 105 behind
    assert backend.expired_leases(104.0) == [early]
    assert backend.expired_leases(104.0) == [early]
    assert backend.expired_leases(106.5) == [early, late]
    backend.revoke(early)
    assert backend.expired_leases(106.5) == [late]


def test_lease_keys_follow_puts_that_detach_or_move_them():
    backend = MemoryBackend()
    first, second = backend.grant(10.0, 0.0), backend.grant(10.0, 0.0)
    backend.put("/live/a", "x", lease=first)
    backend.put("/live/b", "x", lease=first)
    backend.put("/live/b", "y", lease=second)  # moves b to the second lease
    backend.put("/live/a", "z")  # lease 0 detaches a
    backend.put("/live/0", "x", lease=second)  # sorts before b though written after it
    assert backend.revoke(first) == []
    assert backend.revoke(second) == [("/live/0", 6), ("/live/b", 7)]  # key order, as etcd
    assert backend.get("/live/a") == KeyValue("/live/a", "z", 1, 4, 2, 0)


def test_bad_history_and_missing_leases_raise_like_sqlite():
    with pytest.raises(InvalidArgument):
        MemoryBackend(history=0)
    backend = MemoryBackend()
    with pytest.raises(NotFound):
        backend.put("/k", "v", lease=7)
    backend.grant(1.0, 0.0, lease_id=7)
    with pytest.raises(Conflict):
        backend.grant(1.0, 0.0, lease_id=7)
    assert backend.revision() == 0


def test_the_registry_runs_on_it():
    async def scenario():
        clock = ManualClock()
        registry = Registry(MemoryBackend(), clock)
        lease = await registry.lease_grant(2.0)
        await registry.put("/live/w", "h", lease=lease)
        events, next_revision = await registry.watch("/live/", 1, 0)
        assert [e.type for e in events] == ["PUT"] and next_revision == 2
        clock.advance(3.0)
        assert await registry.get("/live/w") is None  # the lapsed lease took its key
        events, _ = await registry.watch("/live/", next_revision, 0)
        assert [(e.type, e.kv.key) for e in events] == [("DELETE", "/live/w")]

    asyncio.run(scenario())
