"""The cluster's holdings: every live worker's sorted cache listing, merged file by file;
with a ring, what a worker owns alone and holds whole is skipped but still counted."""

from __future__ import annotations

import asyncio
import random

import pytest

from ringcache.cluster.errors import Unavailable
from ringcache.cluster.jobs import holdings as holdings_module
from ringcache.cluster.jobs.holdings import holdings


class ListingRef:
    """A worker answering `list_unsettled` as `Worker` does from a fixed listing, with
    `alone` the paths it owns alone (a stand-in for the ring); failing, if `broken`."""

    def __init__(self, entries: list[dict], alone: set[str] = frozenset(), broken=False) -> None:
        self.entries = sorted(entries, key=lambda e: e["path"])
        self.alone = alone
        self.broken = broken
        self.calls = 0
        self.knows_ring = False  # asks for the ring's workers once

    async def call(self, method: str, start_after: str | None, limit: int, ring: dict) -> dict:
        assert method == "list_unsettled" and ring["ring"] == "r1"
        self.calls += 1
        if self.broken:
            raise Unavailable("down")
        if "workers" not in ring and not self.knows_ring:
            return {"unknownRing": True}
        self.knows_ring = True
        files = [e for e in self.entries if start_after is None or e["path"] > start_after]
        files = files[:limit]
        skipped = [e["path"] for e in files if e["path"] in self.alone and e["complete"]]
        entries = [e for e in files if e["path"] not in skipped]
        last = files[-1]["path"] if files else None
        return {"entries": entries, "skipped": skipped, "last": last, "done": len(files) < limit}


class Listings:
    def __init__(self, refs: dict[str, ListingRef]) -> None:
        self.refs = refs

    def worker(self, worker_id: str) -> ListingRef:
        return self.refs[worker_id]


def entry(path: str, length: int = 10, complete: bool = True, etag: str | None = None) -> dict:
    return {"path": path, "length": length, "mtime": 1.0, "etag": etag, "complete": complete}


def ring_spec() -> dict:
    return {"ring": "r1", "virtualNodes": 1, "replicas": 1, "workers": ["w1", "w2"]}


def chunks(peers, workers, start_after=None, lost=None, chunk=1000):
    async def walk():
        return [
            part async for part in holdings(peers, workers, ring_spec, start_after, lost, chunk)
        ]

    return asyncio.run(walk())


def collect(peers, workers, start_after=None, lost=None, chunk=1000):
    found = []
    for part in chunks(peers, workers, start_after, lost, chunk):
        assert 0 < len(part.holdings) <= chunk and part.scanned == len(part.holdings)
        assert part.last == part.holdings[-1].path
        found.extend(part.holdings)
    return found


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(holdings_module, "PAGE", 3)  # many page boundaries in a few files


def test_each_file_comes_once_with_every_worker_holding_it_in_path_order():
    rng = random.Random(7)
    paths = [f"s3://b/f{i:03d}" for i in range(60)]
    held: dict[str, set[str]] = {p: set() for p in paths}
    listings = {}
    for worker in ("w1", "w2", "w3", "w4"):
        mine = rng.sample(paths, 25)
        for p in mine:
            held[p].add(worker)
        listings[worker] = ListingRef([entry(p) for p in mine])
    found = collect(Listings(listings), ["w3", "w1", "w4", "w2"], chunk=7)
    expected = sorted(p for p, who in held.items() if who)
    assert [h.path for h in found] == expected
    for h in found:
        assert h.complete == held[h.path] and not h.partial
        assert (h.size, h.mtime, h.etag) == (10, 1.0, None)


def test_partial_copies_and_other_versions_are_partial_holders():
    listings = {
        "w1": ListingRef([entry("a", complete=False), entry("b", etag="old")]),
        "w2": ListingRef([entry("a"), entry("b", etag="new"), entry("c", complete=False)]),
        "w3": ListingRef([entry("b", etag="new", complete=False)]),
    }
    found = {h.path: h for h in collect(Listings(listings), ["w1", "w2", "w3"])}
    assert (found["a"].complete, found["a"].partial) == ({"w2"}, {"w1"})
    # the first whole copy (by worker id) sets the version: w1's "old"
    assert found["b"].etag == "old"
    assert (found["b"].complete, found["b"].partial) == ({"w1"}, {"w2", "w3"})
    assert (found["c"].complete, found["c"].partial) == (set(), {"w2"})


def test_resumes_after_a_path_and_skips_an_unreachable_worker():
    listings = {
        "w1": ListingRef([entry(f"f{i}") for i in range(0, 20, 2)]),
        "w2": ListingRef([entry(f"f{i}") for i in range(20)], broken=True),
        "w3": ListingRef([entry(f"f{i}") for i in range(1, 20, 2)]),
    }
    found = collect(Listings(listings), ["w1", "w2", "w3"], start_after="f5")
    expected = sorted(f"f{i}" for i in range(20) if f"f{i}" > "f5")
    assert [h.path for h in found] == expected
    assert all(h.holders in ({"w1"}, {"w3"}) for h in found)


def test_files_only_departed_workers_held_come_without_holders():
    listings = {"w1": ListingRef([entry("a"), entry("c")])}
    index = [
        {"path": p, "length": 5, "mtime": None, "etag": None, "workers": workers}
        for p, workers in [("a", ["w1"]), ("b", ["gone"]), ("c", ["gone", "w1"]), ("d", [])]
    ]

    async def lost(after, limit):
        return [e for e in index if after is None or e["path"] > after][:limit]

    found = {h.path: h for h in collect(Listings(listings), ["w1"], lost=lost)}
    assert sorted(found) == ["a", "b", "c"]  # "d" has no holder at all: nothing to restore
    assert found["b"].holders == set() and found["b"].size == 5
    assert found["a"].complete == {"w1"} and found["c"].complete == {"w1"}


def test_nothing_cached_yields_nothing():
    assert collect(Listings({"w1": ListingRef([])}), ["w1"]) == []


def spread(files: int = 40, seed: int = 3):
    """Workers w1..w4 over `files` files: each file's sole owner holds it whole, and some
    files also have a partial or misplaced copy elsewhere."""
    rng = random.Random(seed)
    workers = ["w1", "w2", "w3", "w4"]
    held: dict[str, list[dict]] = {w: [] for w in workers}
    alone: dict[str, set[str]] = {w: set() for w in workers}
    copies: dict[str, set[str]] = {}
    for i in range(files):
        path = f"f{i:03d}"
        owner = rng.choice(workers)
        alone[owner].add(path)
        copies[path] = set()
        if rng.random() < 0.8:
            held[owner].append(entry(path))
            copies[path].add(owner)
        if rng.random() < 0.3:
            other = rng.choice([w for w in workers if w != owner])
            held[other].append(entry(path, complete=rng.random() < 0.5))
            copies[path].add(other)
    refs = {w: ListingRef(held[w], alone[w]) for w in workers}
    return Listings(refs), workers, copies, alone


def test_with_a_ring_only_files_held_elsewhere_than_alone_by_their_owner_make_holdings():
    peers, workers, copies, alone = spread()
    parts = chunks(peers, workers, chunk=5)
    found = {h.path: h for part in parts for h in part.holdings}
    owner_of = {p: w for w, paths in alone.items() for p in paths}
    unsettled = {p for p, who in copies.items() if who and who != {owner_of[p]}}
    assert set(found) == unsettled and unsettled
    for path, holding in found.items():
        assert holding.holders == copies[path]
        # the owner's skipped whole copy is back among the whole holders
        assert (owner_of[path] in holding.complete) == (owner_of[path] in copies[path])
    assert sum(part.scanned for part in parts) == sum(1 for who in copies.values() if who)
    lasts = [part.last for part in parts]
    assert lasts == sorted(lasts) and len(set(lasts)) == len(lasts)


def test_with_a_ring_the_counts_add_up_when_the_walk_resumes_after_any_chunk():
    peers, workers, copies, _ = spread(files=60, seed=11)
    parts = chunks(peers, workers, chunk=4)
    total = sum(1 for who in copies.values() if who)
    assert sum(part.scanned for part in parts) == total and len(parts) > 3
    done = 0
    for part in parts[:-1]:
        done += part.scanned
        rest = chunks(peers, workers, start_after=part.last, chunk=4)
        assert sum(p.scanned for p in rest) == total - done, part.last


def test_with_a_ring_a_worker_lists_no_further_than_the_merge_needs():
    # w1 owns alone and holds whole 300 files; w2 holds one misplaced file, first in order.
    settled = [entry(f"f{i:03d}") for i in range(1, 301)]
    refs = {
        "w1": ListingRef(settled, {e["path"] for e in settled}),
        "w2": ListingRef([entry("f000")]),
    }

    async def first_chunk():
        walk = holdings(Listings(refs), ["w1", "w2"], ring_spec, chunk=1)
        part = await anext(walk)
        calls = refs["w1"].calls
        await walk.aclose()
        return part, calls

    part, calls = asyncio.run(first_chunk())
    assert [h.path for h in part.holdings] == ["f000"] and part.scanned == 1
    assert calls == 2  # one page of w1's listing (asked again with the ring's workers)
