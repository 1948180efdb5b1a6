"""Whether a cached copy may still be served: its TTL, and the `maxAge` cache filter."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..cache.model import CachedFile
from ..cache.store import PageStore
from ..policies import CacheRule, PolicySet
from ..ufs.filesystem import FileStatus, UnderFileSystem

VALIDATED_MEMORY = 100_000  # maxAge files remembered as revalidated (forgetting costs a stat)


def expired(info: CachedFile, policies: PolicySet, now: float) -> bool:
    """Whether `info` was cached longer ago than its TTL rule allows."""
    ttl = policies.ttl_for(info.path)
    return ttl is not None and info.cached_at + ttl <= now


class Freshness:
    """Decides, on a read, whether the cached copy of a file may be served.

    Guarantees: a copy past its TTL is never served (it is dropped); a `maxAge` copy
    older than the rule's time (since it was cached or last revalidated) is served only
    after the UFS confirmed it still has that version, and dropped otherwise. Thread-safe:
    reads run on several I/O threads.
    """

    def __init__(self, store: PageStore) -> None:
        self.store = store
        self._validated_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def servable(
        self, ufs: UnderFileSystem, uri: str, policies: PolicySet, now: float
    ) -> tuple[CachedFile | None, FileStatus | None]:
        """The cached copy of `uri` if it may be served now, else None, having dropped it.

        Also returns the UFS status when it was looked up, so the caller need not ask again.
        """
        store = self.store
        info = store.file_info(uri)
        if info is None:
            return None, None
        if expired(info, policies, now):
            store.remove_file(uri)
            return None, None
        rule, max_age = policies.cache_rule_for(uri)
        if rule is not CacheRule.MAX_AGE or max_age is None:
            return info, None
        with self._lock:
            checked = max(info.cached_at, self._validated_at.get(uri, info.cached_at))
        if now - checked < max_age:
            return info, None
        status = ufs.stat(uri)
        with self._lock:
            if status.version != info.version:
                store.remove_file(uri)
                self._validated_at.pop(uri, None)
                return None, status
            self._validated_at[uri] = now
            self._validated_at.move_to_end(uri)
            while len(self._validated_at) > VALIDATED_MEMORY:
                self._validated_at.popitem(last=False)
        return info, None
