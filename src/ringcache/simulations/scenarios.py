"""Named scenarios and their JSON summaries: what `ringcache simulate` runs.

Each scenario builds a `SimCluster` from a `SimSpec`, drives it, and answers a summary
that depends only on the spec, so the same seed gives the same summary byte for byte
(`summary_json`). Wall-clock measurements belong to the caller (see bench/bench_sim.py).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from ..cluster.errors import InvalidArgument
from .cluster import SimCluster
from .jobs import run_job
from .load import LoadTally, load_namespace
from .spec import SimSpec

Scenario = Callable[[SimSpec, dict[str, Any]], dict[str, Any]]


def run_scenario(name: str, workers: int, files: int, seed: int, **options: Any) -> dict[str, Any]:
    """Run scenario `name` on `workers` workers and `files` files; its summary as a dict.

    `options` go to the scenario (for `load`: `spec`, a `SimSpec` to start from, and
    `batch_size`, `per_worker_batches`). Raises InvalidArgument for an unknown name.
    """
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise InvalidArgument(f"unknown scenario {name!r}; choose one of: {known}") from None
    if workers < 1 or files < 0:
        raise InvalidArgument("need at least one worker and no negative file count")
    base: SimSpec = options.pop("spec", None) or SimSpec()
    spec = replace(base, workers=workers, files=files, seed=seed)
    summary = scenario(spec, options)
    summary["replay"] = (
        f"ringcache simulate {name} --workers {workers} --files {files} --seed {seed}"
    )
    return summary


def summary_json(summary: dict[str, Any]) -> str:
    """The canonical text of a summary: sorted keys, so equal runs give equal bytes."""
    return json.dumps(summary, sort_keys=True, indent=2)


def load_scenario(spec: SimSpec, options: dict[str, Any]) -> dict[str, Any]:
    """Start the cluster, load every file onto its ring owner (no job engine), report."""
    with SimCluster(spec) as cluster:
        started = cluster.clock.elapsed()
        tally = cluster.run(load_namespace(cluster, **options))
        finished = cluster.clock.elapsed()
        summary = _summary("load", spec, cluster, tally, finished - started)
    return summary


def load_job_scenario(spec: SimSpec, options: dict[str, Any]) -> dict[str, Any]:
    """The same load, submitted to the coordinator's job engine as `POST /load` would be."""
    body = {
        "paths": [spec.mount_path],
        "alias": "simulated-load",
        "options": {"batchSize": options.pop("batch_size", 200)},
    }
    with SimCluster(spec) as cluster:
        started = cluster.clock.elapsed()
        job = cluster.run(run_job(cluster, "load", body, **options))
        finished = cluster.clock.elapsed()
        tally = LoadTally(
            files_loaded=job.get("loadedNonEmptyFiles", 0),
            bytes_loaded=job.get("loadedBytes", 0),
            files_skipped=job.get("skippedFiles", 0),
        )
        for failure in job.get("failures", []):
            tally.failures[str(failure.get("reason", "UNKNOWN"))] += 1
        summary = _summary("load-job", spec, cluster, tally, finished - started)
        summary.update(
            jobState=job["state"],
            failedFiles=job.get("failedFiles", 0),
            jobSeconds=job.get("timeElapsedMilliseconds", 0) / 1000,
        )
        del summary["batches"]  # the engine does not report its batches
    return summary


SCENARIOS: dict[str, Scenario] = {"load": load_scenario, "load-job": load_job_scenario}


def _summary(
    name: str, spec: SimSpec, cluster: SimCluster, tally: LoadTally, seconds: float
) -> dict[str, Any]:
    workers = cluster.worker_ids
    cached = [cluster.store(w).stats().used_bytes for w in workers]
    return {
        "scenario": name,
        "seed": spec.seed,
        "workers": spec.workers,
        "files": spec.files,
        "virtualSeconds": round(seconds, 6),
        "bytesInNamespace": cluster.namespace.total_bytes,
        "bytesFromUfs": cluster.ufs_bytes_read(),
        "filesLoaded": tally.files_loaded,
        "bytesLoaded": tally.bytes_loaded,
        "batches": tally.batches,
        "perWorkerBytes": spread(cached),
        "failures": dict(sorted(tally.failures.items())),
        "events": cluster.loop.events,
        "messages": cluster.network.messages,
    }


def spread(values: Iterable[int]) -> dict[str, float]:
    """max, mean, min, max/mean and coefficient of variation (population) of `values`."""
    values = list(values)
    if not values:
        return {"max": 0, "mean": 0.0, "min": 0, "maxOverMean": 0.0, "cv": 0.0}
    mean = statistics.fmean(values)
    cv = statistics.pstdev(values) / mean if mean else 0.0
    return {
        "max": max(values),
        "mean": round(mean, 3),
        "min": min(values),
        "maxOverMean": round(max(values) / mean, 6) if mean else 0.0,
        "cv": round(cv, 6),
    }
