"""The page store counts the pages it evicts to make room (a worker's `pagesEvicted`), on
both media; a file removed on purpose is no eviction."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cache.test_store_contract import PAGE, Media, version


@pytest.mark.parametrize("kind", ["disk", "sizes"])
def test_every_page_evicted_to_make_room_is_counted(kind: str, tmp_path: Path) -> None:
    store = Media(kind, tmp_path).open(4 * PAGE)
    run = [bytes(PAGE)] * 3
    assert store.put_pages("a", 0, run, 0.0, version=version(3 * PAGE)) == []
    assert store.stats().pages_evicted == 0
    evicted = store.put_pages("b", 0, run, 1.0, version=version(3 * PAGE))
    assert evicted == [("a", 0), ("a", 1)]
    assert store.stats().pages_evicted == 2
    store.remove_file("b")
    assert store.stats().pages_evicted == 2
    evicted = store.put_pages("c", 0, [bytes(PAGE)] * 4, 2.0, version=version(4 * PAGE))
    assert evicted == [("a", 2)]  # a's last page: the file goes whole
    assert store.stats().pages_evicted == 3
