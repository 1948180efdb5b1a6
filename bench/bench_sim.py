"""Benchmark the simulator: a scenario at scale, and the registry backends side by side.

Runs a scenario (default: `scale-out`, 1,000 workers x 1,000,000 files) and prints its summary
with the wall time, CPU time, peak memory (max RSS, of this process and of the file
index's helper process) and simulated events per wall second.
Then drives the same keepalives, mount-table reads and policy watches through `Registry` over
`SqliteBackend(":memory:")` and over `MemoryBackend`, and prints the ratio.

Run: ``.venv/bin/python bench/bench_sim.py [--workers N] [--files M] [--seed S]``
(``--help`` for options, ``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import tracemalloc
from typing import Any

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.registry import Registry, SqliteBackend
from ringcache.cluster.registry.memory_backend import MemoryBackend
from ringcache.simulations.measure import measured, with_events
from ringcache.simulations.scenarios import SCENARIOS, run_scenario, summary_json


def bench_scenario(name: str, workers: int, files: int, seed: int, trace: bool) -> dict[str, Any]:
    if trace:
        tracemalloc.start()
    summary, cost = measured(lambda: run_scenario(name, workers, files, seed))
    measured_: dict[str, Any] = with_events(cost, summary)
    measured_["wallMicrosecondsPerFile"] = round(cost["wallSeconds"] / max(files, 1) * 1e6, 1)
    if trace:
        measured_["tracemallocPeakMiB"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    return {"summary": summary, "measured": measured_}


CHECKPOINTS_PER_ROUND = 1000


def bench_registry(workers: int, rounds: int) -> dict[str, Any]:
    """Keepalive, mount-table read and policy watch per worker per round, as heartbeats do,
    per backend; between rounds, job checkpoints write CHECKPOINTS_PER_ROUND other keys,
    which each watch must look past."""

    async def heartbeats(backend: Any) -> float:
        clock = ManualClock()
        registry = Registry(backend, clock)
        leases = [await registry.lease_grant(15.0) for _ in range(workers)]
        for lease in leases:
            await registry.put(f"/live/worker-{lease}", "host", lease=lease)
        seen = dict.fromkeys(leases, await registry.revision() + 1)
        elapsed = 0.0
        for round_ in range(rounds):
            for i in range(CHECKPOINTS_PER_ROUND):
                await registry.put(f"/jobs/load/{i % 16}", f"checkpoint {round_}")
            clock.advance(3.0)
            started = time.perf_counter()
            for lease in leases:
                await registry.lease_keepalive(lease)
                await registry.range("/mounts/")
                _, seen[lease] = await registry.watch("/policies/", seen[lease], 0)
            elapsed += time.perf_counter() - started
        return elapsed / (workers * rounds) * 1e6

    sqlite = asyncio.run(heartbeats(SqliteBackend(":memory:")))
    memory = asyncio.run(heartbeats(MemoryBackend()))
    return {
        "workers": workers,
        "sqliteMemoryMicrosecondsPerHeartbeat": round(sqlite, 2),
        "memoryBackendMicrosecondsPerHeartbeat": round(memory, 2),
        "speedup": round(sqlite / memory, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="scale-out", choices=sorted(SCENARIOS))
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--registry-workers", type=int, default=10_000)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace Python allocations (slow)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("ringcache").setLevel(logging.CRITICAL)  # faults ridden out are logged

    result = bench_scenario(args.scenario, args.workers, args.files, args.seed, args.tracemalloc)
    result["registry"] = bench_registry(args.registry_workers, rounds=3)
    if args.json:
        result["summary"] = json.loads(summary_json(result["summary"]))
        print(json.dumps(result, sort_keys=True))
        return 0
    summary, measured, registry = result["summary"], result["measured"], result["registry"]
    print(
        f"scenario {args.scenario}: {args.workers} workers x {args.files} files, seed {args.seed}"
    )
    print(summary_json(summary))  # per-worker bytes and progress samples left out
    print(
        f"wall {measured['wallSeconds']} s (cpu {measured['cpuSeconds']} s), "
        f"peak RSS {measured['peakRssMiB']} MiB (index helper {measured['helperPeakRssMiB']} MiB), "
        f"{measured['eventsPerWallSecond']} simulated events/s, "
        f"{measured['wallMicrosecondsPerFile']} us wall per file, "
        f"virtual/wall {measured['virtualOverWall']}"
    )
    print(
        f"registry, {registry['workers']} heartbeats (keepalive, mount read, policy watch past "
        f"{CHECKPOINTS_PER_ROUND} checkpoints): sqlite(:memory:) "
        f"{registry['sqliteMemoryMicrosecondsPerHeartbeat']} us, memory backend "
        f"{registry['memoryBackendMicrosecondsPerHeartbeat']} us ({registry['speedup']}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
