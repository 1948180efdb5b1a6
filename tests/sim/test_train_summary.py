"""`simulate train`'s numbers against independent counts on cases small enough to work out."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.build import build_ring
from ringcache.simulations.namespace import SizeDistribution
from ringcache.simulations.spec import SimSpec, sim_config
from ringcache.simulations.train import run_train
from ringcache.simulations.workloads import Window, epochs_workload, trace_workload

PAGE = 4096
VNODES = 100


def _spec(files: int, sizes: SizeDistribution, capacity: int, seed: int = 3) -> SimSpec:
    config = sim_config(capacity=capacity, page_size=PAGE, virtual_nodes=VNODES)
    return SimSpec(workers=3, files=files, seed=seed, sizes=sizes, config=config)


def _epochs(epochs: int, clients: int = 1, seed: int = 3):
    def workload(paths: list[str]) -> list[Window]:
        return epochs_workload(paths, epochs, clients, seed)

    return workload


def _owners(worker_ids: list[str], paths: list[str]) -> list[str]:
    ring = build_ring(worker_ids, "alluxio", VNODES)
    return [ring.owners(path, 1)[0] for path in paths]


def test_a_cache_larger_than_the_dataset_misses_once_then_always_hits() -> None:
    sizes = SizeDistribution("lognormal", median=9000, sigma=1.0, min=0, max=50_000)
    spec = _spec(200, sizes, capacity=64 * 1024**2)
    captured: list[list[Window]] = []

    def workload(paths: list[str]) -> list[Window]:
        captured.append(epochs_workload(paths, 3, 2, spec.seed))
        return captured[0]

    summary = run_train(spec, workload, clients=2)
    reads = [read for client in captured[0][0].clients for read in client]
    assert len({r.path for r in reads}) == len(reads) == 200  # every file once in an epoch
    space_sizes = sizes.draw(200, spec.seed_for("sizes")).tolist()
    pages = sum(-(-size // PAGE) for size in space_sizes)
    total = sum(space_sizes)
    first, *later = summary["windows"]
    assert (first["hits"], first["misses"], first["hitRatio"]) == (0, pages, 0.0)
    assert first["bytesFromUfs"] == first["ufsBytes"] == first["bytesServed"] == total
    for row in later:
        assert (row["hits"], row["misses"], row["ufsBytes"], row["evictedPages"]) == (
            pages,
            0,
            0,
            0,
        )
        assert row["hitRatio"] == row["byteHitRatio"] == 1.0
        assert row["latencyMs"]["p99"] < first["latencyMs"]["p50"]  # a hit skips the UFS
    # Each worker serves the files its ring owns, an epoch at a time.
    paths = sorted(r.path for r in reads)
    workers = summary["details"]["workers"]
    owned = dict.fromkeys(workers, 0)
    path_size = dict(zip(paths, space_sizes, strict=True))  # listing order is index order
    for path, owner in zip(paths, _owners(workers, paths), strict=True):
        owned[owner] += path_size[path]
    for served in summary["details"]["servedPerWorker"]:
        assert served == [owned[w] for w in workers]


def test_a_small_cache_hits_as_an_independent_lru_of_whole_files_says() -> None:
    size, per_worker = 2 * PAGE, 20  # fixed two-page files; each worker holds 20 of them
    spec = _spec(300, SizeDistribution("fixed", median=size, min=size, max=size), per_worker * size)
    captured: list[list[Window]] = []

    def workload(paths: list[str]) -> list[Window]:
        captured.append(epochs_workload(paths, 4, 1, spec.seed))
        return captured[0]

    summary = run_train(spec, workload, clients=1)
    workers = summary["details"]["workers"]
    paths = sorted(read.path for read in captured[0][0].clients[0])
    owner = dict(zip(paths, _owners(workers, paths), strict=True))
    caches: dict[str, OrderedDict[str, None]] = {w: OrderedDict() for w in workers}
    for window, row in zip(captured[0], summary["windows"], strict=True):
        hits = 0
        for read in window.clients[0]:
            lru = caches[owner[read.path]]
            if read.path in lru:
                hits += 1
                lru.move_to_end(read.path)
            else:
                lru[read.path] = None
                if len(lru) > per_worker:
                    lru.popitem(last=False)
        assert (row["hits"], row["misses"]) == (2 * hits, 2 * (300 - hits)), window.label
        assert row["ufsBytes"] == (300 - hits) * size
    # A shuffled re-read of 60 of 300 files: well under the 20% a cache of them could hold.
    assert 0 < summary["windows"][-1]["hitRatio"] < 0.2


def test_a_trace_is_replayed_at_its_times_and_counts_bad_reads_as_failures(
    tmp_path: Path,
) -> None:
    spec = _spec(10, SizeDistribution("fixed", median=3 * PAGE, min=3 * PAGE, max=3 * PAGE), 10**6)
    trace = tmp_path / "reads.trace"
    trace.write_text(
        "# time path offset length\n"
        "0.0 /data/dir-0000/part-00000001.bin 0 -\n"
        "\n"
        "5.0 /data/dir-0000/part-00000001.bin 100 5000\n"  # pages 0 and 1: both hits
        "6.0 /data/dir-0000/part-00000002.bin 4096 10\n"  # one page, a miss
        "7.0 /data/no-such-file.bin 0 10\n"
        "8.0 /elsewhere/file.bin 0 10\n"
    )

    def workload(paths: list[str]) -> list[Window]:
        return trace_workload(trace, windows=1, clients=1)

    summary = run_train(spec, workload, clients=1)
    (row,) = summary["windows"]
    assert (row["hits"], row["misses"]) == (2, 4)
    assert row["bytesServed"] == 3 * PAGE + 5000 + 10
    assert row["virtualSeconds"] >= 8.0
    assert sum(summary["failures"].values()) == 2


@pytest.mark.parametrize(
    "line",
    ["0 /data/a.bin 0", "x /data/a.bin 0 1", "0 /data/a.bin -1 1", "-1 /data/a.bin 0 1"],
)
def test_a_malformed_trace_line_is_refused_with_its_number(tmp_path: Path, line: str) -> None:
    trace = tmp_path / "bad.trace"
    trace.write_text("0 /data/a.bin 0 -\n" + line + "\n")
    with pytest.raises(InvalidArgument, match="trace line 2"):
        trace_workload(trace, 1, 1)


def test_the_same_seed_gives_the_same_summary_and_another_seed_another() -> None:
    sizes = SizeDistribution("lognormal", median=6000, sigma=1.0, min=1, max=40_000)
    runs = [
        run_train(_spec(150, sizes, 200_000, seed), _epochs(2, 3, seed), 3) for seed in (5, 5, 6)
    ]
    assert runs[0] == runs[1]
    assert runs[0]["windows"] != runs[2]["windows"]
