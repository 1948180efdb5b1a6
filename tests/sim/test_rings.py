"""`ringcache simulate rings`: its JSON checked against an independent count, its report,
its errors; and the simulated cluster run under each ring policy."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import replace

import pytest

from ringcache.cli.simulate import main
from ringcache.cluster.ring.build import build_ring
from ringcache.cluster.ring.policy import POLICIES
from ringcache.simulations.rings import compare_rings, rings_workload
from ringcache.simulations.scenarios import run_scenario
from ringcache.simulations.spec import SimSpec, sim_config

WORKERS, FILES, SEED, SKEW = 8, 3000, 5, 1.2


def independent_counts(policy: str) -> dict:
    """Balance and movement counted path by path with `owners`, not as the command does."""
    load = rings_workload(WORKERS, FILES, SEED, SKEW)
    ring = build_ring(load.worker_ids, policy)
    owner = {path: ring.owners(path)[0] for path in load.paths}
    files, size, reads = Counter(), Counter(), Counter()
    for path, nbytes, nreads in zip(
        load.paths, load.sizes.tolist(), load.reads.tolist(), strict=True
    ):
        files[owner[path]] += 1
        size[owner[path]] += nbytes
        reads[owner[path]] += nreads

    def spread(counter: Counter) -> dict:
        values = [counter[w] for w in load.worker_ids]
        mean = statistics.fmean(values)
        return {"maxOverMean": max(values) / mean, "cv": statistics.pstdev(values) / mean}

    def moved(members: list[str]) -> float:
        other = build_ring(members, policy)
        return sum(other.owners(p)[0] != owner[p] for p in load.paths) / FILES

    return {
        "files": spread(files),
        "bytes": spread(size),
        "reads": spread(reads),
        "join": moved([*load.worker_ids, load.joiner]),
        "leave": moved([w for w in load.worker_ids if w != load.leaver]),
        "leaverShare": files[load.leaver] / FILES,
        "reads_total": sum(reads.values()),
    }


def test_the_summary_agrees_with_an_independent_count(tmp_path, capsys):
    sizes = ["--workers", str(WORKERS), "--files", str(FILES), "--seed", str(SEED)]
    code = main(["simulate", "rings", *sizes, "--skew", f"zipf-{SKEW}", "--report", str(tmp_path)])
    assert code == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["workers"], summary["files"], summary["seed"], summary["skew"]) == (
        WORKERS,
        FILES,
        SEED,
        SKEW,
    )
    assert list(summary["policies"]) == list(POLICIES)
    for policy, entry in summary["policies"].items():
        expected = independent_counts(policy)
        for load in ("files", "bytes", "reads"):
            for measure in ("maxOverMean", "cv"):
                assert entry[load][measure] == pytest.approx(expected[load][measure], rel=1e-9)
        assert entry["join"]["moved"] == pytest.approx(expected["join"], abs=1e-12)
        assert entry["leave"]["moved"] == pytest.approx(expected["leave"], abs=1e-12)
        assert entry["join"]["ideal"] == pytest.approx(1 / (WORKERS + 1))
        assert entry["leave"]["ideal"] == pytest.approx(1 / WORKERS)
        assert entry["leave"]["leaverShare"] == pytest.approx(expected["leaverShare"])
        assert entry["join"]["ratio"] == pytest.approx(entry["join"]["moved"] * (WORKERS + 1))
        assert summary["reads"] == expected["reads_total"] == 10 * FILES
        assert policy in err  # the table
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    details = json.loads((tmp_path / "details.json").read_text())
    assert sum(details["maglev"]["files"]) == FILES
    for chart in ("rings_balance.png", "rings_movement.png", "rings_files_per_worker.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_same_seed_gives_the_same_summary_and_another_seed_another():
    one = compare_rings(6, 500, 2, 1.0, policies=("maglev", "bounded"))
    assert one == compare_rings(6, 500, 2, 1.0, policies=("maglev", "bounded"))
    assert one != compare_rings(6, 500, 3, 1.0, policies=("maglev", "bounded"))


def test_skew_concentrates_the_reads():
    flat = compare_rings(10, 2000, 1, 0.0, policies=("maglev",))["policies"]["maglev"]
    hot = compare_rings(10, 2000, 1, 2.0, policies=("maglev",))["policies"]["maglev"]
    # Zipf 2: the hottest file alone draws 1/zeta(2) = 61% of the reads.
    assert hot["reads"]["maxOverMean"] > 5 > 1.5 > flat["reads"]["maxOverMean"]
    assert hot["files"] == flat["files"]


@pytest.mark.parametrize(
    "args",
    [
        ["--skew", "pareto"],
        ["--skew", "zipf--1"],
        ["--workers", "1"],
        ["--files", "0"],
        ["--virtual-nodes", "0"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, capsys):
    assert main(["simulate", "rings", *args]) == 2
    assert "ringcache simulate rings:" in capsys.readouterr().err


def scale_out(policy: str) -> dict:
    # Few virtual nodes: lopsided arcs, so the bounded policy places unlike Alluxio's ring.
    spec = replace(SimSpec(), config=sim_config(ring_policy=policy, virtual_nodes=4))
    return run_scenario("scale-out", 4, 300, 1, spec=spec, add=1)


@pytest.fixture(scope="module")
def alluxio_scale_out() -> dict:
    return scale_out("alluxio")


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "alluxio"])
def test_the_simulated_cluster_loads_and_rebalances_under_each_policy(policy, alluxio_scale_out):
    summary = scale_out(policy)  # the safety and liveness checkers raise if placement is off
    assert summary["failures"] == {}
    assert {job["state"] for job in summary["jobs"].values()} == {"SUCCEEDED"}
    moved = summary["bytesMoved"]
    assert moved["moved"] == moved["ownerChanged"] == moved["pruned"] > 0
    # The cluster placed by this policy, not by Alluxio's ring.
    assert summary["perWorkerBytes"] != alluxio_scale_out["perWorkerBytes"]
