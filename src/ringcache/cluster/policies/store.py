"""`PolicyStore`: the policies' place in the registry.

Keys (all under `/policies/`, so one watch sees every change):
- `/policies/quota<path>`, `/policies/ttl<path>`, `/policies/priority<path>`: one rule each,
  e.g. `/policies/ttl/data/tmp`;
- `/policies/filter/<seq>`: the cache-filter rules, `seq` zero-padded so that key order is
  the order the rules were added in;
- `/policies/filter-default`: the default cache-filter rule (absent: `immutable`);
- `/policies/config`: the coordinator's `PolicyConfig`, so workers know which features
  are on (they are not given the cluster configuration);
- `/policies/quota-usage`: the bytes cached under each quota path as the coordinator last
  counted them, `{"usage": {cluster path: bytes}, "asOf": time}`, for the workers' own
  quota checks (`asOf`: every worker change before then is counted).
Values are JSON.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import Conflict, InvalidArgument, NotFound
from ..refs import ActorRef
from ..registry import KeyValue
from ..ufs.mount_store import read_mount_table
from ..ufs.mounts import MountTable
from .config import PolicyConfig
from .policy_set import PolicySet
from .rules import (
    DEFAULT_FILTER,
    PATH_RULE_KINDS,
    FilterRule,
    PathRule,
    PriorityRule,
    QuotaRule,
    TtlRule,
    parse_cache_rule,
)

log = logging.getLogger(__name__)

POLICIES_PREFIX = "/policies/"
FILTER_PREFIX = POLICIES_PREFIX + "filter/"
FILTER_DEFAULT_KEY = POLICIES_PREFIX + "filter-default"
CONFIG_KEY = POLICIES_PREFIX + "config"
USAGE_KEY = POLICIES_PREFIX + "quota-usage"
_CAS_ATTEMPTS = 20  # concurrent filter edits retry; this many losses in a row is a fault
_LABELS = {"quota": "quota", "ttl": "TTL", "priority": "priority rule"}

R = TypeVar("R", QuotaRule, TtlRule, PriorityRule)


def rule_key(kind: str, cluster_path: str) -> str:
    return f"{POLICIES_PREFIX}{kind}{cluster_path}"


def _encode(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)


def _decode(kind: Any, kv: KeyValue) -> Any:
    """The rule in `kv`, or None (logged) if the record cannot be read back."""
    try:
        return kind.from_record(json.loads(kv.value))
    except (ValueError, KeyError, TypeError, InvalidArgument) as exc:
        log.warning("ignoring unreadable policy record %s: %s", kv.key, exc)
        return None


def _filter_seq(key: str) -> int:
    suffix = key[len(FILTER_PREFIX) :]
    return int(suffix) if suffix.isdigit() else 0


class PolicyStore:
    """Reads and writes policy rules in the registry.

    Guarantees: a rule is durable in the registry before a write returns; path rules are
    last-writer-wins per path; cache-filter edits are compare-and-swap on the key's
    `mod_revision`, so concurrent adds keep one rule per pattern and never reorder rules;
    `load()` gives a `PolicySet` whose `revision` is safe to watch from.
    """

    def __init__(self, registry: ActorRef) -> None:
        self.registry = registry

    # -- quota, TTL, priority --------------------------------------------------------------

    async def put_rule(self, rule: PathRule) -> None:
        await self.registry.call("put", rule_key(rule.KIND, rule.path), _encode(rule.record()))

    async def find_rule(self, kind: type[R], cluster_path: str) -> R | None:
        kv = await self.registry.call("get", rule_key(kind.KIND, cluster_path))
        return None if kv is None else _decode(kind, kv)

    async def get_rule(self, kind: type[R], cluster_path: str) -> R:
        rule = await self.find_rule(kind, cluster_path)
        if rule is None:
            raise NotFound(f"there is no {_LABELS[kind.KIND]} on {cluster_path}")
        return rule

    async def list_rules(self, kind: type[R]) -> list[R]:
        entries = await self.registry.call("range", rule_key(kind.KIND, "/"))
        return [rule for kv in entries if (rule := _decode(kind, kv)) is not None]

    async def remove_rule(self, kind: type[R], cluster_path: str) -> R:
        """Delete the rule on `cluster_path`; InvalidArgument (400, as API.md says) if none."""
        rule = await self.find_rule(kind, cluster_path)
        if rule is None or not await self.registry.call(
            "delete", rule_key(kind.KIND, cluster_path)
        ):
            raise InvalidArgument(f"there is no {_LABELS[kind.KIND]} on {cluster_path}")
        return rule

    async def drop_under(self, cluster_path: str) -> int:
        """Delete every path rule on `cluster_path` or below (an unmount); returns how many."""
        dropped = 0
        for kind in PATH_RULE_KINDS:
            key = rule_key(kind.KIND, cluster_path)
            dropped += int(await self.registry.call("delete", key))
            dropped += await self.registry.call("delete_prefix", key + "/")
        return dropped

    # -- cache filter ----------------------------------------------------------------------

    async def list_filters(self) -> list[FilterRule]:
        return [rule for _, rule in await self._filter_entries()]

    async def _filter_entries(self) -> list[tuple[KeyValue, FilterRule]]:
        entries = await self.registry.call("range", FILTER_PREFIX)
        return [(kv, rule) for kv in entries if (rule := _decode(FilterRule, kv)) is not None]

    async def add_filter(self, rule: FilterRule) -> None:
        """Append `rule`; a pattern already present keeps its place and takes the new rule."""
        if rule.pattern is None:
            raise InvalidArgument("a listed cache-filter rule needs a pattern")
        for _ in range(_CAS_ATTEMPTS):
            entries = await self.registry.call("range", FILTER_PREFIX)
            same = [
                kv
                for kv in entries
                if (old := _decode(FilterRule, kv)) is not None and old.pattern == rule.pattern
            ]
            if same:
                key, expected = same[0].key, same[0].mod_revision
            else:
                seq = max((_filter_seq(kv.key) for kv in entries), default=0) + 1
                key, expected = f"{FILTER_PREFIX}{seq:020d}", 0
            try:
                await self.registry.call("put", key, _encode(rule.record()), prev_revision=expected)
                return
            except Conflict:  # another edit won the race: read again and retry
                continue
        raise Conflict(f"cache filter kept changing; could not add {rule.pattern!r}, try again")

    async def remove_filter(self, pattern: object, rule: object) -> FilterRule:
        """Delete the rule with `pattern` and `rule`; InvalidArgument if there is none."""
        if not isinstance(pattern, str) or not pattern:
            raise InvalidArgument("name the cache-filter rule to delete by its 'pattern'")
        wanted = parse_cache_rule(rule)
        for _ in range(_CAS_ATTEMPTS):
            found = [(kv, r) for kv, r in await self._filter_entries() if r.pattern == pattern]
            if not found:
                raise InvalidArgument(f"there is no cache-filter rule with pattern {pattern!r}")
            kv, existing = found[0]
            if existing.rule is not wanted:
                raise InvalidArgument(
                    f"the rule for pattern {pattern!r} is {existing.rule.value}, not {wanted.value}"
                )
            try:
                if await self.registry.call("delete", kv.key, prev_revision=kv.mod_revision):
                    return existing
            except Conflict:
                continue
        raise Conflict(f"cache filter kept changing; could not delete {pattern!r}, try again")

    async def default_filter(self) -> FilterRule:
        kv = await self.registry.call("get", FILTER_DEFAULT_KEY)
        rule = None if kv is None else _decode(FilterRule, kv)
        return DEFAULT_FILTER if rule is None else rule

    async def set_default_filter(self, rule: FilterRule) -> None:
        if rule.pattern is not None:
            raise InvalidArgument("the default cache-filter rule has no pattern")
        await self.registry.call("put", FILTER_DEFAULT_KEY, _encode(rule.record()))

    # -- published state -------------------------------------------------------------------

    async def publish_config(self, config: PolicyConfig) -> None:
        await self.registry.call("put", CONFIG_KEY, config.model_dump_json())

    async def publish_usage(self, usage: dict[str, int], as_of: float) -> None:
        await self.registry.call("put", USAGE_KEY, _encode({"usage": usage, "asOf": as_of}))

    # -- snapshot --------------------------------------------------------------------------

    async def load(
        self, config: PolicyConfig | None = None, mounts: MountTable | None = None
    ) -> PolicySet:
        """Every rule as one `PolicySet`; a disabled feature contributes no rules."""
        return (await self.load_published(config or PolicyConfig(), mounts)).policies

    async def load_published(
        self, config: PolicyConfig | None = None, mounts: MountTable | None = None
    ) -> Published:
        """The rules, the configuration and the quota usage, from one read of `/policies/`.

        `config` None takes the published configuration (defaults if none is published).
        """
        # Revision first: a change landing between the two reads is replayed by a watch
        # from revision + 1, and loading a rule twice is harmless.
        revision = await self.registry.call("revision")
        entries: list[KeyValue] = await self.registry.call("range", POLICIES_PREFIX)
        if mounts is None:
            mounts = await read_mount_table(self.registry)
        by_key = {kv.key: kv for kv in entries}
        if config is None:
            config = decode_config(by_key.get(CONFIG_KEY))
        usage, as_of = decode_usage(by_key.get(USAGE_KEY))
        rules: dict[str, list[Any]] = {kind.KIND: [] for kind in PATH_RULE_KINDS}
        filters: list[FilterRule] = []
        default = DEFAULT_FILTER
        for kv in entries:
            if kv.key == FILTER_DEFAULT_KEY:
                default = _decode(FilterRule, kv) or DEFAULT_FILTER
            elif kv.key.startswith(FILTER_PREFIX):
                filters.extend(rule for rule in [_decode(FilterRule, kv)] if rule is not None)
            else:
                for kind in PATH_RULE_KINDS:
                    if kv.key.startswith(rule_key(kind.KIND, "/")):
                        rules[kind.KIND].extend(r for r in [_decode(kind, kv)] if r is not None)
        policies = PolicySet(
            quotas=rules["quota"] if config.quota.enabled else (),
            ttls=rules["ttl"] if config.ttl.enabled else (),
            priorities=rules["priority"] if config.priority.enabled else (),
            filters=filters if config.cache_filter.enabled else (),
            default_filter=default if config.cache_filter.enabled else DEFAULT_FILTER,
            mounts=mounts,
            revision=revision,
        )
        return Published(policies, config, usage, as_of)


@dataclass(frozen=True)
class Published:
    """What `load_published` read: the rules in force, the configuration, the usage."""

    policies: PolicySet
    config: PolicyConfig
    usage: dict[str, int]
    usage_as_of: float | None = None


def decode_config(kv: KeyValue | None) -> PolicyConfig:
    """The published configuration; the defaults if there is none or it cannot be read."""
    if kv is None:
        return PolicyConfig()
    try:
        return PolicyConfig.model_validate_json(kv.value)
    except (ValueError, InvalidArgument) as exc:
        log.warning("ignoring unreadable policy configuration: %s", exc)
        return PolicyConfig()


def decode_usage(kv: KeyValue | None) -> tuple[dict[str, int], float | None]:
    """The published quota usage by cluster path and its time; empty if none or unreadable."""
    if kv is None or not kv.value:
        return {}, None
    try:
        record = json.loads(kv.value)
        usage = {str(path): int(used) for path, used in record["usage"].items()}
        return usage, float(record["asOf"])
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        log.warning("ignoring unreadable quota usage: %s", exc)
        return {}, None
