"""The registry service: etcd-like keys, revisions, leases and watches over a backend."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ringcache.cluster.clock import Clock
from ringcache.cluster.errors import InvalidArgument, NotFound
from ringcache.cluster.registry.backend import ChangeFeed, RegistryBackend
from ringcache.cluster.registry.model import Compacted, KeyValue, WatchEvent

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Waiter:
    """A parked watch call: its prefix and the future a matching write resolves."""

    prefix: str
    woken: asyncio.Future[None]


class Registry:
    """Membership and all durable cluster state, as an etcd-like key-value service.

    Guarantees:
    - Durability: a write returns only after the backend made it durable (with
      `SqliteBackend`, on disk: a crash loses nothing acknowledged).
    - Revisions: one global revision that only increases, also across restarts;
      `mod_revision`, `create_revision` and `version` follow etcd. `put_many`,
      `delete_prefix` and lease expiry are atomic (one revision per key, or one shared
      revision on etcd: see `backend`).
    - Compare-and-swap: `prev_revision` makes a write conditional on the key's current
      mod_revision (0: the key must be absent); a mismatch raises `Conflict` with the
      current `mod_revision` in `details`.
    - Leases: a lease lapses `ttl` seconds (clock time) after its grant or last keepalive;
      then its keys are deleted, with DELETE events. Expiry is checked at the start of
      every call and by `run()`, so no call ever observes a lapsed lease or its keys.
      Expiry times are absolute, so leases keep their remaining time across a restart,
      and those that lapsed while the registry was down expire on the first call.
    - Watches: `watch` returns every event under a prefix from a revision on, in
      revision order, with no gaps (unless `Compacted` is raised), and parks without
      polling until a matching write or the timeout. With a `changes` feed (etcd), a
      write by any other client of the backend wakes it too.
    Time is read only from the injected clock, so the same code runs under a virtual
    clock. Backend calls are synchronous and short; the registry is meant for one
    asyncio loop (one actor).
    """

    def __init__(
        self,
        backend: RegistryBackend,
        clock: Clock,
        *,
        sweep_interval: float = 0.5,
        watch_batch: int = 1000,
        changes: ChangeFeed | None = None,
    ) -> None:
        self._backend = backend
        self._changes = changes
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._watch_batch = watch_batch
        # A dict keeps insertion order, so watchers wake in a reproducible order.
        self._waiters: dict[int, _Waiter] = {}
        self._waiter_ids = itertools.count()
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"Registry({self._backend!r})"

    @property
    def backend(self) -> RegistryBackend:
        return self._backend

    # -- keys ----------------------------------------------------------------------------

    async def put(
        self, key: str, value: str, *, lease: int = 0, prev_revision: int | None = None
    ) -> int:
        """Write `key`; returns the new revision. Raises Conflict, NotFound (lease)."""
        _check_key(key)
        _check_value(value)
        self._expire_lapsed()
        revision = self._backend.put(key, value, lease, prev_revision)
        self._notify([key])
        return revision

    async def put_many(self, items: Sequence[tuple[str, str]]) -> int:
        """Write all items atomically; returns the revision of the last one."""
        items = [(key, value) for key, value in items]
        for key, value in items:
            _check_key(key)
            _check_value(value)
        self._expire_lapsed()
        if not items:
            return self._backend.revision()
        revision = self._backend.put_many(items)
        self._notify(key for key, _ in items)
        return revision

    async def get(self, key: str) -> KeyValue | None:
        self._expire_lapsed()
        return self._backend.get(key)

    async def range(
        self, prefix: str, *, start_after: str | None = None, limit: int | None = None
    ) -> list[KeyValue]:
        """Keys under `prefix`, sorted, after `start_after`, at most `limit` of them."""
        if limit is not None and limit < 0:
            raise InvalidArgument("limit must not be negative", limit=limit)
        self._expire_lapsed()
        return self._backend.range(prefix, start_after, limit)

    async def delete(self, key: str, *, prev_revision: int | None = None) -> bool:
        """Delete `key`; False if it did not exist. Raises Conflict like `put`."""
        self._expire_lapsed()
        revision = self._backend.delete(key, prev_revision)
        if revision is None:
            return False
        self._notify([key])
        return True

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under a non-empty `prefix` atomically; returns how many."""
        if not prefix:
            raise InvalidArgument("refusing to delete the whole keyspace; give a prefix")
        self._expire_lapsed()
        deleted = self._backend.delete_prefix(prefix)
        self._notify(key for key, _ in deleted)
        return len(deleted)

    async def revision(self) -> int:
        self._expire_lapsed()
        return self._backend.revision()

    # -- leases --------------------------------------------------------------------------

    async def lease_grant(self, ttl: float) -> int:
        """Grant a lease of `ttl` seconds; returns its id (ids are never reused)."""
        if not (isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0):
            raise InvalidArgument("ttl must be a positive number of seconds", ttl=ttl)
        self._expire_lapsed()
        return self._backend.grant(float(ttl), self._clock.now())

    async def lease_keepalive(self, lease_id: int) -> float:
        """Restart the lease's ttl; returns it. NotFound if it lapsed or was revoked."""
        self._expire_lapsed()
        return self._backend.refresh(lease_id, self._clock.now())

    async def lease_revoke(self, lease_id: int) -> None:
        """End the lease now and delete its keys. NotFound if it is already gone."""
        self._expire_lapsed()
        deleted = self._backend.revoke(lease_id)
        self._notify(key for key, _ in deleted)

    async def lease_time_to_live(self, lease_id: int) -> float | None:
        """Seconds left on the lease, None if it lapsed, was revoked or never existed."""
        self._expire_lapsed()
        lease = self._backend.lease(lease_id)
        if lease is None:
            return None
        return max(0.0, lease.expires_at - self._clock.now())

    # -- watch ---------------------------------------------------------------------------

    async def watch(
        self, prefix: str, start_revision: int, timeout: float
    ) -> tuple[list[WatchEvent], int]:
        """Long-poll the events on keys under `prefix` with revision >= `start_revision`.

        Returns at once with up to one batch of events, else waits until a matching write
        or `timeout` seconds (clock time) and returns ([], next). Pass the returned
        revision as the next `start_revision`. `start_revision` <= 0 means "from now".
        Raises Compacted when the history from `start_revision` is no longer kept.
        """
        if not (math.isfinite(timeout) and timeout >= 0):
            raise InvalidArgument("timeout must be a non-negative number", timeout=timeout)
        self._expire_lapsed()
        if start_revision <= 0:
            start_revision = self._backend.revision() + 1
        deadline = self._clock.now() + timeout
        while True:
            events, next_revision = self._read_events(prefix, start_revision)
            remaining = deadline - self._clock.now()
            if events or remaining <= 0:
                return events, next_revision
            await self._wait_for_write(prefix, next_revision, remaining)

    def _read_events(self, prefix: str, start_revision: int) -> tuple[list[WatchEvent], int]:
        # The head is read first: with other writers (etcd), a head read after the events
        # could skip a write made in between.
        head = self._backend.revision()
        compact_revision = self._backend.compact_revision()
        if start_revision <= compact_revision:
            raise Compacted(
                "watch history before this revision was compacted",
                compact_revision=compact_revision,
                start_revision=start_revision,
            )
        events = self._backend.events_since(prefix, start_revision, self._watch_batch)
        if len(events) == self._watch_batch:
            return events, events[-1].kv.mod_revision + 1
        # A short batch covers everything up to the head, so the watcher may skip ahead.
        last = events[-1].kv.mod_revision if events else 0
        return events, max(start_revision, head + 1, last + 1)

    async def _wait_for_write(self, prefix: str, revision: int, seconds: float) -> None:
        waiter = _Waiter(prefix, asyncio.get_running_loop().create_future())
        waiter_id = next(self._waiter_ids)
        self._waiters[waiter_id] = waiter
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        wakers: set[asyncio.Future[None]] = {waiter.woken, timer}
        remote = None
        if self._changes is not None:
            remote = asyncio.ensure_future(self._changes.wait(prefix, revision))
            wakers.add(remote)
        try:
            await asyncio.wait(wakers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._waiters[waiter_id]
            timer.cancel()
            waiter.woken.cancel()
            if remote is not None:
                remote.cancel()
                if remote.done() and not remote.cancelled() and remote.exception():
                    log.warning("registry change feed failed: %r", remote.exception())

    def _notify(self, keys: Iterable[str]) -> None:
        if not self._waiters:
            return
        keys = list(keys)
        for waiter in self._waiters.values():
            if not waiter.woken.done() and any(key.startswith(waiter.prefix) for key in keys):
                waiter.woken.set_result(None)

    # -- expiry loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Expire lapsed leases every `sweep_interval` seconds until `stop()`.

        Each sweep is guarded, so one failing sweep never ends the loop.
        """
        self._stop_event = stop = asyncio.Event()
        while not self._stop_requested:
            try:
                self._expire_lapsed()
            except Exception:
                log.exception("registry lease sweep failed; retrying next interval")
            timer = asyncio.ensure_future(self._clock.sleep(self._sweep_interval))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({timer, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                stopped.cancel()

    def stop(self) -> None:
        """End `run()` (at once, not after its current sleep)."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    def close(self) -> None:
        """Stop the sweep and close the backend (and its change feed)."""
        self.stop()
        if self._changes is not None:
            self._changes.close()
        self._backend.close()

    def _expire_lapsed(self) -> None:
        now = self._clock.now()
        for lease_id in self._backend.expired_leases(now):
            try:
                deleted = self._backend.revoke(lease_id)
            except NotFound:  # revoked meanwhile by someone else; nothing left to do
                continue
            log.info("lease %d lapsed; deleted %d keys", lease_id, len(deleted))
            self._notify(key for key, _ in deleted)


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or not _encodable(key):
        raise InvalidArgument("key must be a non-empty UTF-8 string", key=repr(key))


def _check_value(value: object) -> None:
    if not isinstance(value, str) or not _encodable(value):
        raise InvalidArgument("value must be a UTF-8 string", type=type(value).__name__)


def _encodable(text: str) -> bool:
    # Lone surrogates cannot be stored (SQLite and etcd keep UTF-8 bytes).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
