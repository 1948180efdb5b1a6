"""`HeldNames` watching a real page store: a reader's view says a file is held from the
moment the store records it until it forgets it (freed, evicted whole, discarded), and
each worker run writes a filter file of its own."""

from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker import held_names
from ringcache.cluster.worker.held_names import HeldNames, HeldNamesView

PAGE = 4096


def version(size: int = PAGE) -> FileVersion:
    return FileVersion(size, 1.0, None)


def watched(
    tmp_path: Path, capacity: int = 64 * PAGE
) -> tuple[PageStore, HeldNames, HeldNamesView]:
    store = PageStore(tmp_path / "cache", capacity, PAGE)
    names = HeldNames(tmp_path, run=1)
    store.watch_paths(names)
    view = HeldNamesView.open(names.path)
    assert view is not None
    return store, names, view


def test_a_file_is_held_from_its_record_until_it_is_freed(tmp_path: Path) -> None:
    store, _, view = watched(tmp_path)
    others = [f"file:///data/o{i}.bin" for i in range(200)]
    for path in others:
        store.set_file(path, version(), 0.0)
    assert not view.may_hold("file:///data/a.bin")
    store.set_file("file:///data/a.bin", version(), 0.0)  # recorded, no page yet
    assert view.may_hold("file:///data/a.bin")
    store.put_page("file:///data/a.bin", 0, os.urandom(PAGE), 1.0)
    store.set_file("file:///data/a.bin", version(2 * PAGE), 2.0)  # another version: still
    assert view.may_hold("file:///data/a.bin")
    store.remove_file("file:///data/a.bin")
    assert not view.may_hold("file:///data/a.bin")
    assert all(view.may_hold(path) for path in others)  # their counts stay


def test_a_file_evicted_whole_is_held_no_more_and_discard_forgets_all(tmp_path: Path) -> None:
    store, _, view = watched(tmp_path, capacity=2 * PAGE)
    paths = [f"file:///data/e{i}.bin" for i in range(3)]
    for now, path in enumerate(paths):
        store.put_page(path, 0, os.urandom(PAGE), float(now), version=version())
    assert not view.may_hold(paths[0])  # its only page evicted for the third
    assert view.may_hold(paths[1]) and view.may_hold(paths[2])
    store.discard()
    assert not any(view.may_hold(path) for path in paths)


def test_watching_starts_with_what_is_recorded_and_stops(tmp_path: Path) -> None:
    store = PageStore(tmp_path / "cache", 64 * PAGE, PAGE)
    store.put_page("file:///data/r.bin", 0, os.urandom(PAGE), 0.0, version=version())
    names = HeldNames(tmp_path, run=1)
    view = HeldNamesView.open(names.path)
    assert view is not None and not view.may_hold("file:///data/r.bin")
    store.watch_paths(names)
    assert view.may_hold("file:///data/r.bin")
    store.watch_paths(None)
    store.remove_file("file:///data/r.bin")
    assert view.may_hold("file:///data/r.bin")  # no longer told


def test_a_full_cell_stays_full(tmp_path: Path) -> None:
    names = HeldNames(tmp_path, run=1)
    view = HeldNamesView.open(names.path)
    assert view is not None
    for _ in range(held_names.CELL_MOST + 5):
        names.added("file:///data/hot.bin")
    for _ in range(held_names.CELL_MOST + 5):
        names.released("file:///data/hot.bin")
    assert view.may_hold("file:///data/hot.bin")  # its count unknown: asked for always


def test_each_run_has_its_own_file_and_removes_the_others(tmp_path: Path) -> None:
    first = HeldNames(tmp_path, run=1)
    first.added("file:///data/a.bin")
    old = HeldNamesView.open(first.path)
    second = HeldNames(tmp_path, run=2)
    assert not Path(first.path).exists() and Path(second.path).exists()
    assert old is not None and old.may_hold("file:///data/a.bin")  # a mapping keeps its pages
    new = HeldNamesView.open(second.path)
    assert new is not None and not new.may_hold("file:///data/a.bin")
    second.close()
    assert not Path(second.path).exists()
    assert HeldNamesView.open(second.path) is None
    (tmp_path / "short").write_bytes(b"x")
    assert HeldNamesView.open(str(tmp_path / "short")) is None
