"""The registry's contract suite runs against every backend: memory, SQLite and etcd."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ringcache.cluster.clock import Clock, ManualClock, RealClock
from ringcache.cluster.registry import Registry, open_registry
from ringcache.cluster.registry.memory_backend import MemoryBackend


@dataclass
class Store:
    """Makes registries over one kind of backend and moves their lease time.

    Memory and SQLite leases follow the registry's clock (a `ManualClock` here); etcd's
    follow etcd's own clock, so on etcd `pass_time` really waits and leases are checked
    with a margin for etcd's expiry sweep (every 500 ms).
    """

    kind: str
    open: Callable[..., Registry]
    opened: list[Registry] = field(default_factory=list)

    @property
    def etcd(self) -> bool:
        return self.kind == "etcd"

    def make(self, clock: Clock | None = None, **options: object) -> Registry:
        """A registry on this store; `options`: `history` and the Registry's own."""
        if clock is None:
            clock = RealClock() if self.etcd else ManualClock()
        registry = self.open(clock, **options)
        self.opened.append(registry)
        return registry

    async def pass_time(self, registry_clock: Clock, seconds: float) -> None:
        if self.etcd:
            await asyncio.sleep(seconds)
        else:
            registry_clock.advance(seconds)

    async def until(self, check: Callable[[], object], seconds: float = 4.0) -> None:
        """Wait (on etcd) until `check()` is truthy; memory and SQLite must be at once."""
        for _ in range(int(seconds / 0.1) if self.etcd else 0):
            if await check():
                return
            await asyncio.sleep(0.1)
        assert await check()


@pytest.fixture(params=["memory", "sqlite", "etcd"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind = request.param
    if kind == "memory":

        def opener(clock: Clock, history: int = 100_000, **options: object) -> Registry:
            return Registry(MemoryBackend(history=history), clock, **options)

    elif kind == "sqlite":

        def opener(clock: Clock, **options: object) -> Registry:
            return open_registry(tmp_path, clock, **options)

    else:
        url = request.getfixturevalue("etcd_url")

        def opener(clock: Clock, **options: object) -> Registry:
            return open_registry(tmp_path, clock, url=url, **options)

    made = Store(kind, opener)
    yield made
    for registry in made.opened:
        registry.close()
