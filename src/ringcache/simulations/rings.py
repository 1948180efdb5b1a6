"""`ringcache simulate rings`: the ring policies side by side on one workload.

For each policy (`cluster.ring.policy.POLICIES`), the real ring of that policy
(`build_ring`, as the cluster builds it) places a seeded namespace of files; the summary
gives the balance (max/mean and coefficient of variation) of files, bytes (sizes drawn
from the simulator's `SizeDistribution`) and served reads (a Zipf-skewed read workload,
each read counted at the file's first owner) over the workers, and the fraction of files
(and of bytes) whose owner changes when one worker joins and when one leaves, against
the ideal: ``1/(N+1)`` of the files move to a joining worker, ``1/N`` leave a departing
one (on average; the files the departing worker held is the least that must move).
"""

from __future__ import annotations

import math
import random
import re
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cluster.errors import InvalidArgument
from ..cluster.ring.build import build_ring
from ..cluster.ring.policy import POLICIES
from .namespace import SizeDistribution

READS_PER_FILE = 10  # reads drawn, per file, for the served-reads balance
_SKEW = re.compile(r"^zipf-(\d+(\.\d*)?|\.\d+)$")


def parse_skew(text: str) -> float:
    """The Zipf exponent of ``zipf-<s>`` (``uniform`` is ``zipf-0``); InvalidArgument else."""
    if text == "uniform":
        return 0.0
    found = _SKEW.match(text or "")
    if found is None:
        raise InvalidArgument(f"--skew is zipf-<exponent> (e.g. zipf-1.1) or uniform, not {text!r}")
    return float(found.group(1))


@dataclass(frozen=True)
class RingsWorkload:
    """The members, the worker that joins and the one that leaves, and the files: their
    paths, sizes and reads (each file's count of reads under the skewed workload)."""

    worker_ids: list[str]
    joiner: str
    leaver: str
    paths: list[str]
    sizes: np.ndarray
    reads: np.ndarray


def rings_workload(workers: int, files: int, seed: int, skew: float) -> RingsWorkload:
    """The workload of a `simulate rings` run; the same arguments always give the same."""
    if workers < 2 or files < 1:
        raise InvalidArgument("simulate rings needs at least two workers and one file")
    if skew < 0 or not math.isfinite(skew):
        raise InvalidArgument(f"the Zipf exponent must be finite and >= 0, not {skew}")
    ids = random.Random(seed)
    members = [
        f"worker-{uuid.UUID(int=ids.getrandbits(128), version=4)}" for _ in range(workers + 1)
    ]
    generator = np.random.Generator(np.random.PCG64(seed))
    paths = [f"s3://bucket/data/{i // 1000:05d}/part-{i:07d}.bin" for i in range(files)]
    sizes = SizeDistribution().draw(files, seed)
    rank = generator.permutation(files)  # file i is the rank[i]-th most popular
    weights = 1.0 / np.power(rank + 1.0, skew)
    reads = generator.multinomial(READS_PER_FILE * files, weights / weights.sum())
    leaver = members[int(generator.integers(workers))]
    return RingsWorkload(members[:workers], members[workers], leaver, paths, sizes, reads)


def spread(values: np.ndarray) -> dict[str, float]:
    """max/mean and the coefficient of variation (population std/mean) of per-worker loads."""
    mean = float(values.mean())
    if mean == 0:
        return {"maxOverMean": 0.0, "cv": 0.0}
    return {"maxOverMean": float(values.max()) / mean, "cv": float(values.std()) / mean}


def _owner_names(ring: Any, paths: list[str]) -> np.ndarray:
    return np.array(ring.worker_ids, dtype=object)[ring.first_owners(paths)]


def measure_policy(
    policy: str, load: RingsWorkload, virtual_nodes: int
) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """One policy's balance and movement (the summary's entry), and its per-worker loads."""
    ring = build_ring(load.worker_ids, policy, virtual_nodes)
    places = ring.first_owners(load.paths)
    workers = len(ring)
    per_worker = {
        "files": np.bincount(places, minlength=workers),
        "bytes": np.bincount(places, weights=load.sizes, minlength=workers),
        "reads": np.bincount(places, weights=load.reads, minlength=workers),
    }
    before = np.array(ring.worker_ids, dtype=object)[places]
    total_bytes = float(load.sizes.sum()) or 1.0
    entry: dict[str, Any] = {name: spread(values) for name, values in per_worker.items()}
    left_share = float(np.mean(before == load.leaver))
    for event, members, ideal in (
        ("join", [*load.worker_ids, load.joiner], 1 / (workers + 1)),
        ("leave", [w for w in load.worker_ids if w != load.leaver], 1 / workers),
    ):
        moved = before != _owner_names(ring.with_workers(members), load.paths)
        fraction = float(moved.mean())
        entry[event] = {
            "moved": fraction,
            "movedBytes": float(load.sizes[moved].sum()) / total_bytes,
            "ideal": ideal,
            "ratio": fraction / ideal,
        }
    entry["leave"]["leaverShare"] = left_share
    details = {
        name: sorted(v.astype(np.int64).tolist(), reverse=True) for name, v in per_worker.items()
    }
    return entry, details


def compare_rings(
    workers: int,
    files: int,
    seed: int,
    skew: float = 1.1,
    virtual_nodes: int = 2000,
    policies: tuple[str, ...] = POLICIES,
) -> dict[str, Any]:
    """The summary of a `simulate rings` run; `details` holds each policy's sorted
    per-worker files, bytes and reads, for the charts."""
    load = rings_workload(workers, files, seed, skew)
    summary: dict[str, Any] = {
        "scenario": "rings",
        "workers": workers,
        "files": files,
        "seed": seed,
        "skew": skew,
        "virtualNodes": virtual_nodes,
        "reads": int(load.reads.sum()),
        "bytes": int(load.sizes.sum()),
        "policies": {},
        "details": {},
    }
    for policy in policies:
        summary["policies"][policy], summary["details"][policy] = measure_policy(
            policy, load, virtual_nodes
        )
    return summary


def rings_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table, a policy a row."""
    head = (
        f"{'policy':<8} {'files max/mean':>14} {'cv':>6} {'bytes max/mean':>14} {'cv':>6} "
        f"{'reads max/mean':>14} {'cv':>6} {'join moved':>10} {'x ideal':>7} "
        f"{'leave moved':>11} {'x ideal':>7}"
    )
    rows = [head]
    for policy, entry in summary["policies"].items():
        cells = [f"{policy:<8}"]
        for name in ("files", "bytes", "reads"):
            cells += [f"{entry[name]['maxOverMean']:>14.3f}", f"{entry[name]['cv']:>6.3f}"]
        for event, width in (("join", 10), ("leave", 11)):
            cells += [f"{entry[event]['moved']:>{width}.4f}", f"{entry[event]['ratio']:>7.2f}"]
        rows.append(" ".join(cells))
    return "\n".join(rows)
