"""The load scenario through the job engine: every file ends on its ring owner, and one seed
gives one summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.simulations.cluster import SimCluster
from ringcache.simulations.jobs import run_job
from ringcache.simulations.namespace import SizeDistribution
from ringcache.simulations.scenarios import run_scenario, summary_json
from ringcache.simulations.spec import SimSpec, sim_config

SMALL = SimSpec(
    files_per_dir=40,
    sizes=SizeDistribution("lognormal", median=3 * 2**20, sigma=1.0, max=64 * 2**20),
    config=sim_config(virtual_nodes=100),
)


def test_the_job_engine_run_in_the_simulator_puts_every_file_whole_on_its_owner():
    spec = replace(SMALL, workers=5, files=250, seed=4)
    with SimCluster(spec) as cluster:
        body = {"paths": ["/data"], "alias": "all", "options": {"batchSize": 20}}
        job = cluster.run(run_job(cluster, "load", body))
        assert job["state"] == "SUCCEEDED"
        assert job["loadedBytes"] == cluster.namespace.total_bytes
        ring = cluster.coordinator.ring
        for i in range(cluster.namespace.files):
            path = cluster.namespace.path(i)
            holders = [w for w in cluster.worker_ids if cluster.store(w).file_info(path)]
            assert holders == ring.owners(path), path
            assert cluster.store(holders[0]).file_info(path).complete
        assert cluster.ufs_bytes_read() == cluster.namespace.total_bytes
        assert cluster.unmetered_io() == 0


def test_the_summary_reports_the_load():
    summary = run_scenario("load", 5, 200, 11, spec=SMALL)
    assert summary["scenario"] == "load" and summary["seed"] == 11
    job = summary["jobs"]["load#1"]
    assert job["state"] == "SUCCEEDED" and job["scannedFiles"] == 200
    assert summary["failures"] == {}
    assert job["loadedBytes"] == summary["bytesFromUfs"] == summary["bytesInNamespace"]
    per_worker = summary["perWorkerBytes"]
    assert per_worker["max"] >= per_worker["mean"] >= per_worker["min"] > 0
    assert per_worker["mean"] * 5 == pytest.approx(job["loadedBytes"])
    assert summary["virtualSeconds"] > 0
    assert (
        summary["replay"] == "ringcache simulate load --workers 5 --files 200 --seed 11"
        " (with the SimSpec given in code)"
    )


def test_one_seed_gives_one_summary_and_another_seed_another():
    first = summary_json(run_scenario("load", 4, 150, 5, spec=SMALL))
    assert summary_json(run_scenario("load", 4, 150, 5, spec=SMALL)) == first
    assert summary_json(run_scenario("load", 4, 150, 6, spec=SMALL)) != first


# Jitter and a shared UFS link make the outcome depend on the order of every call.
_CHILD = """
import sys
from ringcache.simulations.costs import NetworkModel
from ringcache.simulations.scenarios import run_scenario, summary_json
from ringcache.simulations.spec import SimSpec
spec = SimSpec(network=NetworkModel(rpc_jitter=0.002, ufs_bandwidth=2e9))
sys.stdout.write(summary_json(run_scenario("load", 8, 300, 5, spec=spec)))
"""


def test_the_summary_does_not_depend_on_string_hashing():
    """Set or dict order that leaks into a run would differ between hash seeds."""

    def child(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = child("1")
    assert json.loads(first)["jobs"]["load#1"]["scannedFiles"] == 300
    assert child("2") == first


def test_injected_read_errors_are_counted_by_reason():
    spec = replace(SMALL, read_error_rate=0.2)
    summary = run_scenario("load", 4, 200, 2, spec=spec)
    failed = summary["failures"].get("UFS_READ_FAILED", 0)
    assert 0 < failed < 200 and summary["ufsReadErrors"] >= failed
    job = summary["jobs"]["load#1"]
    assert job["failedFiles"] == failed and job["state"] == "FAILED"


def test_a_slow_worker_slows_the_load_down():
    fast = run_scenario("load", 4, 200, 2, spec=SMALL)
    slow = run_scenario("load", 4, 200, 2, spec=replace(SMALL, slow_workers=1, slowdown=10.0))
    assert slow["virtualSeconds"] > fast["virtualSeconds"]
    for summary in (fast, slow):
        assert summary["jobs"]["load#1"]["state"] == "SUCCEEDED"


def test_unknown_scenarios_and_sizes_are_refused():
    with pytest.raises(InvalidArgument, match="load"):
        run_scenario("teleport", 1, 1, 0)
    with pytest.raises(InvalidArgument):
        run_scenario("load", 0, 1, 0)
    with pytest.raises(InvalidArgument, match="load-direct"):
        run_scenario("load-direct", 2, 1, 0)  # gone: every scenario runs the job engine
