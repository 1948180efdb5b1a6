"""`SortedPaths`: pages of the live entries in path order, while paths come and go."""

from __future__ import annotations

import random

import pytest

from ringcache.cluster.cache.model import SortedPaths
from ringcache.cluster.errors import InvalidArgument


def _pages(index: SortedPaths, live: dict[str, str], limit: int) -> list[str]:
    walked, after = [], None
    while page := index.page(live, after, limit):
        assert len(page) <= limit
        walked.extend(page)
        after = page[-1]
    return walked


@pytest.mark.parametrize("limit", [1, 3, 50, 1000])
def test_pages_walk_every_live_path_once_in_order_as_paths_come_and_go(limit: int) -> None:
    rng = random.Random(limit)
    index, live = SortedPaths(), {}
    for _ in range(30):
        for _ in range(rng.randrange(40)):
            path = f"p{rng.randrange(500):03d}"
            if path not in live:
                index.add(path)
            live[path] = path  # an entry is its path here
        for path in rng.sample(sorted(live), min(len(live), rng.randrange(30))):
            del live[path]  # gone: still in the index until it is rebuilt
            index.discard(path)
        assert _pages(index, live, limit) == sorted(live)
        start = f"p{rng.randrange(500):03d}"
        assert index.page(live, start, limit) == [p for p in sorted(live) if p > start][:limit]


def test_a_page_needs_a_positive_limit() -> None:
    with pytest.raises(InvalidArgument):
        SortedPaths().page({}, None, 0)


def test_a_path_gone_and_live_again_is_listed_once() -> None:
    index, live = SortedPaths(), {}
    for path in ("a", "b", "c"):
        index.add(path)
        live[path] = path
    assert index.page(live, None, 10) == ["a", "b", "c"]  # merged: "b" is listed now
    del live["b"]
    index.discard("b")
    assert index.page(live, None, 10) == ["a", "c"]
    live["b"] = "b"
    index.add("b")
    assert index.page(live, None, 10) == ["a", "b", "c"]
    del live["c"]
    index.discard("c")
    live["c"] = "c"  # gone and back before any read
    index.add("c")
    assert index.page(live, None, 10) == ["a", "b", "c"]
