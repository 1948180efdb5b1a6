"""The scenarios that run the real job engine: `load`, `scale-out`, `crash`, `restart`.

Each one starts a `SimCluster`, a `ProgressSampler` and a `FaultInjector`, submits jobs as
a REST client would, runs the safety checks when its jobs finish and the liveness check
after healing every fault, and answers a summary that depends only on the spec and the
options (job ids, which are not reproducible, are left out).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bounds import network_bound
from .checks import (
    SimulationCheckFailed,
    check_liveness,
    check_load_counters,
    check_placement,
    check_rebalance_counters,
    require,
)
from .cluster import SimCluster
from .faults import (
    CRASH,
    PARTITION,
    RESTART,
    RESTART_COORDINATOR,
    Fault,
    FaultInjector,
    random_faults,
)
from .jobs import run_job
from .progress import ProgressSampler
from .spec import SimSpec
from .summary import job_view, spread


@dataclass
class Session:
    """One scenario run in progress: the cluster, its observers, and what it found."""

    name: str
    spec: SimSpec
    options: dict[str, Any]
    replay: str
    cluster: SimCluster
    sampler: ProgressSampler
    faults: FaultInjector
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, check: str, problems: list[str]) -> None:
        require(check, problems, self.spec.seed, self.replay)

    def elapsed(self) -> float:
        return self.cluster.clock.elapsed()


def run_engine_scenario(
    name: str, spec: SimSpec, options: dict[str, Any], replay: str
) -> dict[str, Any]:
    """Run scenario `name`; its summary, or `SimulationCheckFailed` carrying the summary."""
    body = BODIES[name]
    with SimCluster(spec) as cluster:
        session = Session(
            name,
            spec,
            options,
            replay,
            cluster,
            ProgressSampler(cluster),
            FaultInjector(cluster, []),
        )
        try:
            cluster.run(_drive(session, body))
        except SimulationCheckFailed as failure:
            failure.summary = _summary(session)  # type: ignore[attr-defined]
            raise
        return _summary(session)


async def _drive(session: Session, body: Any) -> None:
    session.sampler.start()
    started = session.elapsed()
    try:
        await body(session)
    finally:
        session.extra["virtualSeconds"] = round(session.elapsed() - started, 6)
        await session.sampler.stop()
    bound = session.options.get("liveness_bound", 4 * session.spec.config.lease_ttl + 60)
    session.require("liveness", await check_liveness(session.cluster, session.faults, bound))


# -- the scenarios -----------------------------------------------------------------------


async def load_body(session: Session) -> None:
    """Load every file onto its owner through the job engine; check counters and placement."""
    _start_faults(session, [])
    await _load(session)


async def crash_body(session: Session) -> None:
    """Kill `crashes` workers at seeded-random times early in the load; they stay down
    until the liveness check heals them, or with `restart_after` start again that many
    virtual seconds after their crash. The job must count every file once and leave each
    on its owners in the ring of the workers alive."""
    spec, options = session.spec, session.options
    crashes = min(options.get("crashes", max(1, spec.workers // 10)), spec.workers - 1)
    start = session.elapsed()
    window = _early_window(spec, start)
    faults = random_faults(spec.rng("faults"), CRASH, crashes, spec.workers, window)
    after = options.get("restart_after")
    if after is not None:  # each crashed worker comes back, same id and disk, this much later
        faults += [Fault(round(f.at + after, 6), RESTART, f.target) for f in faults]
    _start_faults(session, faults)
    await _load(session)


async def restart_body(session: Session) -> None:
    """Restart the coordinator `restarts` times at seeded-random times early in the load;
    the new coordinator resumes the job from its checkpoint, and every file counts once."""
    spec = session.spec
    restarts = session.options.get("restarts", 1)
    rng = spec.rng("faults")
    low, high = _early_window(spec, session.elapsed())
    times = sorted(round(rng.uniform(low, high), 6) for _ in range(restarts))
    _start_faults(session, [Fault(at, RESTART_COORDINATOR) for at in times])
    await _load(session)
    session.extra["coordinatorRestarts"] = session.cluster.coordinator_restarts


async def scale_out_body(session: Session) -> None:
    """Load, add `add` workers, wait for the ring to hold them, rebalance ALL; every cached
    file must then be on exactly its owners, and the bytes moved equal those whose owner
    changed (the ideal for consistent hashing is about add / (workers + add) of the data)."""
    cluster, spec = session.cluster, session.spec
    _start_faults(session, [])
    await _load(session)
    add = session.options.get("add", max(1, spec.workers // 10))
    before = cluster.coordinator.ring  # type: ignore[union-attr]
    for _ in range(add):
        await cluster.add_worker()
    await _settle(session)
    after = cluster.coordinator.ring  # type: ignore[union-attr]
    changed = _bytes_whose_owner_changed(cluster, before, after)
    started = session.elapsed()
    job = await run_job(cluster, "rebalance", {"target": "ALL"})
    session.jobs["rebalance#1"] = job_view(job, started, session.elapsed())
    session.sampler.finish("rebalance#1", job)
    session.require("safety", check_rebalance_counters(job, changed))
    session.require("safety", check_placement(cluster, exact=True, failed=set()))
    total = cluster.namespace.total_bytes
    ideal = round(total * add / (spec.workers + add))
    moved = job.get("loadedBytes", 0)
    session.extra["added"] = add
    session.extra["bytesMoved"] = {
        "moved": moved,
        "fromPeers": job.get("loadedFromPeerBytes", 0),
        "fromUfs": job.get("loadedFromUfsBytes", 0),
        "pruned": job.get("prunedBytes", 0),
        "ownerChanged": changed,
        "ideal": ideal,
        "movedOverIdeal": round(moved / ideal, 6) if ideal else 0.0,
    }


BODIES = {
    "load": load_body,
    "scale-out": scale_out_body,
    "crash": crash_body,
    "restart": restart_body,
}


# -- shared steps ------------------------------------------------------------------------


async def _load(session: Session) -> None:
    cluster, spec = session.cluster, session.spec
    body = {
        "paths": [spec.mount_path],
        "alias": "simulated-load",
        "options": {"batchSize": session.options.get("batch_size", 200)},
    }
    started = session.elapsed()
    job = await run_job(cluster, "load", body)
    view = job_view(job, started, session.elapsed())
    ring = cluster.coordinator.ring  # type: ignore[union-attr]
    view.update(network_bound(cluster, ring, view["virtualSeconds"]))
    session.jobs["load#1"] = view
    session.sampler.finish("load#1", job)
    session.require("safety", check_load_counters(cluster, job))
    ended_with = sorted(ring.worker_ids)
    await _settle(session)
    if sorted(cluster.coordinator.ring.worker_ids) != ended_with:  # type: ignore[union-attr]
        # A lease lapsed after the job's last look at the ring: owners moved, as an operator
        # would see them, and a rebalance is what puts files on their new owners.
        started = session.elapsed()
        moved = await run_job(cluster, "rebalance", {"target": "ALL"})
        session.jobs["rebalance#membership"] = job_view(moved, started, session.elapsed())
    failed = {f["path"] for f in job.get("failures", []) if "path" in f}
    session.require("safety", check_placement(cluster, exact=False, failed=failed))


def _start_faults(session: Session, faults: list[Fault]) -> None:
    """Inject `faults`, and with the `lease_lapses` option that many workers cut off from
    the registry at seeded-random times early in the load (their leases lapse; they keep
    running and serving calls, and reconnect when the liveness check heals every fault)."""
    spec = session.spec
    lapses = min(session.options.get("lease_lapses", 0), spec.workers - 1)
    if lapses > 0:
        window = _early_window(spec, session.elapsed())
        faults = faults + random_faults(spec.rng("lapses"), PARTITION, lapses, spec.workers, window)
    if faults:
        session.faults.faults = sorted(faults)
        session.faults.start()


async def _settle(session: Session) -> None:
    """Wait until the coordinator's ring holds exactly the live workers (bounded)."""
    cluster = session.cluster
    deadline = session.elapsed() + 3 * cluster.config.lease_ttl + 10
    while session.elapsed() < deadline:
        ring = sorted(cluster.coordinator.ring.worker_ids)  # type: ignore[union-attr]
        if ring == cluster.member_ids():
            return
        await cluster.clock.sleep(0.1)


def _early_window(spec: SimSpec, start: float) -> tuple[float, float]:
    """From 10% to 50% of a rough estimate of the load's duration, after `start`: bytes over
    the workers' NICs, plus one UFS read latency per file over 8 parallel reads a worker."""
    seconds = spec.files * spec.sizes.median * 1.6 / (spec.workers * spec.node.nic_bandwidth)
    seconds += spec.files * spec.network.ufs_read_latency / (spec.workers * 8)
    return start + 0.1 * seconds, start + 0.5 * seconds


def _bytes_whose_owner_changed(cluster: SimCluster, before: Any, after: Any) -> int:
    old = cluster.owners.file_owners(before)
    new = cluster.owners.file_owners(after)
    # Owners are places in each ring's worker ids: put the old ones in the new ring's terms
    # (-2: a worker the new ring lacks; the extra last entry keeps -1, no owner, as it is).
    place = {worker_id: i for i, worker_id in enumerate(after.worker_ids)}
    renamed = np.array([place.get(w, -2) for w in before.worker_ids] + [-1], dtype=np.int64)
    return int(cluster.namespace.sizes[renamed[old] != new].sum())


def _summary(session: Session) -> dict[str, Any]:
    cluster, spec = session.cluster, session.spec
    live = cluster.live_worker_ids()
    failures: Counter[str] = Counter()
    jobs = {}
    for name, job in session.jobs.items():
        failures.update(job.get("_reasons", {}))
        jobs[name] = {k: v for k, v in job.items() if k != "_reasons"}
    summary: dict[str, Any] = {
        "scenario": session.name,
        "seed": spec.seed,
        "workers": spec.workers,
        "files": spec.files,
        "bytesInNamespace": cluster.namespace.total_bytes,
        "bytesFromUfs": cluster.ufs_bytes_read(),
        "ufsReadErrors": sum(node.ufs.failed_reads for node in cluster.nodes.values()),
        "perWorkerBytes": spread(cluster.store(w).stats().used_bytes for w in live),
        "failures": dict(sorted(failures.items())),
        "jobs": jobs,
        "faults": session.faults.log,
        "details": {
            "bytesPerWorker": [cluster.store(w).stats().used_bytes for w in live],
            "progress": session.sampler.to_dict(),
        },
        "events": cluster.loop.events,
        "messages": cluster.network.messages,
        "replay": session.replay,
        **session.extra,
    }
    return summary
