"""The rules of the cache policies, validated on the way in.

Every `parse` takes what a user typed (REST body, CLI flag) and either returns a rule in
canonical form or raises `InvalidArgument` (400) with a sentence that names the bad value.
Rules on paths (quota, TTL, priority) hold normalized *cluster* paths under a mount point;
a UFS URI is accepted too and translated through the mount table. The `record()` of a rule
is both its REST answer and what the registry stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ..cache.model import PRIORITIES, check_priority
from ..errors import InvalidArgument
from ..paths import is_uri, normalize_cluster_path
from ..ufs.mounts import MountTable
from ..units import parse_duration, parse_size
from .patterns import UserPattern, compile_user_pattern


class QuotaAction(StrEnum):
    """What a worker does when caching more would pass a quota."""

    DEFAULT = "DEFAULT"  # do not cache: reads go to the UFS, load fails the file
    EVICT = "EVICT"  # evict the least recently used data under the quota's path


class CacheRule(StrEnum):
    """How the cache filter treats a UFS file (Alluxio's names)."""

    IMMUTABLE = "immutable"
    MAX_AGE = "maxAge"
    SKIP_CACHE = "skipCache"


def rule_path(path: object, mounts: MountTable) -> str:
    """The normalized cluster path a rule is kept under; 400 unless it is under a mount."""
    if not isinstance(path, str):
        raise InvalidArgument(f"a path is a string, not {path!r}")
    if is_uri(path):
        return mounts.to_cluster_path(path)
    cluster_path = normalize_cluster_path(path)
    mounts.resolve(cluster_path)  # raises InvalidArgument naming the path if under no mount
    return cluster_path


def _enum(kind: type[StrEnum], value: object, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidArgument(f"{what} must be one of {allowed}, not {value!r}") from None


def parse_cache_rule(rule: object) -> CacheRule:
    """A cache-filter rule name (`immutable`, `maxAge`, `skipCache`); 400 on any other."""
    return _enum(CacheRule, rule, "a cache-filter rule")


def _size_text(size: object) -> str:
    return f"{size}B" if isinstance(size, int) else str(size).strip()


def _time_text(time: object) -> str:
    return f"{time}s" if isinstance(time, int | float) else str(time).strip()


def _number(seconds: float) -> int | float:
    # 3600.0 reads as 3600 in JSON answers, as API.md shows it; 0.5 stays 0.5.
    return int(seconds) if float(seconds).is_integer() else seconds


@dataclass(frozen=True, slots=True)
class QuotaRule:
    """At most `size_bytes` cached under `path` (all workers together); `size` as written."""

    KIND: ClassVar[str] = "quota"

    path: str
    size: str
    size_bytes: int
    action: QuotaAction = QuotaAction.DEFAULT

    @classmethod
    def parse(cls, path: object, size: object, action: object, mounts: MountTable) -> QuotaRule:
        size_bytes = parse_size(size)
        return cls(
            rule_path(path, mounts),
            _size_text(size),
            size_bytes,
            _enum(QuotaAction, "DEFAULT" if action is None else action, "quota action"),
        )

    def record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sizeBytes": self.size_bytes,
            "action": self.action.value,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> QuotaRule:
        return cls(
            str(record["path"]),
            str(record["size"]),
            int(record["sizeBytes"]),
            QuotaAction(record["action"]),
        )


@dataclass(frozen=True, slots=True)
class TtlRule:
    """Data cached under `path` expires `seconds` (> 0) after it was cached."""

    KIND: ClassVar[str] = "ttl"

    path: str
    time: str
    seconds: float

    @classmethod
    def parse(cls, path: object, time: object, mounts: MountTable) -> TtlRule:
        seconds = parse_duration(time)
        if seconds <= 0:
            raise InvalidArgument(f"a TTL must be longer than zero, not {time!r}")
        return cls(rule_path(path, mounts), _time_text(time), seconds)

    def record(self) -> dict[str, Any]:
        return {"path": self.path, "time": self.time, "seconds": _number(self.seconds)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TtlRule:
        return cls(str(record["path"]), str(record["time"]), float(record["seconds"]))


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """Data cached under `path` is evicted at `priority` (LOW goes first, HIGH last)."""

    KIND: ClassVar[str] = "priority"

    path: str
    priority: str

    @classmethod
    def parse(cls, path: object, priority: object, mounts: MountTable) -> PriorityRule:
        if not isinstance(priority, str) or priority not in PRIORITIES:
            raise InvalidArgument(
                f"priority must be one of {', '.join(reversed(PRIORITIES))}, not {priority!r}"
            )
        return cls(rule_path(path, mounts), priority)

    def record(self) -> dict[str, Any]:
        return {"path": self.path, "priority": self.priority}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PriorityRule:
        check_priority(record["priority"])
        return cls(str(record["path"]), record["priority"])


PathRule = QuotaRule | TtlRule | PriorityRule
PATH_RULE_KINDS: tuple[type[QuotaRule] | type[TtlRule] | type[PriorityRule], ...] = (
    QuotaRule,
    TtlRule,
    PriorityRule,
)


@dataclass(frozen=True, slots=True)
class FilterRule:
    """A cache-filter rule: UFS paths that `pattern` fully matches are treated as `rule`.

    `pattern` is None for the default rule. `time`/`seconds` are set exactly when the rule
    is `maxAge` (0 is allowed: revalidate on every read); giving a time to another rule is
    a 400, so a user never believes a time applies where it does not.
    """

    pattern: str | None
    rule: CacheRule
    time: str | None = None
    seconds: float | None = None
    regex: UserPattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, pattern: object, rule: object, time: object = None) -> FilterRule:
        regex = compile_user_pattern(pattern, "cache-filter pattern")
        return cls._with_time(regex.pattern, rule, time, regex)

    @classmethod
    def parse_default(cls, rule: object, time: object = None) -> FilterRule:
        return cls._with_time(None, rule, time, None)

    @classmethod
    def _with_time(
        cls, pattern: str | None, rule: object, time: object, regex: UserPattern | None
    ) -> FilterRule:
        kind = parse_cache_rule(rule)
        if kind is CacheRule.MAX_AGE:
            if time is None:
                raise InvalidArgument("a maxAge rule needs a time, like '10s'")
            return cls(pattern, kind, _time_text(time), parse_duration(time), regex)
        if time is not None:
            raise InvalidArgument(f"time applies only to maxAge rules, not to {kind.value}")
        return cls(pattern, kind, None, None, regex)

    def matches(self, ufs_uri: str) -> bool:
        """Whether the pattern matches all of `ufs_uri`; the default rule matches nothing
        here (it applies when no listed rule does)."""
        return self.regex is not None and self.regex.fullmatch(ufs_uri)

    def record(self) -> dict[str, Any]:
        """The API shape: `pattern` only on a listed rule, `time` only on maxAge."""
        answer: dict[str, Any] = {} if self.pattern is None else {"pattern": self.pattern}
        answer["rule"] = self.rule.value
        if self.time is not None:
            answer["time"] = self.time
        return answer

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FilterRule:
        time = record.get("time")
        if "pattern" in record:
            return cls.parse(record["pattern"], record["rule"], time)
        return cls.parse_default(record["rule"], time)


DEFAULT_FILTER = FilterRule(None, CacheRule.IMMUTABLE)
