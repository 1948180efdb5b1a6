"""`GovernedStore` notes every change for the file index; `ReportJournal` hands them out."""

from __future__ import annotations

from pathlib import Path

from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.policies.tracking import GovernedStore, ReportJournal
from ringcache.cluster.ufs.filesystem import FileVersion

V = FileVersion(300, 1.0, None)


def test_each_noted_path_is_reported_once_until_noted_again() -> None:
    journal = ReportJournal()
    journal.note("a")
    journal.note("b")
    first = journal.take(None, 100)
    assert first.paths == ["a", "b"] and not first.full and not first.more
    journal.note("c")
    journal.note("a")  # changed again after the first report was taken
    second = journal.take(first.token, 100)
    assert second.paths == ["c", "a"]
    assert journal.take(second.token, 100).paths == []


def test_an_unacknowledged_batch_is_handed_out_again() -> None:
    journal = ReportJournal()
    journal.note("a")
    lost = journal.take(None, 100)
    journal.note("b")
    again = journal.take(lost.token - 1, 100)  # the receiver never applied `lost`
    assert again.paths == ["a", "b"]
    assert journal.take(None, 100).paths == ["a", "b"]  # a new receiver: from scratch


def test_a_limited_batch_defers_the_rest_and_says_so() -> None:
    journal = ReportJournal()
    journal.note_many(["a", "b", "c"])
    batch = journal.take(None, 2)
    assert batch.paths == ["a", "b"] and batch.more
    batch = journal.take(batch.token, 2)
    assert set(batch.paths) <= {"a", "b", "c"} and "c" in batch.paths


def test_a_full_report_stays_full_until_acknowledged() -> None:
    journal = ReportJournal()
    journal.note_all(["a", "b", "c"])
    first = journal.take(None, 2)
    assert first.full and first.more
    resent = journal.take(None, 2)  # lost: still the start of a full report
    assert resent.full and resent.paths == first.paths
    rest = journal.take(resent.token, 10)
    assert not rest.full and "c" in rest.paths


def test_the_governed_store_notes_puts_evictions_and_removals(tmp_path: Path) -> None:
    journal = ReportJournal()
    levels = {"file:///low": "LOW"}
    store = GovernedStore(
        PageStore(tmp_path, capacity_bytes=400, page_size=100),
        journal,
        lambda path: levels.get(path, "MEDIUM"),
    )
    store.set_file("file:///low", V, 1.0)
    assert store.file_info("file:///low").priority == "LOW"  # set on the first record
    for index in range(3):
        store.put_page("file:///low", index, b"x" * 100, 1.0, version=V)
    assert journal.take(None, 10).paths == ["file:///low"]
    store.set_file("file:///mid", V, 2.0)
    assert store.file_info("file:///mid").priority == "MEDIUM"
    store.put_page("file:///mid", 0, b"y" * 100, 2.0)
    store.put_page("file:///mid", 1, b"y" * 100, 2.0)  # evicts a LOW page
    batch = journal.take(None, 10)
    assert set(batch.paths) == {"file:///low", "file:///mid"}
    assert store.file_info("file:///low").pages == 2
    store.remove_file("file:///mid")
    assert "file:///mid" in journal.take(batch.token, 10).paths
    assert store.stats().used_bytes == 200  # other calls reach the store itself
