"""`ringcache simulate train`: a training job's reads replayed on the simulated cluster.

Each client reads through the real worker read path (`Worker.read`, the `Reads` service:
hit from the production `PageStore`, miss read from the simulated UFS and cached, evicted
by the production eviction order, per page as on disk) on the owner the coordinator's
real ring names; the run is on virtual time, deterministic from the seed. Windows
(epochs, or slices of a Zipf or trace run) run one after another: every client finishes a
window before the next begins, as a training loop waits at an epoch's end.

What one window reports, from the workers' own counters (`READ_COUNTERS`), summed over
the workers:

- `hitRatio`: pages hit / pages read, the worker's definition (`read_metrics`): a whole
  read of a 3-page file counts 3; `byteHitRatio`: bytesFromCache / (bytesFromCache +
  bytesFromUfs);
- `ufsBytes`: bytes the UFS sent (read-through of missing pages, whole pages);
- `served`: per-worker bytes served (max, mean, max/mean); `evictedPages`;
- `latencyMs`: p50/p95/p99/mean of each read, from asking to holding the bytes.

The latency model (costs.py, plus the answer's trip here): a request's one-way RPC
latency; on the worker, the UFS's first-byte latency per ranged GET and metadata latency
per stat, the UFS bytes over the worker's NIC and the page writes and reads over its disk
(FIFO links: concurrent reads queue); the answer's bytes over the worker's NIC out (a FIFO
link per worker, kept here: costs.py models NICs inbound only) and the client's NIC in,
and the one-way latency back. Not modelled: CPU time, TCP slow start, page-cache effects.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..cluster.errors import RingcacheError
from ..cluster.worker.reads import READ_COUNTERS
from .cluster import SimCluster
from .costs import IoMeter, Link
from .loop import virtual_sleep
from .refs import SimRef
from .spec import SimSpec
from .summary import spread
from .workloads import Read, Window

Counters = Mapping[str, Mapping[str, int]]  # worker id -> its read counters


def window_counts(before: Counters, after: Counters) -> dict[str, Any]:
    """What the workers counted between two snapshots of their counters: the totals, the
    hit ratios (by pages and by bytes) and each worker's bytes served."""
    deltas = {
        worker: {
            name: after[worker].get(name, 0) - before.get(worker, {}).get(name, 0)
            for name in READ_COUNTERS
        }
        for worker in sorted(after)
    }
    total = {name: sum(d[name] for d in deltas.values()) for name in READ_COUNTERS}
    pages = total["hits"] + total["misses"]
    moved = total["bytesFromCache"] + total["bytesFromUfs"]
    return {
        **total,
        "hitRatio": total["hits"] / pages if pages else 0.0,
        "byteHitRatio": total["bytesFromCache"] / moved if moved else 0.0,
        "servedPerWorker": [deltas[w]["bytesServed"] for w in sorted(deltas)],
    }


def latency_ms(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0}
    values = np.asarray(latencies) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99]).tolist()
    return {
        "p50": round(p50, 4),
        "p95": round(p95, 4),
        "p99": round(p99, 4),
        "mean": round(float(values.mean()), 4),
    }


@dataclass
class _Clients:
    """The simulated readers: a NIC each (answers queue on it), a ref per worker naming the
    client as caller, and each worker's outbound NIC."""

    cluster: SimCluster
    count: int
    refs: list[dict[str, SimRef]] = field(default_factory=list)
    egress: dict[str, Link] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec, network = self.cluster.spec, self.cluster.network
        for c in range(self.count):
            name = f"client-{c}"
            network.meters[name] = IoMeter(spec.node, spec.network, None)
            self.refs.append(
                {w: SimRef(e, network, name) for w, e in self.cluster.peers.endpoints.items()}
            )
        self.egress = {w: Link(spec.node.nic_bandwidth) for w in self.cluster.worker_ids}


class TrainRun:
    """Replays windows of reads on a started `SimCluster`, one window at a time."""

    def __init__(self, cluster: SimCluster, clients: int) -> None:
        self.cluster = cluster
        self.clients = _Clients(cluster, clients)
        spec = cluster.spec
        self._mount_prefix = spec.mount_path.rstrip("/") + "/"
        self._ufs_root = cluster.namespace.root
        self._started = cluster.loop.time()  # trace times count from here
        self.failures: dict[str, int] = {}

    def uri(self, path: str) -> str:
        """A trace's path as the worker is asked for it: the UFS URI of a cluster path."""
        if path.startswith(self._mount_prefix):
            return self._ufs_root + "/" + path[len(self._mount_prefix) :]
        return path

    def counters(self) -> dict[str, dict[str, int]]:
        return {w: dict(n.worker.counters) for w, n in self.cluster.nodes.items() if n.worker}

    def evicted(self) -> int:
        return sum(self.cluster.store(w).stats().pages_evicted for w in self.cluster.worker_ids)

    async def run_window(self, window: Window) -> tuple[dict[str, Any], list[int]]:
        """Run one window's reads; its summary row, and the bytes each worker served."""
        cluster = self.cluster
        before, evicted, ufs = self.counters(), self.evicted(), cluster.ufs_bytes_read()
        start = cluster.loop.time()
        latencies: list[float] = []
        await asyncio.gather(
            *(self._client(c, reads, latencies) for c, reads in enumerate(window.clients))
        )
        counts = window_counts(before, self.counters())
        served = counts.pop("servedPerWorker")
        row = {
            "label": window.label,
            "reads": window.reads,
            **counts,
            "ufsBytes": cluster.ufs_bytes_read() - ufs,
            "evictedPages": self.evicted() - evicted,
            "served": {
                k: v for k, v in spread(served).items() if k in ("max", "mean", "maxOverMean")
            },
            "latencyMs": latency_ms(latencies),
            "virtualSeconds": round(cluster.loop.time() - start, 6),
        }
        return row, served

    async def _client(self, c: int, reads: list[Read], latencies: list[float]) -> None:
        loop, refs = self.cluster.loop, self.clients.refs[c]
        ring = self.cluster.coordinator.ring  # type: ignore[union-attr]
        for read in reads:
            wait = self._started + read.at - loop.time()
            if wait > 0:
                await virtual_sleep(wait)
            asked = loop.time()
            uri = self.uri(read.path)
            owners = ring.owners(uri, 1)
            if not owners:
                self._fail("NoWorker")
                continue
            try:
                data = await refs[owners[0]].call("read", uri, read.offset, read.length)
            except RingcacheError as exc:  # a path not in the dataset, a bad range
                self._fail(type(exc).__name__)
                continue
            done = self.clients.egress[owners[0]].reserve(loop.time(), len(data))
            await virtual_sleep(done - loop.time())
            latencies.append(loop.time() - asked)

    def _fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


def run_train(
    spec: SimSpec,
    workload: Callable[[list[str]], list[Window]],
    clients: int = 1,
    describe: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the workload (built from the dataset's file URIs) on a cluster of `spec`; the
    summary: the run's parameters, a window a row, and per-worker details. The page stores
    evict per page, as on disk, whatever `spec` says: range reads leave files partly
    cached, and only that grain evicts the pages a real worker would."""
    spec = replace(spec, per_page_recency=True)
    with SimCluster(spec) as cluster:
        windows = workload(cluster.namespace.paths(0, cluster.namespace.files))
        run = TrainRun(cluster, clients)
        results = [cluster.run(run.run_window(window)) for window in windows]
        worker_ids = cluster.worker_ids
        dataset_bytes = cluster.namespace.total_bytes
    details = {"workers": worker_ids, "servedPerWorker": [served for _, served in results]}
    worker = spec.config.worker
    return {
        "scenario": "train",
        **dict(describe or {}),
        "workers": spec.workers,
        "files": spec.files,
        "datasetBytes": dataset_bytes,
        "capacityPerWorker": worker.capacity,
        "capacityOverDataset": round(spec.workers * worker.capacity / dataset_bytes, 6)
        if dataset_bytes
        else math.inf,
        "pageSize": worker.page_size,
        "clients": clients,
        "seed": spec.seed,
        "model": {  # what the latencies assume (costs.py)
            "rpcLatencySeconds": spec.network.rpc_latency,
            "ufsReadLatencySeconds": spec.network.ufs_read_latency,
            "ufsMetadataLatencySeconds": spec.network.ufs_metadata_latency,
            "nicBytesPerSecond": spec.node.nic_bandwidth,
            "diskBytesPerSecond": spec.node.disk_bandwidth,
        },
        "windows": [row for row, _ in results],
        "failures": dict(sorted(run.failures.items())),
        "details": details,
    }


def train_table(summary: dict[str, Any]) -> str:
    """The summary's windows as a plain-text table, a window a row."""
    head = (
        f"{'window':<10} {'reads':>8} {'hit':>7} {'byte hit':>8} {'UFS MiB':>10} "
        f"{'served max/mean':>15} {'evicted':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    rows = [head]
    for w in summary["windows"]:
        lat = w["latencyMs"]
        rows.append(
            f"{w['label']:<10} {w['reads']:>8} {w['hitRatio']:>7.4f} {w['byteHitRatio']:>8.4f} "
            f"{w['ufsBytes'] / 2**20:>10.2f} {w['served']['maxOverMean']:>15.3f} "
            f"{w['evictedPages']:>9} {lat['p50']:>8.3f} {lat['p95']:>8.3f} {lat['p99']:>8.3f}"
        )
    return "\n".join(rows)
