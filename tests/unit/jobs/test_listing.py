"""`FileSource` lists a job's files in the UFS's listing order, with subdirectories listed
at once: every file once, cursors that resume exactly after a page, failures per root."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ringcache.cluster.jobs import source as listing
from ringcache.cluster.jobs.model import Cursor
from ringcache.cluster.jobs.source import FileSource
from ringcache.cluster.ufs.factory import ConfinedUfsFactory
from ringcache.cluster.ufs.mounts import MountPoint, MountTable
from ringcache.simulations.costs import IoMeter, NetworkModel, NodeModel
from ringcache.simulations.namespace import SimNamespace
from ringcache.simulations.ufs import SimUfs
from tests.conftest import write_tree

TREE = [
    "a.txt",  # a file sorting before the directory a/ as text, after it in listing order
    "a/b/c.bin",
    "a/b/d.bin",
    "a/e.bin",
    "a0.bin",
    "b/x.bin",
    *(f"many/f{i:03d}.bin" for i in range(25)),
    "many/sub/deep/z.bin",
    "top.bin",
    "z/last.bin",
]


@pytest.fixture
def local(tmp_path: Path) -> tuple[MountTable, ConfinedUfsFactory]:
    root = write_tree(tmp_path / "ufs", {name: b"x" * (i + 1) for i, name in enumerate(TREE)})
    (root / "empty").mkdir()
    return MountTable([MountPoint("/data", f"file://{root}", {})]), ConfinedUfsFactory()


def _listed(roots, table, factory, file_filter=None) -> list:
    """What the UFS itself lists for each root that lists, in order: the oracle."""
    files = []
    for root in roots:
        try:
            mount, uri = table.resolve(root)
            ufs = factory(mount.ufs, mount.options)
            files += [f for page in ufs.list_files(uri, page_size=7) for f in page]
        except Exception:  # noqa: BLE001 - a root that fails to list lists nothing
            continue
    return [f for f in files if file_filter is None or file_filter in f.path]


def _pages(roots, table, factory, cursor, size, file_filter=None, concurrency=3):
    async def run():
        source = FileSource(
            iter(roots), table, factory, cursor, asyncio.to_thread, size, file_filter, concurrency
        )
        pages = []
        try:
            while (page := await source.next_page()) is not None:
                pages.append(page)
        finally:
            source.close()
        return pages

    return asyncio.run(run())


def _files(pages) -> list:
    return [f for page in pages for f in page.files]


def _failures(pages) -> list:
    return [f for page in pages for f in page.failures]


ROOTS = ["/data", "/data/top.bin", "/data/missing", "/nowhere", "/data/many"]


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_every_file_in_listing_order_and_a_failure_for_each_root_that_fails(
    local, monkeypatch, size
):
    monkeypatch.setattr(listing, "LIST_CHUNK", 3)  # directories answer in several chunks
    table, factory = local
    pages = _pages(ROOTS, table, factory, Cursor(), size)
    assert len(_files(pages)) == len(TREE) + 1 + 26  # /data, top.bin, many/ again
    assert _files(pages) == _listed(ROOTS, table, factory)
    failures = _failures(pages)
    assert [f["path"].rsplit("/", 1)[-1] for f in failures] == ["missing", "nowhere"]
    assert failures[1]["reason"] == "INVALID_PATH"  # under no mount point
    assert pages[-1].cursor == Cursor(len(ROOTS), None, True)
    assert all(len(page.files) <= size + 2 for page in pages)  # a page and a chunk at most


def test_resuming_from_any_cursor_lists_exactly_the_rest(local, monkeypatch):
    monkeypatch.setattr(listing, "LIST_CHUNK", 2)
    table, factory = local
    everything = _listed(ROOTS, table, factory)
    pages = _pages(ROOTS, table, factory, Cursor(), 1)
    assert _files(pages) == everything
    seen = 0
    for page in pages[:-1]:
        seen += len(page.files)
        rest = _files(_pages(ROOTS, table, factory, page.cursor, 5))
        assert rest == everything[seen:]  # nothing lost, nothing twice
    assert seen >= len(everything) - 1


def test_a_filter_keeps_what_it_keeps_and_the_cursor_still_moves(local):
    table, factory = local
    pages = _pages(["/data"], table, factory, Cursor(), 4, r"/many/f0[01]")
    assert [f.path.rsplit("/", 1)[-1] for f in _files(pages)] == [
        f"f{i:03d}.bin" for i in range(20)
    ]
    assert pages[-1].cursor == Cursor(1, None, True)
    kept = _files(pages)
    for page in pages[:-1]:  # a cursor past filtered files resumes after the kept ones
        rest = _files(_pages(["/data"], table, factory, page.cursor, 4, r"/many/f0[01]"))
        assert kept == kept[: len(kept) - len(rest)] + rest
        assert not set(rest) & set(_files(pages[: pages.index(page) + 1]))


def test_subdirectories_list_concurrently_within_the_bound():
    # 40 directories of 50 files on a store whose every listing call takes 0.2 s (counted
    # by the calls in flight, which is what a slow listing would overlap).
    namespace = SimNamespace("sim://b/data", 2000, files_per_dir=50)
    in_flight, most = 0, 0

    async def run_io(func, *args):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.002)
            return func(*args)
        finally:
            in_flight -= 1

    ufs = SimUfs(namespace, IoMeter(NodeModel(), NetworkModel(), None))
    ufs.meter.active = True  # costs are not the question here
    table = MountTable([MountPoint("/data", "sim://b/data", {})])

    async def run(concurrency):
        source = FileSource(
            iter(["/data"]), table, lambda *_: ufs, Cursor(), run_io, 700, None, concurrency
        )
        files = []
        while (page := await source.next_page()) is not None:
            files += page.files
        return files

    files = asyncio.run(run(8))
    assert [f.path for f in files] == namespace.paths(0, 2000)
    assert 4 <= most <= 8 + 1  # the directories ahead, and the root's own listing
    most = 0
    assert asyncio.run(run(1)) == files
    assert most == 1


def _counting_source(table, factory, cursor):
    """Pages of /data over a run_io that counts its calls."""
    calls = []

    async def run_io(func, *args):
        calls.append(func)
        return func(*args)

    async def run():
        source = FileSource(iter(["/data"]), table, factory, cursor, run_io, 1000)
        pages = []
        try:
            while (page := await source.next_page()) is not None:
                pages.append(page)
        finally:
            source.close()
        return pages

    return asyncio.run(run()), calls


def test_a_small_directory_lists_in_one_io_call(tmp_path: Path):
    root = write_tree(tmp_path / "ufs", {f"d{i:02d}/f.bin": b"x" for i in range(20)})
    table = MountTable([MountPoint("/data", f"file://{root}", {})])
    pages, calls = _counting_source(table, ConfinedUfsFactory(), Cursor())
    assert len(_files(pages)) == 20
    # The root's path and its end, the root's listing, then one call a directory.
    assert len(calls) == 3 + 20
