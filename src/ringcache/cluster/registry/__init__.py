"""The etcd-like registry: membership and all durable cluster state.

`Registry` is the async service (run in-process, as a Ray actor, or under a virtual
clock); `RegistryBackend` is its storage seam and `SqliteBackend` the embedded default.
"""

from __future__ import annotations

from pathlib import Path

from ringcache.cluster.clock import Clock
from ringcache.cluster.registry.backend import RegistryBackend
from ringcache.cluster.registry.model import Compacted, KeyValue, Lease, WatchEvent
from ringcache.cluster.registry.registry import Registry
from ringcache.cluster.registry.sqlite_backend import SqliteBackend

REGISTRY_FILE = "registry.sqlite"

__all__ = [
    "Compacted",
    "KeyValue",
    "Lease",
    "Registry",
    "RegistryBackend",
    "SqliteBackend",
    "WatchEvent",
    "open_registry",
]


def open_registry(state_dir: Path, clock: Clock, *, history: int = 100_000) -> Registry:
    """A registry kept in `state_dir / "registry.sqlite"` (the directory is created)."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    return Registry(SqliteBackend(state_dir / REGISTRY_FILE, history=history), clock)
