"""What a runtime plugs into the logic: time, blocking I/O, UFS access, page stores, chance.

The in-process and Ray runtimes use the defaults (real clock, threads, fsspec, disk); the
simulator passes a virtual clock, I/O that costs modelled time, and size-only storage.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .cache.store import PageStore
from .clock import Clock, RealClock
from .index.file_index import FileIndex
from .ring.cache import RingCache
from .ufs.factory import ConfinedUfsFactory, UfsFactory
from .ufs.read_ahead import ReadAhead, ThreadedReadAhead

RunIo = Callable[..., Awaitable[Any]]
R = TypeVar("R")


class RunLanes(Protocol):
    """`func(*args)`, a blocking call, run `lanes` times at once (a batch's lanes); the
    answers in lane order. Each call starts in lane order; if any raises, the first error
    is raised once that call is done."""

    def __call__(self, lanes: int, func: Callable[..., R], *args: Any) -> Awaitable[list[R]]: ...


class GatheredLanes:
    """`RunLanes` over a `RunIo`: one `run_io` call a lane (a thread each, by default)."""

    def __init__(self, run_io: RunIo) -> None:
        self.run_io = run_io

    async def __call__(self, lanes: int, func: Callable[..., R], *args: Any) -> list[R]:
        return list(await asyncio.gather(*(self.run_io(func, *args) for _ in range(lanes))))


StoreFactory = Callable[[Path, int, int], PageStore]
IndexFactory = Callable[[Path], FileIndex]


@dataclass
class Environment:
    clock: Clock = field(default_factory=RealClock)
    run_io: RunIo = asyncio.to_thread
    # Local disks confined to each mount root; runtimes pass the configured allowed roots.
    ufs_factory: UfsFactory = field(default_factory=ConfinedUfsFactory)
    store_factory: StoreFactory = PageStore
    # Where a coordinator keeps its file index, given its state directory.
    index_factory: IndexFactory = FileIndex.open
    random: random.Random = field(default_factory=random.Random)
    # How blocking code (a bandwidth throttle in an I/O thread) waits: really, or, in the
    # simulator, by charging virtual time to the call's cost.
    blocking_sleep: Callable[[float], None] = time.sleep
    # How a worker keeps a few of a large file's ranged UFS reads in flight: on threads, or,
    # in the simulator, inline with their waits overlapped in virtual time.
    read_ahead: ReadAhead = field(default_factory=ThreadedReadAhead)
    # Rings built from the members a coordinator sent, kept by fingerprint.
    rings: RingCache = field(default_factory=RingCache)
    # How a batch's lanes run at once: a `run_io` call each (None: `GatheredLanes`), or, in
    # the simulator, inline one after another with their waits overlapped in virtual time.
    run_lanes: RunLanes = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.run_lanes is None:
            self.run_lanes = GatheredLanes(self.run_io)
