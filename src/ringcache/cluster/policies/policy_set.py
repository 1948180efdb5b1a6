"""`PolicySet`: one immutable snapshot of every rule, indexed for per-file questions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from ..cache.model import DEFAULT_PRIORITY
from ..errors import InvalidArgument
from ..paths import is_uri, normalize_cluster_path
from ..ufs.mounts import MountTable
from .rules import DEFAULT_FILTER, CacheRule, FilterRule, PriorityRule, QuotaRule, TtlRule

log = logging.getLogger(__name__)

Rule = TypeVar("Rule", QuotaRule, TtlRule, PriorityRule)


class PolicySet:
    """Every quota, TTL, priority and cache-filter rule as of one registry revision.

    Guarantees:
    - Immutable: share it freely between tasks; a refresh builds a new one.
    - A path may be a cluster path (normalized here) or a UFS URI in the canonical form
      the page store keys files by (`canonical_uri`), which is looked up as given.
    - Path rules cost one dict probe per path segment, however many rules exist: the
      most specific rule is the first hit walking from the path up to its mount point.
    - `cache_rule_for` tries the patterns in the order they were added and returns the
      first that fully matches (`re.fullmatch`), else the default rule: O(patterns).
    - A rule whose mount point is gone (an unmount that could not drop it) still lists,
      but never applies to a UFS URI.
    `revision` is the registry revision read before the rules: watching `/policies/`
    from `revision + 1` sees every change not already in this snapshot.
    """

    def __init__(
        self,
        *,
        quotas: Iterable[QuotaRule] = (),
        ttls: Iterable[TtlRule] = (),
        priorities: Iterable[PriorityRule] = (),
        filters: Iterable[FilterRule] = (),
        default_filter: FilterRule = DEFAULT_FILTER,
        mounts: MountTable | None = None,
        revision: int = 0,
    ) -> None:
        self.mounts = mounts if mounts is not None else MountTable()
        self.revision = revision
        self.quotas = _Index(quotas, self.mounts)
        self.ttls = _Index(ttls, self.mounts)
        self.priorities = _Index(priorities, self.mounts)
        self.filters: tuple[FilterRule, ...] = tuple(filters)
        self.default_filter = default_filter
        # Whether a rule of each kind can apply at all: the load path asks per file, and
        # skips the question when none can (most clusters have few rules, many files).
        self.any_quota = bool(self.quotas.rules)
        self.any_priority = bool(self.priorities.rules)
        self.any_skip = default_filter.rule is CacheRule.SKIP_CACHE or any(
            rule.rule is CacheRule.SKIP_CACHE for rule in self.filters
        )

    def __repr__(self) -> str:
        return (
            f"PolicySet(revision={self.revision}, quotas={len(self.quotas.rules)}, "
            f"ttls={len(self.ttls.rules)}, priorities={len(self.priorities.rules)}, "
            f"filters={len(self.filters)}, default={self.default_filter.rule.value})"
        )

    def ttl_for(self, path: str) -> float | None:
        """Seconds cached data under `path` lives (the most specific rule), None: forever."""
        rule = self.ttls.most_specific(path)
        return None if rule is None else rule.seconds

    def priority_for(self, path: str) -> str:
        """The eviction level of `path`: the most specific rule's, else MEDIUM."""
        rule = self.priorities.most_specific(path)
        return DEFAULT_PRIORITY if rule is None else rule.priority

    def quotas_for(self, path: str) -> list[QuotaRule]:
        """Every quota that counts `path`: on it and on each ancestor, innermost first."""
        return self.quotas.all_along(path)

    def filter_for(self, ufs_uri: str) -> FilterRule:
        """The cache-filter rule for a UFS URI (a cluster path is translated first)."""
        if not self.filters:
            return self.default_filter
        if not is_uri(ufs_uri):
            try:
                ufs_uri = self.mounts.to_ufs_uri(ufs_uri)
            except InvalidArgument:  # under no mount point: nothing is cached there anyway
                return self.default_filter
        for rule in self.filters:
            if rule.matches(ufs_uri):
                return rule
        return self.default_filter

    def cache_rule_for(self, ufs_uri: str) -> tuple[CacheRule, float | None]:
        """`(rule, maxAge seconds or None)` for a UFS URI: first full match, else default."""
        rule = self.filter_for(ufs_uri)
        return rule.rule, rule.seconds


class _Index(Generic[Rule]):
    """Rules on paths, by cluster path and by the UFS URI each path stands for."""

    def __init__(self, rules: Iterable[Rule], mounts: MountTable) -> None:
        self.rules: tuple[Rule, ...] = tuple(sorted(rules, key=lambda rule: rule.path))
        self.by_cluster_path = {rule.path: rule for rule in self.rules}
        self.by_ufs_uri: dict[str, Rule] = {}
        for rule in self.rules:
            try:
                self.by_ufs_uri[mounts.to_ufs_uri(rule.path)] = rule
            except InvalidArgument:
                log.warning("%s rule on %s is under no mount point; ignored", rule.KIND, rule.path)

    def _lookup(self, path: str) -> tuple[dict[str, Rule], str]:
        if is_uri(path):
            return self.by_ufs_uri, path
        return self.by_cluster_path, normalize_cluster_path(path)

    def most_specific(self, path: str) -> Rule | None:
        if not self.rules:
            return None
        index, key = self._lookup(path)
        for candidate in lineage(key):
            rule = index.get(candidate)
            if rule is not None:
                return rule
        return None

    def all_along(self, path: str) -> list[Rule]:
        if not self.rules:
            return []
        index, key = self._lookup(path)
        return [index[candidate] for candidate in lineage(key) if candidate in index]


def lineage(key: str) -> Iterator[str]:
    """`key` and each ancestor, longest first, down to the root (`/` or `scheme:///`)."""
    start = key.index("://") + 3 if is_uri(key) else 0
    if key.startswith("/", start):
        start += 1  # the leading slash of an absolute location belongs to the root
    while True:
        yield key
        cut = key.rfind("/", start)
        if cut < 0:
            if len(key) > start:
                yield key[:start]
            return
        key = key[:cut]
