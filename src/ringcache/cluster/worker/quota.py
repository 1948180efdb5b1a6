"""This worker's side of the quotas: admission of new bytes, and eviction under a quota."""

from __future__ import annotations

from typing import Any

from ..cache.store import PageStore
from ..clock import Clock
from ..environment import RunIo
from ..errors import InvalidArgument
from ..policies import PolicySet
from ..policies.quota_check import QuotaGrowth, QuotaVerdict, check_quotas
from .scans import files_under
from .seams import UsageSource

ADMITTED = QuotaVerdict()  # no quota counts the file, or nothing more is needed


class QuotaAdmission:
    """Admits bytes into the cache under the quotas, and evicts under a quota's path.

    Counted against each quota: the usage the coordinator last published plus what this
    worker cached (and evicted) since, its growth. Approximate across workers: what others
    cached since that publish is not seen; the coordinator's gate does the cluster-wide
    part. Guarantees: an admission checks and adds its bytes as one step (thread-safe);
    eviction drops the least recently used files first and never a file it is told to keep.
    """

    def __init__(self, store: PageStore, clock: Clock, run_io: RunIo, watch: UsageSource) -> None:
        self.store = store
        self.clock = clock
        self.run_io = run_io
        self.watch = watch
        # What this worker cached and evicted under each quota that the usage it last saw
        # published does not count yet.
        self.growth = QuotaGrowth()

    def usage_published(self) -> None:
        """New usage arrived: forget the growth it already counts."""
        self.growth.forget_before(self.watch.usage_as_of)

    def admit(self, uri: str, needed: int, policies: PolicySet) -> QuotaVerdict:
        """May this worker cache `needed` more bytes of `uri`? EVICT quotas make room here.
        An admission adds `needed` to the growth; local evictions take it off."""
        rules = policies.quotas_for(uri)
        if not rules or needed <= 0:
            return ADMITTED
        growth, now = self.growth, self.clock.now()
        with growth.lock:
            usage = self.watch.usage
            verdict = check_quotas(
                rules, lambda rule: usage.get(rule.path, 0) + growth.total(rule.path), needed
            )
            if not verdict.allowed:
                return verdict
            for rule in rules:
                growth.add(now, rule.path, needed)
        for quota_path, amount in verdict.evict.items():
            freed = self.evict_under(policies, quota_path, amount, keep={uri})
            # Room made under a quota is room under each quota that contains it.
            for rule in rules:
                if quota_path == rule.path or quota_path.startswith(rule.path.rstrip("/") + "/"):
                    growth.add(now, rule.path, -freed)
        return verdict

    def evict_under(self, policies: PolicySet, quota_path: str, amount: int, keep: set[str]) -> int:
        """Drop the least recently used files under a quota's path until `amount` bytes are
        freed (or nothing is left but `keep`); returns the bytes freed."""
        try:
            root = policies.mounts.to_ufs_uri(quota_path)
        except InvalidArgument:  # its mount point is gone: nothing of it is cached
            return 0
        store = self.store
        freed = 0
        for cached in sorted(files_under(store, root), key=lambda f: (f.last_access, f.path)):
            if freed >= amount:
                break
            if cached.path not in keep:
                freed += store.remove_file(cached.path)
        return freed

    def make_room(self, evict: dict[str, int], keep: set[str]) -> int:
        """Evict `{quota path: bytes}` under each path, least recently used first."""
        policies = self.watch.policies
        return sum(
            self.evict_under(policies, path, int(amount), keep) for path, amount in evict.items()
        )

    async def lru_under(self, ufs_root: str, wanted: int) -> list[list[Any]]:
        """The least recently used files under `ufs_root`, oldest first, just enough to
        free `wanted` bytes: `[path, cachedBytes, lastAccess]` each."""

        def oldest() -> list[list[Any]]:
            found, total = [], 0
            for cached in sorted(
                files_under(self.store, ufs_root), key=lambda f: (f.last_access, f.path)
            ):
                if total >= wanted:
                    break
                if cached.cached_bytes:
                    found.append([cached.path, cached.cached_bytes, cached.last_access])
                    total += cached.cached_bytes
            return found

        return await self.run_io(oldest)

    async def evict_files(self, paths: list[str]) -> int:
        """Drop these files (a quota's eviction); returns the bytes freed."""
        store = self.store
        return await self.run_io(lambda: sum(store.remove_file(path) for path in paths))
