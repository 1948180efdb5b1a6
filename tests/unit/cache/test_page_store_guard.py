"""`PageStore.guard_drops`: the guard (a worker's change epoch) is entered around each
change that takes bytes away from cached pages, and only then, on both media."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ringcache.cluster.cache.medium import OneThread, SizeMedium
from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ufs.filesystem import FileVersion

PAGE = 16


class Watch:
    """A guard that records, as it is entered and exited, what the store holds of `path`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.store: PageStore | None = None
        self.seen: list[tuple[str, object]] = []
        self.open = 0

    @contextmanager
    def guard(self) -> Iterator[None]:
        self.open += 1
        self.seen.append(("enter", self._held()))
        try:
            yield
        finally:
            self.seen.append(("exit", self._held()))
            self.open -= 1

    def _held(self) -> object:
        assert self.store is not None
        return self.store.held([self.path])[0]


def open_store(kind: str, root: Path, capacity: int) -> PageStore:
    if kind == "sizes":
        return PageStore(SizeMedium(), capacity, PAGE, lock=OneThread())
    return PageStore(root, capacity, PAGE)


@pytest.fixture(params=["disk", "sizes"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def guarded(kind: str, root: Path, capacity: int, path: str) -> tuple[PageStore, Watch]:
    store = open_store(kind, root, capacity)
    watch = Watch(path)
    watch.store = store
    store.guard_drops(watch.guard)
    return store, watch


def put(
    store: PageStore, path: str, pages: int, now: float = 0.0, size: int = 0, mtime: float = 1.0
) -> list:
    size = size or pages * PAGE
    version = FileVersion(size, mtime, None)
    data = [bytes(min(PAGE, size - i * PAGE)) for i in range(pages)]
    return store.put_pages(path, 0, data, now, version=version)


def test_puts_that_fit_and_reads_never_enter_it(kind: str, tmp_path: Path) -> None:
    store, watch = guarded(kind, tmp_path, 10 * PAGE, "a")
    put(store, "a", 3)
    put(store, "b", 2, size=2 * PAGE - 5)
    store.put_pages("a", 0, [bytes(PAGE)], 1.0)  # held already
    store.set_file("a", FileVersion(3 * PAGE, 1.0, None), 2.0, "HIGH")  # a move drops nothing
    assert store.read("a", 0, None, 3.0) is not None and store.get_page("b", 1, 3.0) is not None
    assert watch.seen == []


def test_an_eviction_enters_it_before_the_page_goes_and_exits_after(
    kind: str, tmp_path: Path
) -> None:
    store, watch = guarded(kind, tmp_path, 4 * PAGE, "a")
    version_a = FileVersion(3 * PAGE, 1.0, None)
    put(store, "a", 3)
    assert put(store, "b", 2, now=1.0) == [("a", 0)]
    assert watch.seen == [("enter", (version_a, 3 * PAGE)), ("exit", (version_a, 2 * PAGE))]
    assert watch.open == 0


def test_a_removal_and_a_superseded_version_enter_it_once_each(kind: str, tmp_path: Path) -> None:
    store, watch = guarded(kind, tmp_path, 10 * PAGE, "a")
    put(store, "a", 2)
    old = FileVersion(2 * PAGE, 1.0, None)
    store.set_file("a", FileVersion(2 * PAGE, 2.0, None), 1.0)  # another version: pages go
    assert watch.seen == [("enter", (old, 2 * PAGE)), ("exit", None)]
    watch.seen.clear()
    put(store, "a", 2, now=2.0, mtime=2.0)  # the new version's pages, into room to spare
    assert watch.seen == []
    assert store.remove_file("a") == 2 * PAGE
    assert [step for step, _ in watch.seen] == ["enter", "exit"] and watch.seen[-1][1] is None
    watch.seen.clear()
    assert store.remove_file("a") == 0  # nothing recorded, nothing dropped
    assert watch.seen == []


def test_a_run_larger_than_the_room_enters_it_once_per_change_and_exits_each(
    kind: str, tmp_path: Path
) -> None:
    store, watch = guarded(kind, tmp_path, 2 * PAGE, "a")
    put(store, "a", 2)
    # Both pages of "a" go for the first two of "big"; its third evicts its own first.
    evicted = put(store, "big", 3, now=1.0)
    assert evicted == [("a", 0), ("a", 1), ("big", 0)]
    steps = [step for step, _ in watch.seen]
    assert steps == ["enter", "exit", "enter", "exit"] and watch.open == 0
    assert watch.seen[1] == ("exit", None)  # "a" went whole in the first change


def test_on_disk_the_guard_exits_once_the_eviction_is_on_record(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    store = PageStore(tmp_path, 2 * PAGE, PAGE)
    lines_at_exit: list[int] = []

    @contextmanager
    def guard() -> Iterator[None]:
        yield
        lines_at_exit.append(journal.read_bytes().count(b"\n"))

    store.guard_drops(guard)
    put(store, "a", 2)
    before = journal.read_bytes().count(b"\n")
    put(store, "b", 1, now=1.0)  # evicts page 0 of "a": a record of "a", then "b"'s
    assert len(lines_at_exit) == 1 and lines_at_exit[0] >= before + 1
    reopened = PageStore(tmp_path, 2 * PAGE, PAGE)
    assert reopened.missing_pages("a") == [0]
