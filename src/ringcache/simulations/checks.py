"""Checkers, kept apart from the scenarios: safety first, then liveness.

Safety looks at a finished job and at the page stores, which the simulator can read
directly (they are the disks): every file of the namespace counted exactly once, counters
that add up, every cached file on its current ring owners. Liveness heals every fault and
then insists that every job the coordinator knows reaches a terminal state within a
virtual-time bound. Each check answers a list of problems (empty: passed); `require`
turns problems into a `SimulationCheckFailed` that names the seed and the replay command.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from ..cluster.jobs.catalog import JOB_KINDS
from .cluster import SimCluster
from .faults import FaultInjector
from .jobs import FINISHED

#: Problems listed in a failure message, at most; the count says how many there were.
SHOWN = 20


class SimulationCheckFailed(AssertionError):
    """A checker found a problem. The message names the seed and how to replay the run."""

    def __init__(self, check: str, problems: list[str], seed: int, replay: str) -> None:
        self.check = check
        self.problems = problems
        self.seed = seed
        self.replay = replay
        shown = "\n  ".join(problems[:SHOWN])
        more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        super().__init__(
            f"{check} check failed with seed {seed} ({len(problems)} problem(s)):\n  "
            f"{shown}{more}\nreplay: {replay}"
        )


def require(check: str, problems: list[str], seed: int, replay: str) -> None:
    if problems:
        raise SimulationCheckFailed(check, problems, seed, replay)


# -- safety ------------------------------------------------------------------------------


def check_load_counters(cluster: SimCluster, job: dict[str, Any]) -> list[str]:
    """A load job over the whole namespace counted every file once and its counters add up.

    scannedFiles equals the namespace's file count and totalBytes its bytes (a file counted
    twice or lost changes one of them); loaded + skipped + failed files account for every
    scanned file (empty files count as loaded without being "non-empty"); loaded + skipped
    bytes equal the total when nothing failed; a SUCCEEDED job has no failed file.
    """
    space = cluster.namespace
    problems = []
    scanned, total = job.get("scannedFiles", 0), job.get("totalBytes", 0)
    if scanned != space.files:
        problems.append(f"scannedFiles is {scanned}, the namespace has {space.files} files")
    if total != space.total_bytes:
        problems.append(f"totalBytes is {total}, the namespace has {space.total_bytes} bytes")
    loaded, skipped = job.get("loadedNonEmptyFiles", 0), job.get("skippedFiles", 0)
    failed = job.get("failedFiles", 0)
    empty = int((space.sizes == 0).sum())
    if not scanned - empty <= loaded + skipped + failed <= scanned:
        problems.append(
            f"loaded {loaded} + skipped {skipped} + failed {failed} files do not account for "
            f"{scanned} scanned ({empty} empty)"
        )
    moved = job.get("loadedBytes", 0) + job.get("skippedBytes", 0)
    if not failed and moved != total:
        problems.append(f"loaded + skipped bytes are {moved}, not the total {total}")
    if job.get("state") == "SUCCEEDED" and failed:
        problems.append(f"the job SUCCEEDED with {failed} failed file(s)")
    return problems


def check_rebalance_counters(job: dict[str, Any], moved_ideal: int) -> list[str]:
    """A rebalance's counters add up: bytes by source sum to bytes loaded; it succeeded."""
    problems = []
    loaded = job.get("loadedBytes", 0)
    by_source = job.get("loadedFromPeerBytes", 0) + job.get("loadedFromUfsBytes", 0)
    if by_source != loaded:
        problems.append(f"loaded bytes by source sum to {by_source}, not {loaded}")
    if job.get("state") != "SUCCEEDED":
        problems.append(f"the rebalance ended {job.get('state')}, not SUCCEEDED")
    if loaded < moved_ideal:
        problems.append(f"it moved {loaded} bytes, fewer than the {moved_ideal} that changed owner")
    return problems


def check_placement(cluster: SimCluster, *, exact: bool, failed: set[str]) -> list[str]:
    """Every file of the namespace (but the `failed` ones) is cached whole on each of its
    current ring owners; with `exact`, also on no other live worker.

    Owners come from the coordinator's ring; holders are read from the live workers' page
    stores. Runs in O(files x replicas) dictionary lookups; `exact` then compares counts
    (every file a store records is one of the owner copies found whole), and only when
    they differ walks each store to name the copies no owner accounts for.
    """
    coordinator = cluster.coordinator
    if coordinator is None:
        return ["the cluster has no coordinator"]
    problems = []
    live = cluster.member_ids()
    ring_workers = sorted(coordinator.ring.worker_ids)
    if ring_workers != live:
        problems.append(f"the ring has {len(ring_workers)} workers, {len(live)} are members")
    stores = {w: cluster.store(w) for w in live}
    names = coordinator.ring.worker_ids
    owner_of = cluster.owners.file_owners(coordinator.ring)
    owner_copies = 0
    for first, paths in cluster.owners.path_chunks():  # each owner's files a chunk at a time
        owners = owner_of[first : first + len(paths)].tolist()
        owned: dict[int, list[str]] = defaultdict(list)  # each owner's files: a store call each
        for path, owner in zip(paths, owners, strict=True):
            if owner >= 0 and not (failed and path in failed):
                owned[owner].append(path)
        lacking = set()
        for owner, its_paths in owned.items():
            store = stores.get(names[owner])
            missing = its_paths if store is None else store.lacking_whole(its_paths)
            owner_copies += len(its_paths) - len(missing)
            lacking.update((path, owner) for path in missing)
        if lacking:  # named in file order
            for path, owner in zip(paths, owners, strict=True):
                if (path, owner) in lacking:
                    problems.append(f"{path} is not cached whole on its owner {names[owner]}")
    if exact and (
        problems or sum(store.stats().cached_files for store in stores.values()) != owner_copies
    ):
        ring = coordinator.ring
        for worker_id, store in stores.items():
            paths = store.paths()
            for path, file_owners in zip(paths, ring.owners_batch(paths), strict=True):
                if worker_id not in file_owners:
                    problems.append(f"{path} is cached on {worker_id}, which does not own it")
    return problems


async def check_index(cluster: SimCluster) -> list[str]:
    """Once the file index has caught up with every change jobs noted, it names exactly
    the files each live worker's store holds, and no holder the stores do not have (a run
    whose stores change otherwise, by reads or evictions, waits for a periodic sync too).

    Reads every entry the index has for the live workers (a page at a time), so it is
    for runs of thousands of files, not millions.
    """
    coordinator = cluster.coordinator
    if coordinator is None:
        return ["the cluster has no coordinator"]
    await coordinator.index_feed.caught_up()
    live = cluster.member_ids()
    stored = {(path, w) for w in live for path in cluster.store(w).paths()}
    indexed, last = set(), None
    while page := coordinator.file_index.held_by(live, last, 1000):
        indexed.update((e["path"], w) for e in page for w in e["workers"] if w in live)
        last = page[-1]["path"]
    problems = [
        f"{p} is on {w}, the file index does not say so" for p, w in sorted(stored - indexed)
    ]
    problems += [
        f"the file index says {w} holds {p}; it does not" for p, w in sorted(indexed - stored)
    ]
    return problems


# -- liveness ----------------------------------------------------------------------------


async def check_liveness(
    cluster: SimCluster, faults: FaultInjector | None, bound: float, poll: float = 0.5
) -> list[str]:
    """Heal every fault, then wait up to `bound` virtual seconds for every job the
    coordinator knows to reach a terminal state; the jobs still unfinished are problems."""
    if faults is not None:
        await faults.heal_all()
    coordinator_ref = cluster.coordinator_ref()
    deadline = cluster.clock.elapsed() + bound
    while True:
        unfinished = []
        for job_type in JOB_KINDS:
            for job in await coordinator_ref.call("list_jobs", job_type):
                if job["state"] not in FINISHED:
                    unfinished.append(f"a {job_type} job is still {job['state']}")
        if not unfinished:
            return []
        if cluster.clock.elapsed() >= deadline:
            return [f"{p} {bound} virtual s after every fault was healed" for p in unfinished]
        await asyncio.sleep(poll)


def check_read_errors(summary: dict[str, Any]) -> list[str]:
    """A `simulate train` run: no read may fail or come back short, whatever the churn
    (a gone owner's reads fall back to the UFS); a problem per window that had any."""
    return [
        f"{window['label']}: {window['readErrors']} read error(s) "
        f"({window['fallbacks']} fallback(s))"
        for window in summary["windows"]
        if window["readErrors"]
    ]
