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
- `ufsBytes`: bytes the UFS sent (read-through of missing pages, whole pages, and the
  clients' fallback reads);
- `fallbacks` (reads the client took from the UFS itself, no worker answering: churn,
  train_churn.py), `fallbackPages`, `servedHitRatio` (those pages counted as misses),
  `readErrors` (reads that failed or came back short: none in a correct run);
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
from dataclasses import replace
from typing import Any

import numpy as np

from ..client.client import ATTEMPTS
from ..cluster.errors import RingcacheError, Unavailable
from ..cluster.worker.read_metrics import READ_COUNTERS
from .cluster import SimCluster
from .loop import virtual_sleep
from .spec import SimSpec
from .summary import spread
from .train_churn import Churn, churn_figures
from .train_clients import TrainClients
from .workloads import Read, Window

SPREAD = ("max", "mean", "maxOverMean")  # of the bytes served per worker, in a row
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


class TrainRun:
    """Replays windows of reads on a started `SimCluster`, one window at a time.

    A read goes as the real client's does (`CacheClient._on_owner`): to the owner on the
    coordinator's ring, asked up to `ATTEMPTS` times with the ring read afresh between (a
    call to the coordinator) while it answers `Unavailable`; then to the UFS from the
    client itself (a fallback, counted). `fallback=False` is the client's
    `ufs_fallback=False`: such a read fails instead. A read that fails so, or returns
    another length than the range holds, is a read error (`readErrors`), which a correct
    run never has.
    """

    def __init__(self, cluster: SimCluster, clients: int, *, fallback: bool = True) -> None:
        self.cluster = cluster
        self.clients = TrainClients(cluster, clients)
        self.fallback = fallback
        self.tally = {"fallbacks": 0, "fallbackPages": 0, "readErrors": 0}
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

    async def run_window(self, window: Window) -> tuple[dict[str, Any], dict[str, int]]:
        """Run one window's reads; its summary row, and the bytes each worker served."""
        cluster = self.cluster
        before, evicted, ufs = self.counters(), self.evicted(), self.ufs_bytes()
        tally = dict(self.tally)
        start = cluster.loop.time()
        latencies: list[float] = []
        await asyncio.gather(
            *(self._client(c, reads, latencies) for c, reads in enumerate(window.clients))
        )
        after = self.counters()
        counts = window_counts(before, after)
        served = dict(zip(sorted(after), counts.pop("servedPerWorker"), strict=True))
        tally = {name: count - tally[name] for name, count in self.tally.items()}
        pages = counts["hits"] + counts["misses"] + tally["fallbackPages"]
        row = {
            "label": window.label,
            "reads": window.reads,
            **counts,
            "servedHitRatio": counts["hits"] / pages if pages else 0.0,
            **tally,
            "ufsBytes": self.ufs_bytes() - ufs,
            "evictedPages": self.evicted() - evicted,
            "served": {k: v for k, v in spread([*served.values()]).items() if k in SPREAD},
            "latencyMs": latency_ms(latencies),
            "virtualSeconds": round(cluster.loop.time() - start, 6),
        }
        return row, served

    def ufs_bytes(self) -> int:
        """Bytes the UFS sent: to the workers (read-through) and to the clients (fallback)."""
        return self.cluster.ufs_bytes_read() + self.clients.ufs_bytes()

    async def _client(self, c: int, reads: list[Read], latencies: list[float]) -> None:
        loop = self.cluster.loop
        for read in reads:
            wait = self._started + read.at - loop.time()
            if wait > 0:
                await virtual_sleep(wait)
            asked = loop.time()
            uri = self.uri(read.path)
            try:
                data = await self._read(c, uri, read)
            except Unavailable:  # no worker answered, and no fallback
                self.tally["readErrors"] += 1
                continue
            except RingcacheError as exc:  # a path not in the dataset, a bad range
                self._fail(type(exc).__name__)
                continue
            if len(data) != len(self._range(uri, read)):
                self.tally["readErrors"] += 1
            latencies.append(loop.time() - asked)

    async def _read(self, c: int, uri: str, read: Read) -> memoryview | bytes:
        loop, cluster = self.cluster.loop, self.cluster
        for attempt in range(ATTEMPTS):
            owners = cluster.coordinator.ring.owners(uri, 1)  # type: ignore[union-attr]
            if owners:
                try:
                    data = await self.clients.ref(c, owners[0]).call(
                        "read", uri, read.offset, read.length
                    )
                except Unavailable:  # the owner left or is leaving; the ring will move on
                    pass
                else:
                    done = self.clients.link(owners[0]).reserve(loop.time(), len(data))
                    await virtual_sleep(done - loop.time())
                    return data
            if attempt < ATTEMPTS - 1:  # the client reads the ring afresh: a round trip
                await cluster.coordinator_ref().call("ring_snapshot")
        if not self.fallback:
            raise Unavailable(f"no worker could answer for {uri}")
        wanted = self._range(uri, read)
        size = cluster.spec.config.worker.page_size
        self.tally["fallbacks"] += 1
        if wanted:
            self.tally["fallbackPages"] += (wanted.stop - 1) // size - wanted.start // size + 1
        ufs = self.clients.ufs[c]
        return await self.clients.run_io[c](ufs.read, uri, read.offset, read.length)

    def _range(self, uri: str, read: Read) -> range:
        """The bytes of the file a read asks for (empty for a path not in the dataset)."""
        namespace = self.cluster.namespace
        i = namespace.index(uri)
        size = 0 if i is None else namespace.size(i)
        start = min(read.offset, size)
        end = size if read.length is None else min(size, read.offset + read.length)
        return range(start, max(start, end))

    def _fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


def run_train(
    spec: SimSpec,
    workload: Callable[[list[str]], list[Window]],
    clients: int = 1,
    describe: Mapping[str, Any] | None = None,
    churn: Churn | None = None,
    *,
    fallback: bool = True,
) -> dict[str, Any]:
    """Run the workload (built from the dataset's file URIs) on a cluster of `spec`; the
    summary: the run's parameters, a window a row, and per-worker details. The page stores
    evict per page, as on disk, whatever `spec` says: range reads leave files partly
    cached, and only that grain evicts the pages a real worker would. With `churn`,
    workers leave and join before its window (train_churn.py); `fallback=False` turns the
    client's UFS fallback off (a test's switch: reads of a gone owner then fail)."""
    spec = replace(spec, per_page_recency=True)
    churn = churn or Churn()
    churned: dict[str, Any] = {}
    with SimCluster(spec) as cluster:
        windows = workload(cluster.namespace.paths(0, cluster.namespace.files))
        churn.check(spec.workers, len(windows))
        run = TrainRun(cluster, clients, fallback=fallback)
        results = []
        for number, window in enumerate(windows, start=1):
            if churn.active and number == churn.at:
                churned = cluster.run(churn.apply(cluster, spec.rng("churn")))
            results.append(cluster.run(run.run_window(window)))
        worker_ids = cluster.worker_ids
        dataset_bytes = cluster.namespace.total_bytes
    served = [[row.get(w, 0) for w in worker_ids] for _, row in results]
    details = {"workers": worker_ids, "servedPerWorker": served}
    rows = [row for row, _ in results]
    if churn.active:
        churned = {"leave": churn.leave, "join": churn.join, "window": churn.at, **churned}
        churned.update(churn_figures(rows, churn.at))
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
        "windows": rows,
        "readErrors": run.tally["readErrors"],
        "fallbacks": run.tally["fallbacks"],
        **({"churn": churned} if churned else {}),
        "failures": dict(sorted(run.failures.items())),
        "details": details,
    }
