"""What a simulation run cost on this machine: wall and CPU seconds, peak memory, and
simulated events per wall second.

These depend on the machine and its load, not on the seed, so they stay out of the
summary (which replays byte for byte): `ringcache simulate` prints them on stderr and
bench/bench_sim.py beside its summary.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def measured(run: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """`run()`'s answer, and what running it cost (`cost_of` with the events left at 0;
    the caller fills them in once it knows them, see `with_events`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    answer = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return answer, cost_of(wall, cpu)


def cost_of(wall: float, cpu: float) -> dict[str, float]:
    """Wall and CPU seconds, and the peak resident memory of this process and of the
    largest child process it waited for (the file index's helper, from 100,000 files), in
    MiB. Linux reports ru_maxrss in KiB: the peak of the whole process, imports included."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wallSeconds": round(wall, 2),
        "cpuSeconds": round(cpu, 2),
        "helperCpuSeconds": round(children.ru_utime + children.ru_stime, 2),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "helperPeakRssMiB": round(children.ru_maxrss / 1024, 1),
    }


def with_events(cost: dict[str, float], summary: dict[str, Any]) -> dict[str, float]:
    """`cost` and the summary's simulated events per wall second (and virtual over wall)."""
    wall = max(cost["wallSeconds"], 0.01)
    return {
        **cost,
        "events": summary.get("events", 0),
        "eventsPerWallSecond": round(summary.get("events", 0) / wall),
        "virtualOverWall": round(summary.get("virtualSeconds", 0.0) / wall, 4),
    }


def cost_line(cost: dict[str, Any]) -> str:
    """One line for a person: `measured: wall ... s, cpu ... s, peak RSS ... MiB, ...`."""
    return (
        f"measured: wall {cost['wallSeconds']} s, cpu {cost['cpuSeconds']} s, "
        f"peak RSS {cost['peakRssMiB']} MiB; child processes (the index helper, if any): "
        f"cpu {cost['helperCpuSeconds']} s, peak RSS {cost['helperPeakRssMiB']} MiB; "
        f"{cost['events']} events, "
        f"{cost['eventsPerWallSecond']} events per wall second"
    )
