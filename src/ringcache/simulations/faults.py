"""Faults at chosen virtual times: crash and restart workers, restart the coordinator, cut a
worker off from the registry (its lease lapses) and heal it.

A `Fault` names what happens and when (virtual seconds since the run started); a
`FaultInjector` runs a list of them on the cluster's loop and logs what it did, and
`heal_all` undoes what is still in effect (restarts crashed workers, heals partitions), as
the liveness checker needs. Slow workers and UFS read errors are part of the `SimSpec`
(`slow_workers`, `read_error_rate`): they hold for the whole run.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from .cluster import SimCluster

CRASH = "crash-worker"
RESTART = "restart-worker"
RESTART_COORDINATOR = "restart-coordinator"
PARTITION = "lease-lapse"
HEAL = "heal-worker"
KINDS = (CRASH, RESTART, RESTART_COORDINATOR, PARTITION, HEAL)


@dataclass(frozen=True, order=True)
class Fault:
    """One fault: at virtual time `at` (seconds), `kind` happens to worker number `target`
    (an index into the cluster's sorted worker ids; unused for the coordinator)."""

    at: float
    kind: str
    target: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; use one of {KINDS}")
        if self.at < 0:
            raise ValueError(f"a fault cannot happen before the run starts ({self.at})")


def random_faults(
    rng: random.Random, kind: str, count: int, workers: int, window: tuple[float, float]
) -> list[Fault]:
    """`count` faults of `kind` at seeded-random times in `window`, on distinct workers."""
    targets = rng.sample(range(workers), min(count, workers))
    low, high = window
    return sorted(Fault(round(rng.uniform(low, high), 6), kind, t) for t in targets)


class FaultInjector:
    """Applies faults to a `SimCluster` at their virtual times; remembers what it did.

    Guarantees: faults fire in time order (ties in list order); each applied fault is in
    `log` with the virtual time it took effect; a fault that cannot apply (crashing a
    worker that is down) is logged as skipped, never raised into the run; `heal_all()`
    leaves every worker running and connected.
    """

    def __init__(self, cluster: SimCluster, faults: list[Fault]) -> None:
        self.cluster = cluster
        self.faults = sorted(faults)
        self.log: list[dict[str, Any]] = []
        self.crashed: list[str] = []
        self.partitioned: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Schedule the faults on the cluster's loop (call from inside `cluster.run`)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    async def _run(self) -> None:
        clock = self.cluster.clock
        for fault in self.faults:
            wait = fault.at - clock.elapsed()
            if wait > 0:
                await clock.sleep(wait)
            await self.apply(fault)

    async def apply(self, fault: Fault) -> None:
        cluster = self.cluster
        ids = cluster.worker_ids
        worker_id = ids[fault.target % len(ids)] if ids else ""
        entry: dict[str, Any] = {"at": round(cluster.clock.elapsed(), 6), "kind": fault.kind}
        if fault.kind != RESTART_COORDINATOR:
            entry["worker"] = ids.index(worker_id) if worker_id else None
        up = cluster.nodes[worker_id].up if worker_id else False
        if fault.kind == CRASH and up:
            await cluster.crash_worker(worker_id)
            self.crashed.append(worker_id)
        elif fault.kind == RESTART and not up and worker_id:
            await cluster.restart_worker(worker_id)
            if worker_id in self.crashed:
                self.crashed.remove(worker_id)
        elif fault.kind == RESTART_COORDINATOR:
            await cluster.restart_coordinator()
        elif fault.kind == PARTITION and worker_id not in self.partitioned and worker_id:
            cluster.partition_worker(worker_id)
            self.partitioned.append(worker_id)
        elif fault.kind == HEAL and worker_id in self.partitioned:
            cluster.heal_worker(worker_id)
            self.partitioned.remove(worker_id)
        else:
            entry["skipped"] = True
        self.log.append(entry)

    async def heal_all(self) -> None:
        """Stop injecting; restart every crashed worker and heal every partition."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for worker_id in list(self.partitioned):
            self.cluster.heal_worker(worker_id)
        self.partitioned.clear()
        for worker_id in sorted(self.crashed):
            if not self.cluster.nodes[worker_id].up:
                await self.cluster.restart_worker(worker_id)
        self.crashed.clear()
