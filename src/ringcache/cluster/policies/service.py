"""`PolicyService`: the coordinator's policy and file-index calls, one method per REST call.

The coordinator delegates to it one line per method; the REST layer (`http/quota.py` and
its siblings) calls those coordinator methods by these names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..environment import Environment
from ..errors import InvalidArgument, NotFound, NotSupported, UfsError
from ..index.file_index import FileIndex, FileRecord
from ..paths import is_uri, normalize_cluster_path
from ..refs import ActorRef
from ..ufs.mount_store import read_mount_table
from ..ufs.mounts import MountTable
from ..ufs.names import canonical_uri
from .config import PolicyConfig
from .enforcer import used_bytes
from .policy_set import PolicySet
from .rules import FilterRule, PriorityRule, QuotaRule, TtlRule
from .store import PolicyStore

MountSource = Callable[[], Awaitable[MountTable]]
#: Bytes cached under each quota's path, by path; the default estimates from the file index.
QuotaUsage = Callable[[Sequence[QuotaRule]], Awaitable[dict[str, int]]]

R = TypeVar("R", QuotaRule, TtlRule, PriorityRule)

_FEATURES = {
    "quota": "quota",
    "ttl": "TTL",
    "priority": "priority eviction",
    "cache_filter": "the cache filter",
}


class PolicyService:
    """Quota, TTL, priority, cache-filter and file-index calls, validated and persisted.

    Guarantees: every argument is validated before anything is written (400 with a sentence
    naming the bad value); a rule is durable in the registry before the call returns; a
    disabled feature answers 501 (the file index 404) before looking at its arguments.
    Paths may be cluster paths or UFS URIs; rules are kept and answered by cluster path.
    """

    def __init__(
        self,
        registry: ActorRef,
        mounts: MountSource | None,
        file_index: FileIndex,
        config: PolicyConfig,
        *,
        env: Environment | None = None,
        quota_usage: QuotaUsage | None = None,
        on_rules_changed: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """`on_rules_changed()` runs after each rule write, before the call answers (the
        coordinator's brings the live workers up to the write)."""
        self.store = PolicyStore(registry)
        self.file_index = file_index
        self.config = config
        self.env = env or Environment()
        self._mounts = mounts or (lambda: read_mount_table(registry))
        self._quota_usage = quota_usage or self._usage_from_file_index
        self._rules_changed = on_rules_changed or _nothing

    async def policies(self) -> PolicySet:
        """The rules now in force, for jobs and workers (disabled features contribute none)."""
        return await self.store.load(self.config, await self._mounts())

    async def forget_mount(self, path: str, ufs: str) -> dict[str, int]:
        """An unmount: drop the rules under `path` and the index entries under `ufs`."""
        dropped = await self.store.drop_under(normalize_cluster_path(path))
        return {"policies": dropped, "files": self.file_index.remove_under(ufs)}

    # -- quota -----------------------------------------------------------------------------

    async def list_quotas(self) -> list[dict[str, Any]]:
        self._require("quota")
        return await self._with_usage(await self.store.list_rules(QuotaRule))

    async def get_quota(self, path: str) -> dict[str, Any]:
        self._require("quota")
        return (await self._with_usage([await self._get(QuotaRule, path)]))[0]

    async def set_quota(self, path: str, size: object, action: object = None) -> dict[str, Any]:
        self._require("quota")
        rule = QuotaRule.parse(path, size, action, await self._mounts())
        await self.store.put_rule(rule)
        await self._rules_changed()
        return (await self._with_usage([rule]))[0]

    async def remove_quota(self, path: str) -> dict[str, Any]:
        self._require("quota")
        return (await self._remove(QuotaRule, path)).record()

    async def _with_usage(self, rules: Sequence[QuotaRule]) -> list[dict[str, Any]]:
        used = await self._quota_usage(rules) if rules else {}
        return [{**rule.record(), "usedBytes": used.get(rule.path, 0)} for rule in rules]

    async def _usage_from_file_index(self, rules: Sequence[QuotaRule]) -> dict[str, int]:
        if not self.config.file_index.enabled:
            return {}
        return await used_bytes(rules, await self._mounts(), self.file_index, self.env)

    # -- TTL and priority ------------------------------------------------------------------

    async def list_ttls(self) -> list[dict[str, Any]]:
        self._require("ttl")
        return [rule.record() for rule in await self.store.list_rules(TtlRule)]

    async def get_ttl(self, path: str) -> dict[str, Any]:
        self._require("ttl")
        return (await self._get(TtlRule, path)).record()

    async def set_ttl(self, path: str, time: object) -> dict[str, Any]:
        self._require("ttl")
        rule = TtlRule.parse(path, time, await self._mounts())
        await self.store.put_rule(rule)
        await self._rules_changed()
        return rule.record()

    async def remove_ttl(self, path: str) -> dict[str, Any]:
        self._require("ttl")
        return (await self._remove(TtlRule, path)).record()

    async def list_priorities(self) -> list[dict[str, Any]]:
        self._require("priority")
        return [rule.record() for rule in await self.store.list_rules(PriorityRule)]

    async def get_priority(self, path: str) -> dict[str, Any]:
        self._require("priority")
        return (await self._get(PriorityRule, path)).record()

    async def set_priority(self, path: str, priority: object) -> dict[str, Any]:
        self._require("priority")
        rule = PriorityRule.parse(path, priority, await self._mounts())
        await self.store.put_rule(rule)
        await self._rules_changed()
        return rule.record()

    async def remove_priority(self, path: str) -> dict[str, Any]:
        self._require("priority")
        return (await self._remove(PriorityRule, path)).record()

    # -- cache filter ----------------------------------------------------------------------

    async def list_cache_filters(self) -> dict[str, Any]:
        self._require("cache_filter")
        rules = await self.store.list_filters()
        default = await self.store.default_filter()
        return {"results": [rule.record() for rule in rules], "default": default.record()}

    async def add_cache_filter(
        self, pattern: object, rule: object, time: object = None
    ) -> dict[str, Any]:
        self._require("cache_filter")
        if pattern is None:
            raise InvalidArgument(
                'give a "pattern" to add a rule, or "updateDefault": true to change the default'
            )
        parsed = FilterRule.parse(pattern, rule, time)
        await self.store.add_filter(parsed)
        await self._rules_changed()
        return parsed.record()

    async def update_default_cache_filter(
        self, rule: object, time: object = None
    ) -> dict[str, Any]:
        self._require("cache_filter")
        parsed = FilterRule.parse_default(rule, time)
        await self.store.set_default_filter(parsed)
        await self._rules_changed()
        return parsed.record()

    async def remove_cache_filter(self, pattern: object, rule: object) -> dict[str, Any]:
        """Delete a listed rule; 400 if there is none (the default cannot be deleted)."""
        self._require("cache_filter")
        if pattern is None:
            raise InvalidArgument(
                "the default cache-filter rule cannot be deleted; change it with "
                'POST {"updateDefault": true, "rule": ...}'
            )
        removed = await self.store.remove_filter(pattern, rule)
        await self._rules_changed()
        return removed.record()

    # -- global file index -----------------------------------------------------------------

    async def list_file_index(
        self, prefix: str | None = None, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        self._require_file_index()
        if prefix is not None and prefix.startswith("/"):
            prefix = await self._ufs_prefix(prefix)
        return self.file_index.list(prefix, last_key, count)

    async def add_file_index(self, paths: Sequence[str]) -> int:
        """Stat each path on its UFS and index it, all or none; returns how many were added."""
        self._require_file_index()
        mounts = await self._mounts()
        records = await self.env.run_io(self._stat_all, mounts, list(paths))
        return self.file_index.add_stat_only(records)

    async def remove_file_index(self, paths: Sequence[str]) -> int:
        self._require_file_index()
        mounts = await self._mounts()
        # A URI is taken as it is: its entries may outlive their mount point and must
        # still be removable. A cluster path can only mean something through a mount.
        return self.file_index.remove(
            [canonical_uri(path) if is_uri(path) else mounts.to_ufs_uri(path) for path in paths]
        )

    def _stat_all(self, mounts: MountTable, paths: list[str]) -> list[FileRecord]:
        records = []
        for path in paths:
            mount, uri = mounts.resolve(path)  # 400 naming the path if under no mount
            try:
                status = self.env.ufs_factory(mount.ufs, mount.options).stat(uri)
            except UfsError as exc:
                raise InvalidArgument(f"cannot index {path}: {exc.message}") from exc
            records.append(FileRecord(status.path, status.size, status.mtime, status.etag))
        return records

    async def _ufs_prefix(self, prefix: str) -> str:
        # A cluster-path prefix lists what its UFS location holds; a trailing slash stays,
        # so "/data/a/" does not also list "/data/ab".
        uri = (await self._mounts()).to_ufs_uri(prefix)
        return uri + "/" if prefix.endswith("/") and not uri.endswith("/") else uri

    # -- shared ----------------------------------------------------------------------------

    async def require_feature(self, feature: str) -> None:
        """Raise what a call to a disabled `feature` answers (501; 404 for the file index)."""
        if feature == "file_index":
            self._require_file_index()
        elif feature in _FEATURES:
            self._require(feature)
        else:
            raise InvalidArgument(f"no policy feature is called {feature!r}")

    def _require(self, feature: str) -> None:
        if not getattr(self.config, feature).enabled:
            raise NotSupported(
                f"{_FEATURES[feature]} is disabled in this cluster's configuration "
                f"(policies.{feature}.enabled = false)"
            )

    def _require_file_index(self) -> None:
        if not self.config.file_index.enabled:
            raise NotFound(
                "the global file index is disabled in this cluster's configuration "
                "(policies.file_index.enabled = false)"
            )

    async def _find(self, kind: type[R], path: object) -> tuple[str, R | None]:
        """The cluster path a GET or DELETE names and the rule on it, if any.

        A rule is found by its own path even if its mount point is gone, so that it can
        still be shown and removed; any other path must be under a mount (400 otherwise).
        """
        if not isinstance(path, str):
            raise InvalidArgument(f"a path is a string, not {path!r}")
        mounts = await self._mounts()
        cluster_path = mounts.to_cluster_path(path) if is_uri(path) else None
        cluster_path = cluster_path or normalize_cluster_path(path)
        rule = await self.store.find_rule(kind, cluster_path)
        if rule is None:
            mounts.resolve(cluster_path)
        return cluster_path, rule

    async def _get(self, kind: type[R], path: object) -> R:
        cluster_path, rule = await self._find(kind, path)
        if rule is None:
            return await self.store.get_rule(kind, cluster_path)  # raises NotFound
        return rule

    async def _remove(self, kind: type[R], path: object) -> R:
        cluster_path, _ = await self._find(kind, path)
        removed = await self.store.remove_rule(kind, cluster_path)
        await self._rules_changed()
        return removed


async def _nothing() -> None:
    return None
