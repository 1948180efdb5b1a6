"""The registry's storage seam: a small synchronous interface in etcd's vocabulary.

The `Registry` service owns time, lease expiry policy and watch wake-ups; a backend only
stores. Each method maps onto one etcd call (Put with a Txn compare for `prev_revision`,
Range, DeleteRange, LeaseGrant/KeepAlive/Revoke/TimeToLive, Watch history, Compact), and
`EtcdBackend` is that mapping. A backend never reads a clock for lease expiry: the
registry passes `now` in. etcd keeps its own lease time (whole seconds) and expires
leases itself, so `EtcdBackend` ignores `now` and returns no expired leases.

Revisions: one global counter that only increases. Every write takes revisions greater
than all before it and returns the revision of its last change. A multi-key write
(put_many, delete_prefix, revoke) is one atomic transaction: on etcd its keys share one
revision (etcd's rule, the one a real deployment sees); SQLite and memory give each key
the next revision. So callers may rely on order and atomicity, never on a multi-key
write taking exactly one revision per key. `events_since` never splits a revision.

Backends that other processes write to (etcd) also offer a `ChangeFeed`, so a watch
parked in this process wakes on their writes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ringcache.cluster.errors import Conflict
from ringcache.cluster.registry.model import KeyValue, Lease, WatchEvent

# (key, revision of its deletion) for each key a multi-key delete removed.
Deleted = list[tuple[str, int]]


class RegistryBackend(Protocol):
    """Durable key-value storage with revisions, leases and an event history.

    Every write returns only once it is durable. `Conflict` is raised when a
    `prev_revision` compare fails (details: key, mod_revision), `NotFound` for a lease
    that does not exist.
    """

    def revision(self) -> int:
        """The newest revision (0 on an empty store)."""

    def compact_revision(self) -> int:
        """The newest revision whose event is no longer kept (0: nothing compacted)."""

    def get(self, key: str) -> KeyValue | None: ...

    def range(
        self, prefix: str, start_after: str | None = None, limit: int | None = None
    ) -> list[KeyValue]:
        """Keys starting with `prefix` (and > `start_after`), sorted by key."""

    def put(self, key: str, value: str, lease: int = 0, prev_revision: int | None = None) -> int:
        """Write one key; returns its new revision. `prev_revision` must equal the key's
        mod_revision (0: the key must not exist). A put with lease=0 detaches the key."""

    def put_many(self, items: Sequence[tuple[str, str]]) -> int:
        """Write all items in one transaction; returns its last revision."""

    def delete(self, key: str, prev_revision: int | None = None) -> int | None:
        """Delete one key; returns the revision of the deletion, None if it was absent."""

    def delete_prefix(self, prefix: str) -> Deleted:
        """Delete every key under `prefix` in one transaction."""

    def grant(self, ttl: float, now: float, lease_id: int = 0) -> int:
        """Create a lease lapsing at now + ttl; lease_id 0 lets the backend choose."""

    def refresh(self, lease_id: int, now: float) -> float:
        """Keep a lease alive until now + its ttl; returns the ttl (NotFound if gone)."""

    def revoke(self, lease_id: int) -> Deleted:
        """Drop a lease and delete its keys in one transaction (NotFound if gone)."""

    def lease(self, lease_id: int) -> Lease | None: ...

    def expired_leases(self, now: float) -> list[int]:
        """Ids of leases whose expiry is at or before `now`, oldest first."""

    def events_since(self, prefix: str, revision: int, limit: int) -> list[WatchEvent]:
        """Kept events on keys under `prefix` with revision >= `revision`, in order, at
        most `limit` unless the last revision has more events (revisions are whole)."""

    def compact(self, keep: int) -> int:
        """Drop all but the newest `keep` revisions of history; returns compact_revision."""

    def close(self) -> None: ...


class ChangeFeed(Protocol):
    """Tells a parked watch that a backend shared with other processes changed."""

    async def wait(self, prefix: str, revision: int) -> None:
        """Return once an event under `prefix` at `revision` or later exists."""

    def close(self) -> None: ...


def check_prev_revision(key: str, current: int | None, prev_revision: int | None) -> None:
    """The compare of compare-and-swap, the same for every backend: `prev_revision` must
    be the key's mod_revision (0: the key must not exist); Conflict otherwise."""
    if prev_revision is not None and prev_revision != (current or 0):
        raise Conflict(
            "mod_revision does not match",
            key=key,
            mod_revision=current or 0,
            prev_revision=prev_revision,
        )
