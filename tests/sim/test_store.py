"""SimPageStore: PageStore's API and accounting, with sizes only."""

from __future__ import annotations

import inspect
import random

import pytest

from ringcache.cluster.cache.store import CapacityExceeded, PageStore
from ringcache.cluster.errors import InvalidArgument, NotFound
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.simulations.namespace import zero_bytes
from ringcache.simulations.store import SimPageStore

PAGE = 100


def _load(store: SimPageStore, path: str, size: int, now: float = 0.0, **kw) -> list:
    version = FileVersion(size, 1.0, None)
    store.set_file(path, version, now, **kw)
    evicted = []
    for index in range(-(-size // PAGE)):
        length = min(PAGE, size - index * PAGE)
        evicted += store.put_page(path, index, zero_bytes(length), now, version=version)
    return evicted


def test_it_offers_every_public_call_of_the_page_store_with_the_same_parameters():
    for name, member in inspect.getmembers(PageStore, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(SimPageStore, name, None)
        assert ours is not None, f"SimPageStore lacks {name}"
        theirs = list(inspect.signature(member).parameters)
        assert list(inspect.signature(ours).parameters) == theirs, name


def test_accounting_and_reads():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    _load(store, "s://a", 250)
    info = store.file_info("s://a")
    assert (info.cached_bytes, info.pages, info.complete) == (250, 3, True)
    assert store.stats().used_bytes == 250 and store.stats().pages == 3
    assert len(store.get_page("s://a", 2, 1.0)) == 50
    assert store.get_page("s://a", 3, 1.0) is None
    assert bytes(store.read("s://a", 90, 20, 1.0)) == bytes(20)
    assert len(store.read("s://a", 0, None, 1.0)) == 250
    assert store.missing_pages("s://a") == []
    store.set_file("s://b", FileVersion(250, 1.0, None), 0.0)
    assert store.missing_pages("s://b", 120) == [1, 2]
    assert store.read("s://b", 0, 10, 1.0) is None
    assert store.remove_file("s://a") == 250
    assert store.stats().used_bytes == 0 and store.file_info("s://a") is None


def test_pages_are_checked_like_the_real_store():
    store = SimPageStore(capacity_bytes=150, page_size=PAGE)
    version = FileVersion(250, 1.0, None)
    with pytest.raises(NotFound):
        store.put_page("s://a", 0, zero_bytes(PAGE), 0.0)
    with pytest.raises(InvalidArgument):
        store.put_page("s://a", 2, zero_bytes(PAGE), 0.0, version=version)  # last page is 50
    with pytest.raises(InvalidArgument):
        store.put_page("s://a", 3, zero_bytes(0), 0.0, version=version)
    with pytest.raises(InvalidArgument):
        store.put_page("s://a", True, zero_bytes(PAGE), 0.0, version=version)
    tiny = SimPageStore(capacity_bytes=50, page_size=PAGE)
    with pytest.raises(CapacityExceeded):
        tiny.put_page("s://a", 0, zero_bytes(PAGE), 0.0, version=version)


def test_a_new_version_drops_the_old_pages():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    _load(store, "s://a", 300)
    store.set_file("s://a", FileVersion(300, 2.0, None), 1.0)
    assert store.file_info("s://a").pages == 0
    assert store.stats().used_bytes == 0


def test_eviction_goes_low_before_medium_and_least_recent_first():
    store = SimPageStore(capacity_bytes=600, page_size=PAGE)
    _load(store, "s://old", 200, priority="MEDIUM")
    _load(store, "s://low", 200, priority="LOW")
    _load(store, "s://recent", 200, priority="MEDIUM")
    store.get_page("s://old", 0, 5.0)  # old is now more recent than recent
    evicted = _load(store, "s://new", 300)
    assert evicted == [("s://low", 0), ("s://low", 1), ("s://recent", 0)]
    assert store.file_info("s://low") is None  # lost its last page: forgotten
    assert store.file_info("s://recent").pages == 1
    assert store.stats().used_bytes <= 600
    assert store.evicted_pages == 3


def test_a_file_larger_than_the_store_keeps_its_newest_pages_and_its_record():
    store = SimPageStore(capacity_bytes=200, page_size=PAGE)
    evicted = _load(store, "s://big", 500)
    assert evicted == [("s://big", 0), ("s://big", 1), ("s://big", 2)]
    info = store.file_info("s://big")
    assert (info.pages, info.complete) == (2, False)
    assert store.missing_pages("s://big") == [0, 1, 2]


def test_listing_pages_through_the_files_in_path_order():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    for name in ["c", "a", "d", "b"]:
        _load(store, f"s://{name}", 10)
    store.remove_file("s://c")
    assert [f.path for f in store.list_files(limit=2)] == ["s://a", "s://b"]
    assert [f.path for f in store.list_files(start_after="s://b")] == ["s://d"]
    with pytest.raises(InvalidArgument):
        store.list_files(limit=0)


def test_discard_forgets_every_file_and_frees_all_room():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    for name in ["a", "b"]:
        _load(store, f"s://{name}", 250)
    store.discard()
    assert store.paths() == [] and store.list_files() == []
    assert store.file_info("s://a") is None
    assert store.stats().used_bytes == 0
    _load(store, "s://c", 10_000)  # the whole capacity is free again, nothing to evict
    assert store.paths() == ["s://c"]


def test_lacking_whole_names_the_paths_not_held_whole_in_order():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    _load(store, "s://whole", 250)
    _load(store, "s://empty", 0)
    store.set_file("s://part", FileVersion(250, 1.0, None), 0.0)
    store.put_page("s://part", 0, zero_bytes(PAGE), 0.0)
    asked = ["s://part", "s://whole", "s://none", "s://empty"]
    assert store.lacking_whole(asked) == ["s://part", "s://none"]
    held = [p for p in asked if (info := store.file_info(p)) is not None and info.complete]
    assert store.lacking_whole(asked) == [p for p in asked if p not in held]


def test_priorities_move_files_between_levels():
    store = SimPageStore(capacity_bytes=400, page_size=PAGE)
    _load(store, "s://a", 200)
    _load(store, "s://b", 200)
    store.set_priority("s://a", "HIGH")
    evicted = _load(store, "s://c", 100)
    assert evicted == [("s://b", 0)]
    assert store.file_info("s://a").priority == "HIGH"
    with pytest.raises(InvalidArgument):
        store.set_priority("s://a", "URGENT")


def test_held_gives_each_paths_version_and_bytes():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    _load(store, "s://whole", 250)
    store.set_file("s://part", FileVersion(250, 1.0, "e"), 0.0)
    store.put_page("s://part", 2, zero_bytes(50), 0.0)
    store.set_file("s://empty", FileVersion(0, 1.0, None), 0.0)
    store.set_file("s://recorded", FileVersion(20, 1.0, None), 0.0)
    assert store.held(["s://whole", "s://part", "s://empty", "s://recorded", "s://none"]) == [
        (FileVersion(250, 1.0, None), 250),
        (FileVersion(250, 1.0, "e"), 50),
        (FileVersion(0, 1.0, None), 0),
        None,
        None,
    ]


def test_put_pages_with_a_version_records_the_file_at_the_priority_given():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    version = FileVersion(150, 1.0, None)
    store.put_pages("s://new", 0, [zero_bytes(100)], 0.0, version=version, priority="HIGH")
    assert store.file_info("s://new").priority == "HIGH"
    store.put_pages("s://new", 1, [zero_bytes(50)], 1.0, version=version, priority="LOW")
    info = store.file_info("s://new")
    assert (info.priority, info.complete) == ("LOW", True)
    store.put_pages("s://new", 1, [zero_bytes(50)], 2.0, version=version)
    assert store.file_info("s://new").priority == "LOW"
    with pytest.raises(InvalidArgument):
        store.put_pages("s://bad", 0, [zero_bytes(50)], 0.0, version=version, priority="URGENT")


def test_list_held_is_list_files_in_brief():
    store = SimPageStore(capacity_bytes=10_000, page_size=PAGE)
    _load(store, "s://b", 250)
    store.set_file("s://a", FileVersion(250, 1.0, "e"), 0.0)
    store.put_page("s://a", 1, zero_bytes(PAGE), 0.0)
    for after, limit in ((None, 10), ("s://a", 1), ("s://b", 5)):
        brief = [
            (f.path, f.version, f.cached_bytes, f.complete)
            for f in store.list_files(start_after=after, limit=limit)
        ]
        assert store.list_held(start_after=after, limit=limit) == brief
    assert store.list_held()[0] == ("s://a", FileVersion(250, 1.0, "e"), PAGE, False)
    with pytest.raises(InvalidArgument):
        store.list_held(limit=0)


def test_a_run_of_pages_stored_at_once_ends_as_page_by_page_would():
    def drive(store: SimPageStore) -> list:
        rng = random.Random(5)
        sizes = {f"s://f{i}": rng.randrange(0, 9 * PAGE) for i in range(30)}
        log = []
        for step in range(400):
            path = rng.choice(sorted(sizes))
            size = sizes[path]
            version = FileVersion(size, 1.0, None)
            pages = -(-size // PAGE)
            if not pages:
                continue
            first = rng.randrange(pages)
            count = rng.randrange(1, pages - first + 1)
            data = [zero_bytes(min(PAGE, size - i * PAGE)) for i in range(first, first + count)]
            if rng.random() < 0.1:  # now and then a page of the wrong length
                data[-1] = zero_bytes(len(data[-1]) + 1)
            try:
                evicted = store.put_pages(path, first, data, float(step), version=version)
            except InvalidArgument as exc:
                log.append(("refused", str(exc)))
            else:
                log.append(("stored", sorted(evicted), store.file_info(path)))
            if rng.random() < 0.05:
                store.remove_file(path)
        files = [store.file_info(path) for path in sorted(sizes)]
        return [log, files, store.stats(), [list(lru) for lru in store._lru.values()]]

    def one_page_at_a_time(*args) -> bool:
        return False

    at_once = drive(SimPageStore(capacity_bytes=40 * PAGE, page_size=PAGE))
    slow = SimPageStore(capacity_bytes=40 * PAGE, page_size=PAGE)
    slow._put_run = one_page_at_a_time  # type: ignore[method-assign]
    assert drive(slow) == at_once
    assert any(entry[0] == "stored" and entry[1] for entry in at_once[0])  # some evicted
