"""The simulated UFS answers as cluster/ufs.py does on a real tree of the same shape."""

from __future__ import annotations

import inspect
import random
from pathlib import Path

import pytest

from ringcache.cluster.errors import InvalidArgument, UfsError, UfsNotFound
from ringcache.cluster.ufs.filesystem import UnderFileSystem
from ringcache.simulations.costs import IoMeter, NetworkModel, NodeModel
from ringcache.simulations.namespace import SimNamespace, SizeDistribution
from ringcache.simulations.ufs import SimUfs

ROOT = "sim://data"


def _pair(
    tmp_path: Path, files: int = 23, per_dir: int = 5
) -> tuple[SimUfs, UnderFileSystem, Path]:
    """A simulated namespace and a real directory with the same names and sizes."""
    space = SimNamespace(
        ROOT,
        files,
        files_per_dir=per_dir,
        sizes=SizeDistribution("uniform", min=0, max=300),
        seed=7,
    )
    real = tmp_path / "data"
    for i in range(files):
        path = real / "/".join(space.segments(i))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * space.size(i))
    meter = IoMeter(NodeModel(), NetworkModel(), None)
    meter.active = True  # these calls are not under a run_io
    return SimUfs(space, meter), UnderFileSystem("file:///"), real


def _relative(pages, top: str) -> list[list[tuple[str, int]]]:
    return [[(s.path[len(top) :], s.size) for s in page] for page in pages]


def _listing(ufs, top: str, **kwargs) -> list[list[tuple[str, int]]]:
    return _relative(ufs.list_files(top, **kwargs), top)


def test_it_offers_every_public_call_of_the_real_ufs_with_the_same_parameters():
    for name, member in inspect.getmembers(UnderFileSystem, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(SimUfs, name, None)
        assert ours is not None, f"SimUfs lacks {name}"
        theirs = list(inspect.signature(member).parameters)
        assert list(inspect.signature(ours).parameters) == theirs, name
    assert SimUfs.local_path(None, "sim://data/x") is None  # never copied by the kernel


def test_listing_pages_and_order_match_the_real_ufs(tmp_path):
    sim, real, root = _pair(tmp_path)
    top = f"file://{root}"
    for page_size in (1, 3, 7, 100):
        assert _listing(sim, ROOT, page_size=page_size) == _listing(real, top, page_size=page_size)
    flat = [entry for page in _listing(sim, ROOT, page_size=100) for entry in page]
    assert len(flat) == 23


def test_cursors_resume_exactly_where_the_real_ufs_does(tmp_path):
    sim, real, root = _pair(tmp_path)
    top = f"file://{root}"
    space = sim.namespace
    cursors = ["", "a", "zzz", "dir-0001a", "dir-00010", "dir-0002/part-0000001", "dir-0001/zzz"]
    cursors += [space.dir_name(d) for d in range(space.dirs)]
    cursors += ["/".join(space.segments(i)) for i in range(space.files)]
    cursors += ["/".join(space.segments(3)) + "/below-a-file"]
    for cursor in cursors:
        expected = _listing(real, top, page_size=4, start_after=f"{top}/{cursor}")
        assert _listing(sim, ROOT, page_size=4, start_after=f"{ROOT}/{cursor}") == expected, cursor


def test_listing_a_directory_or_a_file(tmp_path):
    sim, real, root = _pair(tmp_path)
    for below in ("dir-0002", "dir-0004", "dir-0001/part-00000007.bin"):
        for cursor in (None, "dir-0002/part-00000011.bin", "dir-0001/part-00000007.bin"):
            real_top, sim_top = f"file://{root}/{below}", f"{ROOT}/{below}"
            if cursor is not None and not cursor.startswith(below.split("/")[0]):
                continue
            expected = _listing(real, real_top, start_after=cursor and f"file://{root}/{cursor}")
            actual = _listing(sim, sim_top, start_after=cursor and f"{ROOT}/{cursor}")
            assert actual == expected, (below, cursor)


def test_one_level_listings_stats_and_existence_match(tmp_path):
    sim, real, root = _pair(tmp_path)
    for below in ("", "/dir-0003"):
        expected = [
            (s.path[len(f"file://{root}") :], s.size, d)
            for s, d in real.list_dir(f"file://{root}{below}")
        ]
        actual = [(s.path[len(ROOT) :], s.size, d) for s, d in sim.list_dir(f"{ROOT}{below}")]
        assert actual == expected
    for below in ("", "/dir-0003", "/dir-0003/part-00000016.bin", "/dir-0009", "/dir-0003/nope"):
        assert sim.is_dir(ROOT + below) == real.is_dir(f"file://{root}{below}"), below
        assert sim.exists(ROOT + below) == real.exists(f"file://{root}{below}"), below
    assert sim.stat(f"{ROOT}/dir-0003/part-00000016.bin").size == sim.namespace.size(16)
    # Other spellings of one file: normalized like the real UFS, or not found.
    assert sim.stat(f"{ROOT}//dir-0003/./part-00000016.bin").size == sim.namespace.size(16)
    for missing in (
        "/dir-3/part-00000016.bin",
        "/dir-0003/part-16.bin",
        "/dir-0000/part-00000016.bin",
    ):
        with pytest.raises(UfsNotFound):
            sim.stat(ROOT + missing)


def test_errors_match(tmp_path):
    sim, real, root = _pair(tmp_path)
    with pytest.raises(UfsError):
        sim.stat(f"{ROOT}/dir-0001")
    with pytest.raises(InvalidArgument):
        sim.list_files(ROOT, page_size=0)
    with pytest.raises(InvalidArgument):
        sim.list_files(f"{ROOT}/dir-0001", start_after=f"{ROOT}/dir-0002/x")
    with pytest.raises(InvalidArgument):
        real.list_files(f"file://{root}/dir-0001", start_after=f"file://{root}/dir-0002/x")
    pages = sim.list_files(f"{ROOT}/nothing-here")  # arguments fine: fails when advanced
    with pytest.raises(UfsNotFound):
        next(pages)
    with pytest.raises(InvalidArgument):
        sim.stat("file:///data/dir-0001/part-00000005.bin")
    with pytest.raises(UfsNotFound):
        sim.list_dir(f"{ROOT}/dir-0001/part-00000005.bin")


def test_reads_are_sized_zero_views_and_injected_errors_follow_the_seed(tmp_path):
    sim, _, _ = _pair(tmp_path)
    size = sim.namespace.size(5)
    uri = sim.namespace.path(5)
    assert len(sim.read(uri)) == size
    assert bytes(sim.read(uri, 10, 20)) == bytes(min(20, max(0, size - 10)))
    assert len(sim.read(uri, size + 5, 10)) == 0
    assert sim.bytes_read == size + min(20, max(0, size - 10))

    def failures(seed: int) -> list[bool]:
        flaky = SimUfs(sim.namespace, sim.meter, rng=random.Random(seed), read_error_rate=0.3)
        outcome = []
        for _ in range(200):
            try:
                flaky.read(uri)
                outcome.append(False)
            except UfsError as exc:
                assert exc.reason == "UFS_READ_FAILED"
                outcome.append(True)
        return outcome

    assert failures(1) == failures(1)
    assert 30 < sum(failures(1)) < 90
    assert failures(1) != failures(2)


def test_sizes_follow_the_distribution_and_the_seed():
    fixed = SimNamespace(ROOT, 10, sizes=SizeDistribution("fixed", median=123)).sizes
    assert fixed.tolist() == [123] * 10
    lognormal = SizeDistribution("lognormal", median=1000, sigma=1.0, max=50_000)
    a = SimNamespace(ROOT, 5000, sizes=lognormal, seed=1).sizes
    assert a.tolist() == SimNamespace(ROOT, 5000, sizes=lognormal, seed=1).sizes.tolist()
    assert a.tolist() != SimNamespace(ROOT, 5000, sizes=lognormal, seed=2).sizes.tolist()
    assert 800 < sorted(a.tolist())[2500] < 1250  # the median is near 1000
    assert a.max() <= 50_000 and a.min() >= 0
    with pytest.raises(InvalidArgument):
        SizeDistribution("pareto").draw(1, 0)


def test_paths_made_at_once_are_the_paths_made_one_by_one():
    space = SimNamespace(ROOT, 2500, files_per_dir=1000, seed=3)
    assert space.paths(0, 2500) == [space.path(i) for i in range(2500)]
    assert list(space.paths_and_sizes(998, 1003)) == [
        (space.path(i), space.size(i)) for i in range(998, 1003)
    ]
    assert space.paths(999, 2001) == [space.path(i) for i in range(999, 2001)]
    assert space.paths(7, 7) == []


def test_index_is_the_inverse_of_path_and_refuses_every_other_spelling():
    space = SimNamespace(ROOT, 2500, files_per_dir=1000, seed=3)
    assert [space.index(space.path(i)) for i in range(2500)] == list(range(2500))
    good = space.path(1500)  # .../dir-0001/part-00001500.bin
    near_misses = [
        good.replace("dir-0001", "dir-0002"),  # the file number in another directory
        good.replace("dir-0001", "dir-0000"),
        good.replace(".bin", ".bim"),
        good.replace("part-", "pert-"),
        good.replace(ROOT, ROOT[:-1] + "X"),
        good.replace("00001500", "00002500"),  # past the last file
        good[:-1],
        good + "/",
    ]
    assert [space.index(uri) for uri in near_misses] == [None] * len(near_misses)
