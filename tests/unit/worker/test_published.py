"""`PublishedFiles` and `PublishedView`: cached files a same-host reader may read without
asking, valid only while the change epoch, the rules in force and the lease all hold."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import pytest

from ringcache.cluster.worker import published
from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.cluster.worker.published import PublishedFile, PublishedFiles, PublishedView


class Table:
    """A worker's table and epoch, and a reader's view of them (mapped apart, as a
    reader in another process maps them)."""

    def __init__(self, root: Path) -> None:
        self.epoch = ChangeEpoch(root / "epoch")
        self.files = PublishedFiles(root / "published")
        self.files.renew(changed=False)
        fd = os.open(root / "epoch", os.O_RDONLY)
        try:
            shared = mmap.mmap(fd, 16, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        view = PublishedView.open(self.files.path, shared)
        assert view is not None
        self.view = view

    def publish(self, name: str, path: str = "/cache/ab/data", size: int = 10) -> bool:
        stable = self.epoch.stable()
        assert stable is not None
        return self.files.publish(name, path, 0, size, stable)


@pytest.fixture
def table(tmp_path: Path) -> Table:
    return Table(tmp_path)


def test_a_published_file_is_found_by_its_name_only(table: Table) -> None:
    assert table.view.find("file:///d/a.bin") is None
    assert table.publish("file:///d/a.bin", "/cache/12/a-data", 1234)
    found = table.view.find("file:///d/a.bin")
    assert found == PublishedFile("/cache/12/a-data", 0, 1234, table.epoch.begun)
    assert table.view.still(found)
    assert table.view.find("file:///d/b.bin") is None
    assert table.publish("file:///d/a.bin", "/cache/34/a-new", 99)  # rewritten in its slot
    assert table.view.find("file:///d/a.bin") == PublishedFile(
        "/cache/34/a-new", 0, 99, found.epoch
    )


def test_an_entry_says_the_cached_version_s_mtime_and_etag(table: Table) -> None:
    stable = table.epoch.stable()
    assert stable is not None
    assert table.files.publish("s3://b/k", "/cache/k", 0, 9, stable, 1700000000.25, '"9a7e"')
    assert table.view.find("s3://b/k") == PublishedFile(
        "/cache/k", 0, 9, stable, 1700000000.25, '"9a7e"'
    )
    table.files.publish("file:///d/a.bin", "/cache/a", 0, 3, stable)  # neither known
    found = table.view.find("file:///d/a.bin")
    assert found is not None and found.mtime is None and found.etag is None
    long_tag = "e" * (published.MOST_TEXT - len("/cache/k") + 1)
    assert not table.files.publish("s3://b/long", "/cache/k", 0, 9, stable, None, long_tag)


def test_a_change_that_may_drop_pages_invalidates_every_entry(table: Table) -> None:
    table.publish("file:///d/a.bin")
    found = table.view.find("file:///d/a.bin")
    assert found is not None
    with table.epoch.changing():
        assert table.view.find("file:///d/a.bin") is None  # a change in flight
        assert not table.view.still(found)
    assert table.view.find("file:///d/a.bin") is None and not table.view.still(found)
    table.publish("file:///d/a.bin")  # published again, at the new epoch
    assert table.view.find("file:///d/a.bin") is not None


def test_changed_rules_a_lapsed_lease_and_a_stop_invalidate_it(table: Table, monkeypatch) -> None:
    table.publish("file:///d/a.bin")
    table.files.renew(changed=False)
    assert table.view.find("file:///d/a.bin") is not None
    table.files.renew(changed=True)  # the rules or mounts in force changed
    assert table.view.find("file:///d/a.bin") is None
    table.publish("file:///d/a.bin")
    assert table.view.find("file:///d/a.bin") is not None
    monkeypatch.setattr(published, "LEASE_SECONDS", -1.0)
    table.files.renew(changed=False)  # a worker that stops renewing: lapsed
    assert table.view.find("file:///d/a.bin") is None
    monkeypatch.setattr(published, "LEASE_SECONDS", 2.0)
    table.files.renew(changed=False)
    assert table.view.find("file:///d/a.bin") is not None
    table.files.withdraw_all()
    assert table.view.find("file:///d/a.bin") is None


def test_a_new_run_over_the_same_file_reads_nothing_the_old_one_wrote(
    table: Table, tmp_path: Path
) -> None:
    table.publish("file:///d/a.bin")
    again = PublishedFiles(tmp_path / "published")  # the worker started again
    again.renew(changed=False)
    assert table.view.find("file:///d/a.bin") is None  # the old reader's mapping sees it
    stable = table.epoch.stable()
    assert stable is not None
    again.publish("file:///d/a.bin", "/cache/new", 0, 5, stable)
    assert table.view.find("file:///d/a.bin") == PublishedFile("/cache/new", 0, 5, stable)


def test_a_slot_being_written_is_not_read(table: Table) -> None:
    table.publish("file:///d/a.bin")
    first = int.from_bytes(published.name_hash("file:///d/a.bin")[:8], "little")
    at = published._slot_offset(first % published.SLOTS)
    (seq,) = struct.unpack_from("<Q", table.files._map, at)
    struct.pack_into("<Q", table.files._map, at, seq | 1)  # a writer mid-way
    assert table.view.find("file:///d/a.bin") is None
    struct.pack_into("<Q", table.files._map, at, (seq | 1) + 1)
    assert table.view.find("file:///d/a.bin") is not None


def test_names_sharing_slots_are_probed_and_the_oldest_gives_way(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(published, "SLOTS", 4)
    monkeypatch.setattr(published, "PROBES", 2)
    table = Table(tmp_path)
    names = [f"file:///d/{i}.bin" for i in range(4)]
    for i, name in enumerate(names):
        assert table.publish(name, f"/cache/{i}", i + 1)
    # Every slot is probed by two names' hashes at most: each was found, or gave way.
    found = {name: table.view.find(name) for name in names}
    assert found[names[-1]] == PublishedFile("/cache/3", 0, 4, table.epoch.begun)
    for i, name in enumerate(names):
        assert found[name] is None or found[name] == PublishedFile(
            f"/cache/{i}", 0, i + 1, table.epoch.begun
        )
    with table.epoch.changing():
        pass  # every entry stale now: the next writes take the first slot probed
    for i, name in enumerate(names):
        assert table.publish(name, f"/cache/new{i}", 7)
        assert table.view.find(name) == PublishedFile(f"/cache/new{i}", 0, 7, table.epoch.begun)


def test_a_data_path_too_long_to_keep_is_not_published(table: Table) -> None:
    assert not table.publish("file:///d/a.bin", "/" + "x" * published.MOST_TEXT)
    assert table.view.find("file:///d/a.bin") is None


def test_a_view_of_no_table_or_another_file_is_none(tmp_path: Path, table: Table) -> None:
    (tmp_path / "other").write_bytes(b"\0" * (published._slot_offset(published.SLOTS)))
    assert PublishedView.open(str(tmp_path / "other"), table.view.epoch) is None
    assert PublishedView.open(str(tmp_path / "missing"), table.view.epoch) is None
