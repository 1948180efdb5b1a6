"""A registry backend in memory: `SqliteBackend`'s semantics without a database.

For the simulator, where ten thousand workers keep leases alive under virtual time and
nothing needs to outlive the process. Every call is O(log n) or O(answer) except the
creation or deletion of a key, which moves one sorted list (a memmove, fast at the
scale of cluster metadata). Watches ask for the events under a few prefixes, each asked
by thousands of workers: the revisions of each such prefix's events are kept (from its
first ask on), so a watch finds its events without walking every write since its last.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence

from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.registry.backend import Deleted, check_prev_revision
from ringcache.cluster.registry.model import KeyValue, Lease, WatchEvent

WATCHED_PREFIXES = 32  # prefixes whose events are indexed; others are found by a walk


class MemoryBackend:
    """`RegistryBackend` held in dicts and lists; nothing is durable.

    Guarantees: the same answers, revisions, events and errors as `SqliteBackend` for the
    same calls (a differential test checks it), including history compaction in the same
    batches; a failed call changes nothing. Not thread-safe: meant for one event loop.
    """

    def __init__(self, *, history: int = 100_000) -> None:
        if history < 1:
            raise InvalidArgument("history must keep at least one revision", history=history)
        self.history = history
        self._compact_slack = max(1, min(history // 10, 10_000))  # as SqliteBackend does
        self._revision = 0
        self._compact_revision = 0
        self._last_lease = 0
        self._kv: dict[str, KeyValue] = {}
        self._keys: list[str] = []  # sorted
        # One event per revision, so the event of revision r is at r - compact_revision - 1.
        self._events: list[WatchEvent] = []
        self._leases: dict[int, Lease] = {}
        self._lease_keys: dict[int, dict[str, None]] = {}
        # (expires_at, id), possibly stale after a refresh or revoke; checked when read.
        self._expiry: list[tuple[float, int]] = []
        # The revisions of the kept events under each prefix watched, up to WATCHED_PREFIXES.
        self._watched: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"MemoryBackend(revision={self._revision}, keys={len(self._keys)})"

    # -- reads -----------------------------------------------------------------------------

    def revision(self) -> int:
        return self._revision

    def compact_revision(self) -> int:
        return self._compact_revision

    def get(self, key: str) -> KeyValue | None:
        return self._kv.get(key)

    def range(
        self, prefix: str, start_after: str | None = None, limit: int | None = None
    ) -> list[KeyValue]:
        keys = self._keys
        position = bisect_left(keys, prefix)
        if start_after is not None:
            position = max(position, bisect_right(keys, start_after))
        found: list[KeyValue] = []
        while position < len(keys) and (limit is None or limit < 0 or len(found) < limit):
            key = keys[position]
            if not key.startswith(prefix):
                break
            found.append(self._kv[key])
            position += 1
        return found

    def lease(self, lease_id: int) -> Lease | None:
        return self._leases.get(lease_id)

    def expired_leases(self, now: float) -> list[int]:
        heap, leases = self._expiry, self._leases
        expired: list[tuple[float, int]] = []
        while heap and heap[0][0] <= now:
            expires_at, lease_id = heapq.heappop(heap)
            lease = leases.get(lease_id)
            if lease is not None and lease.expires_at == expires_at:
                expired.append((expires_at, lease_id))
        for entry in expired:  # reading must not consume: they lapse when revoked
            heapq.heappush(heap, entry)
        seen: dict[int, None] = {}
        for _, lease_id in expired:  # popped in (expires_at, id) order: oldest first
            seen.setdefault(lease_id)
        return list(seen)

    def events_since(self, prefix: str, revision: int, limit: int) -> list[WatchEvent]:
        events, compacted = self._events, self._compact_revision
        revisions = self._watched.get(prefix)
        if revisions is None and len(self._watched) < WATCHED_PREFIXES:
            revisions = self._watched[prefix] = [
                event.kv.mod_revision for event in events if event.kv.key.startswith(prefix)
            ]
        if revisions is not None:
            start = bisect_left(revisions, max(revision, compacted + 1))
            return [events[r - compacted - 1] for r in revisions[start : start + max(limit, 0)]]
        position = max(0, revision - compacted - 1)
        found: list[WatchEvent] = []
        while position < len(events) and len(found) < limit:
            event = events[position]
            if event.kv.key.startswith(prefix):
                found.append(event)
            position += 1
        return found

    # -- writes ----------------------------------------------------------------------------

    def put(self, key: str, value: str, lease: int = 0, prev_revision: int | None = None) -> int:
        self._compare(key, prev_revision)
        if lease and lease not in self._leases:
            raise NotFound("lease not found", lease=lease)
        revision = self._put_row(key, value, lease)
        self._maybe_compact()
        return revision

    def put_many(self, items: Sequence[tuple[str, str]]) -> int:
        for key, value in items:
            self._put_row(key, value, 0)
        self._maybe_compact()
        return self._revision

    def delete(self, key: str, prev_revision: int | None = None) -> int | None:
        if self._compare(key, prev_revision) is None:
            return None
        revision = self._delete_row(key)
        self._maybe_compact()
        return revision

    def delete_prefix(self, prefix: str) -> Deleted:
        keys = [kv.key for kv in self.range(prefix)]
        deleted = [(key, self._delete_row(key)) for key in keys]
        self._maybe_compact()
        return deleted

    def grant(self, ttl: float, now: float, lease_id: int = 0) -> int:
        if lease_id == 0:
            lease_id = self._last_lease + 1
        elif lease_id in self._leases:
            raise Conflict("lease already exists", lease=lease_id)
        # Ids never repeat, so a stale holder can never keep someone else's lease alive.
        self._last_lease = max(self._last_lease, lease_id)
        self._set_lease(Lease(lease_id, ttl, now + ttl))
        return lease_id

    def refresh(self, lease_id: int, now: float) -> float:
        lease = self._leases.get(lease_id)
        if lease is None:
            raise NotFound("lease not found", lease=lease_id)
        if lease.expires_at != now + lease.ttl:
            self._set_lease(Lease(lease_id, lease.ttl, now + lease.ttl))
        return lease.ttl

    def revoke(self, lease_id: int) -> Deleted:
        if lease_id not in self._leases:
            raise NotFound("lease not found", lease=lease_id)
        keys = sorted(self._lease_keys.get(lease_id, ()))
        deleted = [(key, self._delete_row(key)) for key in keys]
        del self._leases[lease_id]
        self._lease_keys.pop(lease_id, None)
        self._maybe_compact()
        return deleted

    def compact(self, keep: int) -> int:
        target = max(self._compact_revision, self._revision - max(keep, 0))
        del self._events[: target - self._compact_revision]
        self._compact_revision = target
        for revisions in self._watched.values():
            del revisions[: bisect_right(revisions, target)]
        return target

    def close(self) -> None:
        pass  # nothing to release

    # -- internals -------------------------------------------------------------------------

    def _compare(self, key: str, prev_revision: int | None) -> int | None:
        """Check the CAS condition; returns the key's current mod_revision (None: absent)."""
        kv = self._kv.get(key)
        current = None if kv is None else kv.mod_revision
        check_prev_revision(key, current, prev_revision)
        return current

    def _put_row(self, key: str, value: str, lease: int) -> int:
        self._revision += 1
        revision = self._revision
        old = self._kv.get(key)
        if old is None:
            insort(self._keys, key)
            kv = KeyValue(key, value, revision, revision, 1, lease)
        else:
            self._detach(old)
            kv = KeyValue(key, value, old.create_revision, revision, old.version + 1, lease)
        self._kv[key] = kv
        if lease:
            self._lease_keys.setdefault(lease, {})[key] = None
        self._append(WatchEvent("PUT", kv))
        return revision

    def _delete_row(self, key: str) -> int:
        self._revision += 1
        old = self._kv.pop(key)
        self._detach(old)
        del self._keys[bisect_left(self._keys, key)]
        self._append(WatchEvent("DELETE", KeyValue(key, "", 0, self._revision, 0, 0)))
        return self._revision

    def _append(self, event: WatchEvent) -> None:
        self._events.append(event)
        key = event.kv.key
        for prefix, revisions in self._watched.items():
            if key.startswith(prefix):
                revisions.append(event.kv.mod_revision)

    def _detach(self, kv: KeyValue) -> None:
        if kv.lease:
            keys = self._lease_keys.get(kv.lease)
            if keys is not None:
                keys.pop(kv.key, None)

    def _set_lease(self, lease: Lease) -> None:
        self._leases[lease.id] = lease
        heapq.heappush(self._expiry, (lease.expires_at, lease.id))

    def _maybe_compact(self) -> None:
        if self._revision - self._compact_revision > self.history + self._compact_slack:
            self.compact(self.history)
