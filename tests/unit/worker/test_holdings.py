"""`Holdings` lists what a worker holds, a page at a time, and frees files of it;
`StaleSweep` drops what a ring gives other workers."""

from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.worker.stale import StaleSweep

from .fakes import PAGE, WORKER_A, WORKER_B, Parts


def _loaded(parts: Parts, run, count: int) -> list[str]:
    uris = [parts.write(f"d{i % 2}/f{i:02d}.bin", os.urandom(PAGE + i)) for i in range(count)]
    run(parts.mounts.refresh())
    assert {a.status for a in run(parts.loads.load_batch(uris))} == {"LOADED"}
    return sorted(uris)


def test_listings_are_sorted_and_paged(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uris = _loaded(parts, run, 7)
    first = run(parts.holdings.list_cached(None, 4))
    rest = run(parts.holdings.list_cached(first[-1]["path"], 4))
    assert [e["path"] for e in first + rest] == uris
    assert first[0]["length"] == first[0]["cachedBytes"] and first[0]["complete"]
    assert run(parts.holdings.list_all_cached()) == first + rest


def test_free_batch_and_free_prefix(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uris = _loaded(parts, run, 6)
    answers = run(parts.holdings.free_batch(["/data/d0/f00.bin", "/data/d0/none.bin"]))
    assert [(r.path, r.status, r.bytes) for r in answers] == [
        (parts.uri("d0/f00.bin"), "FREED", PAGE),
        (parts.uri("d0/none.bin"), "NOT_CACHED", 0),
    ]
    below = [uri for uri in uris if "/d1/" in uri]
    freed = run(parts.holdings.free_prefix(parts.uri("d1")))
    assert freed == sum(PAGE + int(uri[-6:-4]) for uri in below)
    assert [e["path"] for e in run(parts.holdings.list_all_cached())] == [
        parts.uri("d0/f02.bin"),
        parts.uri("d0/f04.bin"),
    ]


def test_the_stale_sweep_drops_what_the_ring_gives_others(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uris = _loaded(parts, run, 20)
    ring = HashRing([WORKER_A, WORKER_B], virtual_nodes=50)
    others = [uri for uri in uris if ring.owners(uri) == [WORKER_B]]
    assert 0 < len(others) < len(uris)
    counters: dict[str, int] = {}
    sweep = StaleSweep(WORKER_A, parts.store, parts.holdings, counters)
    dropped = run(sweep.sweep(ring, 1))
    assert dropped == sum(PAGE + int(uri[-6:-4]) for uri in others)
    assert counters == {"staleBytesDropped": dropped}
    kept = [e["path"] for e in run(parts.holdings.list_all_cached())]
    assert kept == [uri for uri in uris if uri not in others]
    assert run(sweep.sweep(HashRing([WORKER_A, WORKER_B], virtual_nodes=50), 2)) == 0
