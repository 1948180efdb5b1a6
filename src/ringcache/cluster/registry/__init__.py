"""The etcd-like registry: membership and all durable cluster state.

`Registry` is the async service (run in-process, as a Ray actor, or under a virtual
clock); `RegistryBackend` is its storage seam, `SqliteBackend` the embedded default and
`EtcdBackend` (imported only when asked for, so no gRPC for those who do not) the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ringcache.cluster.clock import Clock
from ringcache.cluster.registry.backend import ChangeFeed, RegistryBackend
from ringcache.cluster.registry.model import Compacted, KeyValue, Lease, WatchEvent
from ringcache.cluster.registry.registry import Registry
from ringcache.cluster.registry.sqlite_backend import SqliteBackend

REGISTRY_FILE = "registry.sqlite"

__all__ = [
    "ChangeFeed",
    "Compacted",
    "KeyValue",
    "Lease",
    "Registry",
    "RegistryBackend",
    "SqliteBackend",
    "WatchEvent",
    "open_registry",
]


def open_registry(
    state_dir: Path,
    clock: Clock,
    *,
    url: str | None = None,
    history: int = 100_000,
    **options: Any,
) -> Registry:
    """The registry at `url` (`etcd://host:port[,host:port...]`), or by default one kept
    in `state_dir / "registry.sqlite"` (the directory is created). `options` go to
    `Registry` (sweep_interval, watch_batch)."""
    if url:
        from ringcache.cluster.registry.etcd_backend import EtcdBackend

        backend = EtcdBackend(url, clock, history=history)
        return Registry(backend, clock, changes=backend.changes, **options)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return Registry(SqliteBackend(state_dir / REGISTRY_FILE, history=history), clock, **options)
