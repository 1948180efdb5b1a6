"""The cluster's holdings: every live worker's sorted cache listing, merged file by file."""

from __future__ import annotations

import asyncio
import random

import pytest

from ringcache.cluster.errors import Unavailable
from ringcache.cluster.jobs import holdings as holdings_module
from ringcache.cluster.jobs.holdings import holdings


class ListingRef:
    """A worker answering `list_cached` from a fixed listing (or failing, if `broken`)."""

    def __init__(self, entries: list[dict], broken: bool = False) -> None:
        self.entries = sorted(entries, key=lambda e: e["path"])
        self.broken = broken
        self.calls = 0

    async def call(self, method: str, start_after: str | None, limit: int) -> list[dict]:
        assert method == "list_cached"
        self.calls += 1
        if self.broken:
            raise Unavailable("down")
        return [e for e in self.entries if start_after is None or e["path"] > start_after][:limit]


class Listings:
    def __init__(self, refs: dict[str, ListingRef]) -> None:
        self.refs = refs

    def worker(self, worker_id: str) -> ListingRef:
        return self.refs[worker_id]


def entry(path: str, length: int = 10, complete: bool = True, etag: str | None = None) -> dict:
    return {"path": path, "length": length, "mtime": 1.0, "etag": etag, "complete": complete}


def collect(peers, workers, start_after=None, lost=None, chunk=1000):
    async def walk():
        found = []
        async for part in holdings(peers, workers, start_after, lost, chunk=chunk):
            assert 0 < len(part) <= chunk
            found.extend(part)
        return found

    return asyncio.run(walk())


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
