"""The global file index: holders, versions, stat-only entries, paging, removal, reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.index.file_index import FileIndex, FileRecord

A = "file:///srv/data/a.bin"
B = "file:///srv/data/b.bin"


@pytest.fixture
def index() -> FileIndex:
    return FileIndex(":memory:")


def test_holders_are_added_and_dropped_per_worker(index: FileIndex) -> None:
    index.record_cached(A, 100, 1.0, None, "worker-2")
    index.record_cached(A, 100, 1.0, None, "worker-1")
    index.record_cached(A, 100, 1.0, None, "worker-1")  # reported twice: held once
    assert index.holders(A) == ["worker-1", "worker-2"]
    index.record_dropped(A, "worker-2")
    assert index.holders(A) == ["worker-1"]
    index.record_dropped(A, "worker-1")
    assert index.holders(A) == []
    assert index.get(A) == FileRecord(A, 100, 1.0, None)  # still known, held by nobody
    index.record_dropped(B, "worker-1")  # never known: nothing to do
    assert index.count() == 1


def test_a_new_version_leaves_only_its_own_holders(index: FileIndex) -> None:
    index.record_cached(A, 100, 1.0, "e1", "worker-1")
    index.record_cached(A, 100, 1.0, "e1", "worker-2")
    index.record_cached(A, 100, 1.0, "e2", "worker-3")  # etag changed
    assert index.holders(A) == ["worker-3"]
    index.record_cached(A, 100, 2.0, "e2", "worker-1")  # mtime changed
    assert index.holders(A) == ["worker-1"]
    index.record_cached(A, 120, 2.0, "e2", "worker-2")  # length changed
    assert index.holders(A) == ["worker-2"]
    assert index.get(A) == FileRecord(A, 120, 2.0, "e2")


def test_a_batch_applies_cached_then_dropped_in_one_transaction(index: FileIndex) -> None:
    index.record_many(
        cached=[
            (FileRecord(A, 10, 1.0), "worker-1"),
            (FileRecord(A, 20, 2.0), "worker-2"),  # the last version reported wins
            (FileRecord(A, 20, 2.0), "worker-3"),
            (FileRecord(B, 5), "worker-1"),
        ],
        dropped=[(A, "worker-3"), (B, "worker-1")],
    )
    assert index.get(A) == FileRecord(A, 20, 2.0)
    assert index.holders(A) == ["worker-2"]
    assert index.holders(B) == []


def test_a_bad_record_fails_the_whole_batch(index: FileIndex) -> None:
    index.record_cached(A, 10, None, None, "worker-1")
    with pytest.raises(InvalidArgument):
        index.record_many(cached=[(FileRecord(B, 5), "w"), (FileRecord("", 1), "w")])
    with pytest.raises(InvalidArgument):
        index.record_many(cached=[(FileRecord(B, -1), "w")])
    with pytest.raises(InvalidArgument):
        index.add_stat_only([FileRecord(B, 5), FileRecord(A, True)])  # type: ignore[arg-type]
    assert index.count() == 1 and index.get(B) is None


def test_stat_only_entries_have_no_holders_and_keep_those_of_the_same_version(
    index: FileIndex,
) -> None:
    assert index.add_stat_only([FileRecord(A, 10, 1.0), FileRecord(B, 20), FileRecord(B, 20)]) == 2
    assert index.list() == [
        {"path": A, "length": 10, "workers": []},
        {"path": B, "length": 20, "workers": []},
    ]
    index.record_cached(A, 10, 1.0, None, "worker-1")
    index.add_stat_only([FileRecord(A, 10, 1.0)])  # same version: the holder still holds it
    assert index.holders(A) == ["worker-1"]
    index.add_stat_only([FileRecord(A, 11, 3.0)])  # changed on the UFS: the copy is stale
    assert index.holders(A) == []


def fill(index: FileIndex, count: int) -> list[str]:
    paths = [f"file:///srv/data/d{i % 3}/f{i:04d}" for i in range(count)]
    index.record_many(cached=[(FileRecord(p, i), f"worker-{i % 2}") for i, p in enumerate(paths)])
    return sorted(paths)


def test_listing_pages_through_everything_once_in_order(index: FileIndex) -> None:
    paths = fill(index, 250)
    seen, last_key = [], None
    while page := index.list(last_key=last_key, count=7):
        seen.extend(entry["path"] for entry in page)
        last_key = page[-1]["path"]
    assert seen == paths
    entry = index.list(count=1)[0]
    assert entry == {"path": paths[0], "length": 0, "workers": ["worker-0"]}


def test_listing_by_prefix_and_last_key(index: FileIndex) -> None:
    paths = fill(index, 30)
    under_d1 = [p for p in paths if p.startswith("file:///srv/data/d1/")]
    assert [e["path"] for e in index.list(prefix="file:///srv/data/d1/")] == under_d1
    after = index.list(prefix="file:///srv/data/d1/", last_key=under_d1[4], count=3)
    assert [e["path"] for e in after] == under_d1[5:8]
    assert index.list(prefix="file:///srv/data/d9") == []
    assert index.list(last_key=paths[-1]) == []
    assert len(index.list(prefix="file:///srv/data/d")) == 30  # a plain string prefix


@pytest.mark.parametrize("count", [0, -1, 10_001, True, 1.5, "5"])
def test_listing_counts_out_of_range_are_invalid(index: FileIndex, count: object) -> None:
    with pytest.raises(InvalidArgument):
        index.list(count=count)  # type: ignore[arg-type]


def test_remove_counts_what_existed_and_forgets_holders(index: FileIndex) -> None:
    index.record_cached(A, 10, None, None, "worker-1")
    index.add_stat_only([FileRecord(B, 1)])
    assert index.remove([A, B, "file:///never"]) == 2
    assert index.count() == 0 and index.list() == []
    index.add_stat_only([FileRecord(A, 10)])
    assert index.holders(A) == []  # the old holder did not come back with the entry


def test_remove_under_a_root_and_forget_a_worker(index: FileIndex) -> None:
    for path in ("file:///srv/data", "file:///srv/data/x", "file:///srv/database/y"):
        index.record_cached(path, 1, None, None, "worker-1")
    index.record_cached("file:///srv/database/y", 1, None, None, "worker-2")
    assert index.remove_under("file:///srv/data") == 2
    assert [e["path"] for e in index.list()] == ["file:///srv/database/y"]
    assert index.forget_worker("worker-1") == 1
    assert index.holders("file:///srv/database/y") == ["worker-2"]


def test_cached_bytes_counts_every_copy_under_a_root(index: FileIndex) -> None:
    index.record_cached("file:///r/a/x", 100, None, None, "worker-1")
    index.record_cached("file:///r/a/x", 100, None, None, "worker-2")
    index.record_cached("file:///r/a/y", 50, None, None, "worker-1")
    index.record_cached("file:///r/ab/z", 1000, None, None, "worker-1")
    index.add_stat_only([FileRecord("file:///r/a/stat-only", 7)])
    assert index.cached_bytes("file:///r/a") == 250
    assert index.cached_bytes("file:///") == 1250
    assert index.cached_bytes("file:///r/none") == 0


def test_entries_survive_reopening_the_index_file(tmp_path: Path) -> None:
    index = FileIndex.open(tmp_path / "state")
    index.record_cached(A, 10, 1.5, "etag", "worker-1")
    index.add_stat_only([FileRecord("file:///srv/data/ünï code", 3)])
    index.close()
    reopened = FileIndex.open(tmp_path / "state")
    assert reopened.get(A) == FileRecord(A, 10, 1.5, "etag")
    assert reopened.holders(A) == ["worker-1"]
    assert reopened.count() == 2
    reopened.close()


def test_a_worker_report_holds_partial_bytes_and_drops_paths(index: FileIndex) -> None:
    index.apply_report("worker-1", held=[(FileRecord(A, 100, 1.0), 40), (FileRecord(B, 5), 5)])
    assert index.held_bytes("worker-1", [A, B, "file:///none"]) == {A: 40, B: 5}
    index.apply_report("worker-1", held=[(FileRecord(A, 100, 1.0), 100)], dropped=[B])
    assert index.held_bytes("worker-1", [A, B]) == {A: 100}
    assert index.holders(B) == [] and index.get(B) == FileRecord(B, 5)
    index.record_cached(B, 5, None, None, "worker-2")
    index.apply_report("worker-2", held=[(FileRecord(A, 100, 1.0), 1)], replace=True)
    assert index.holders(B) == [] and index.holders(A) == ["worker-1", "worker-2"]


def test_many_reports_in_one_call_end_as_the_reports_say_in_order(index: FileIndex) -> None:
    index.record_cached(B, 5, None, None, "worker-9")
    v1, v2 = FileRecord(A, 100, 1.0, "v1"), FileRecord(A, 100, 1.0, "v2")
    index.apply_reports(
        [
            ("worker-3", [(v1, 100)], [], False),
            ("worker-2", [(v2, 100)], [], False),
            ("worker-1", [(v1, 100)], [], False),  # the last version reported is A's
            ("worker-4", [(FileRecord(B, 5), 5)], [], False),
            ("worker-4", [], [B], False),  # a later report of the same worker wins
            ("worker-5", [], [B], False),
            ("worker-5", [(FileRecord(B, 5), 2)], [], False),
            ("worker-9", [(FileRecord(A, 100, 1.0, "v1"), 7)], [], True),  # replaces its B
        ]
    )
    assert index.get(A) == v1
    assert index.holders(A) == ["worker-1", "worker-3", "worker-9"]
    assert index.holders(B) == ["worker-5"]
    assert index.held_bytes("worker-5", [B]) == {B: 2}
    index.apply_reports(
        [
            ("worker-6", [(FileRecord(B, 5), 5)], [], False),
            ("worker-6", [(FileRecord(A, 100, 1.0, "v1"), 100)], [], True),  # B goes again
        ]
    )
    assert index.holders(B) == ["worker-5"] and "worker-6" in index.holders(A)


def test_report_rows_are_written_in_path_order() -> None:
    from ringcache.cluster.index.reports import report_rows

    paths = [f"file:///d/{name}" for name in ("q", "b", "x", "a", "m")]
    reports = [
        (f"worker-{i}", [(FileRecord(p, 1), 1) for p in paths[i:] + paths[:i]], [], False)
        for i in range(3)
    ]
    rows = report_rows(reports)
    assert [row[0] for row in rows.files] == sorted(paths)
    assert rows.holders == sorted((p, f"worker-{i}", 1) for p in paths for i in range(3))


def test_tracked_usage_moves_with_every_kind_of_write(index: FileIndex) -> None:
    index.record_cached("file:///r/a/x", 100, None, None, "worker-1")
    index.track_usage(["file:///r/a", "file:///r", "file:///"])
    assert index.usage() == {"file:///r/a": 100, "file:///r": 100, "file:///": 100}
    index.apply_report("worker-2", held=[(FileRecord("file:///r/a/x", 100), 30)])
    index.record_cached("file:///r/ab/z", 1000, None, None, "worker-1")  # not under /r/a
    assert index.usage() == {"file:///r/a": 130, "file:///r": 1130, "file:///": 1130}
    index.apply_report("worker-2", held=[(FileRecord("file:///r/a/x", 100), 60)])
    assert index.usage()["file:///r/a"] == 160
    index.record_cached("file:///r/a/x", 101, None, None, "worker-3")  # new version
    assert index.usage()["file:///r/a"] == 101
    index.record_dropped("file:///r/a/x", "worker-3")
    assert index.usage() == {"file:///r/a": 0, "file:///r": 1000, "file:///": 1000}
    index.track_usage(["file:///r"])  # untracked roots are forgotten
    index.remove_under("file:///r/ab")
    assert index.usage() == {"file:///r": 0}
    assert index.usage()["file:///r"] == index.cached_bytes("file:///r")


def test_usage_untracked_then_tracked_again_is_summed_afresh(tmp_path: Path) -> None:
    index = FileIndex.open(tmp_path)
    index.track_usage(["file:///r"])
    index.record_cached("file:///r/x", 10, None, None, "worker-1")
    index.track_usage([])  # nothing tracked: writes move no usage
    index.record_cached("file:///r/y", 20, None, None, "worker-1")
    index.record_dropped("file:///r/x", "worker-1")
    assert index.usage() == {}
    index.track_usage(["file:///r"])
    index.record_cached("file:///r/z", 5, None, None, "worker-2")
    assert index.usage() == {"file:///r": 25}
    index.close()
    reopened = FileIndex.open(tmp_path)  # the counting goes on in a reopened index
    reopened.record_cached("file:///r/w", 1, None, None, "worker-2")
    assert (
        reopened.usage() == {"file:///r": 26} == {"file:///r": reopened.cached_bytes("file:///r")}
    )


def test_an_index_from_the_older_schema_opens_and_drops_its_holders(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE files (path TEXT PRIMARY KEY, length INTEGER NOT NULL, mtime REAL, "
        "etag TEXT) WITHOUT ROWID; CREATE TABLE holders (path TEXT NOT NULL, worker TEXT "
        "NOT NULL, PRIMARY KEY (path, worker)) WITHOUT ROWID;"
        f"INSERT INTO files VALUES ('{A}', 10, NULL, NULL); "
        f"INSERT INTO holders VALUES ('{A}', 'worker-1');"
    )
    db.commit()
    db.close()
    index = FileIndex(path)
    assert index.get(A) == FileRecord(A, 10) and index.holders(A) == []
    index.record_cached(A, 10, None, None, "worker-1")
    assert index.held_bytes("worker-1", [A]) == {A: 10}
    index.close()


def test_holding_workers_and_the_files_some_workers_hold(index: FileIndex) -> None:
    paths = [f"file:///srv/data/{i:03d}.bin" for i in range(30)]
    for i, path in enumerate(paths):
        index.record_cached(path, i, float(i), f"e{i}", f"worker-{i % 3}")
    index.record_cached(paths[3], 3, 3.0, "e3", "worker-1")  # held by worker-0 and -1
    index.add_stat_only([FileRecord("file:///srv/data/known.bin", 7)])  # held by nobody
    assert index.holding_workers() == ["worker-0", "worker-1", "worker-2"]
    held = index.held_by({"worker-0"}, count=4)
    assert [e["path"] for e in held] == paths[0:12:3]
    assert held[1] == {
        "path": paths[3],
        "length": 3,
        "mtime": 3.0,
        "etag": "e3",
        "workers": ["worker-0", "worker-1"],
    }
    rest = index.held_by({"worker-0", "worker-2"}, last_key=paths[5])
    assert [e["path"] for e in rest] == [p for i, p in enumerate(paths) if i > 5 and i % 3 != 1]
    assert index.held_by(set()) == [] and index.held_by({"worker-9"}) == []
    index.forget_worker("worker-1")
    assert index.holding_workers() == ["worker-0", "worker-2"]


def test_reported_workers_is_a_superset_of_the_holders_kept_without_reading(tmp_path: Path):
    index = FileIndex.open(tmp_path / "state")
    assert index.reported_workers() == set()
    index.apply_worker_reports(
        [("worker-1", [[A, 10, None, None, 10]], False), ("worker-2", [[B]], False)]
    )
    index.record_cached(B, 5, None, None, "worker-3")
    assert index.reported_workers() == {"worker-1", "worker-3"}  # worker-2 only dropped
    index.record_dropped(A, "worker-1")  # it may still be named: a superset
    assert set(index.holding_workers()) == {"worker-3"} <= index.reported_workers()
    index.forget_worker("worker-3")
    assert index.reported_workers() == {"worker-1"}
    index.record_cached(A, 10, None, None, "worker-4")
    index.close()
    reopened = FileIndex.open(tmp_path / "state")  # the holders it finds, no more
    assert reopened.reported_workers() == {"worker-4"}
    reopened.close()
