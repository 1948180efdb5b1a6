"""Job progress over virtual time: the running jobs' counters, sampled on the virtual clock.

The sampler reads the coordinator's job runs in memory (no call crosses the simulated
network, nothing is written), so sampling changes neither the jobs nor the summary's
numbers other than the loop's event count, and it always runs, report or not, so a run
with `--report` and one without give the same summary.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .cluster import SimCluster

#: Counters sampled per job type: the ones a progress chart draws (a subset of each
#: kind's counters in `cluster/jobs/catalog.py`, chosen for the chart).
SAMPLED = {
    "load": ("scannedFiles", "loadedBytes", "skippedBytes", "failedFiles"),
    "free": ("scannedFiles", "freedBytes", "failedFiles"),
    "rebalance": ("scannedFiles", "loadedBytes", "prunedBytes", "failedFiles"),
}


class ProgressSampler:
    """Samples every running job every `interval` virtual seconds, at most `limit` samples
    per job: when a job reaches the limit, every other sample is dropped and the interval
    doubles, so memory stays bounded however long the run.

    Jobs are named `<type>#<n>` in the order first seen (their ids are not reproducible).
    """

    def __init__(self, cluster: SimCluster, interval: float = 0.05, limit: int = 400) -> None:
        self.cluster = cluster
        self.interval = interval
        self.limit = limit
        self.series: dict[str, list[dict[str, float]]] = {}
        self._names: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample()  # the last state of every job seen

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def sample(self) -> None:
        coordinator = self.cluster.coordinator
        if coordinator is None:
            return
        now = round(self.cluster.clock.elapsed(), 6)
        for job_id in sorted(coordinator.jobs.runs, key=self._order):
            run = coordinator.jobs.runs[job_id]
            name = self._name(job_id, run.record.type)
            counters = run.live_counters()
            point: dict[str, float] = {"t": now}
            for counter in SAMPLED.get(run.record.type, ()):
                point[counter] = counters.get(counter, 0)
            series = self.series.setdefault(name, [])
            if series and series[-1]["t"] == now:
                series[-1] = point
            else:
                series.append(point)
            if len(series) > self.limit:
                series[:] = series[::2]
                self.interval *= 2

    def finish(self, name: str, job: dict[str, Any]) -> None:
        """Add a job's final counters (from its last description) as its last sample: a
        finished run leaves the coordinator before the sampler can see its end."""
        point: dict[str, float] = {"t": round(self.cluster.clock.elapsed(), 6)}
        for counter in SAMPLED.get(job.get("type", ""), ()):
            point[counter] = job.get(counter, 0)
        self.series.setdefault(name, []).append(point)

    def _order(self, job_id: str) -> tuple[int, str]:
        known = self._names.get(job_id)
        return (0, known) if known is not None else (1, job_id)

    def _name(self, job_id: str, job_type: str) -> str:
        name = self._names.get(job_id)
        if name is None:
            count = sum(1 for n in self._names.values() if n.startswith(job_type + "#"))
            name = self._names[job_id] = f"{job_type}#{count + 1}"
        return name

    def to_dict(self) -> dict[str, Any]:
        return {name: list(points) for name, points in sorted(self.series.items())}
