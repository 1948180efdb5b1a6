"""Cache policies: quota, TTL, priority eviction and the cache filter.

Pure logic over the registry seam (no Ray, no Starlette): `rules` validates what users
write, `PolicyStore` keeps it in the registry under `/policies/`, `PolicySet` answers the
per-file questions workers and jobs ask, and `PolicyService` is the coordinator's side of
the REST calls (including the global file index), which the coordinator exposes by
inheriting `PolicyCalls`.
"""

from __future__ import annotations

from .calls import PolicyCalls
from .config import FeatureSwitch, PolicyConfig, TtlSwitch
from .policy_set import PolicySet
from .rules import (
    DEFAULT_FILTER,
    CacheRule,
    FilterRule,
    PriorityRule,
    QuotaAction,
    QuotaRule,
    TtlRule,
    rule_path,
)
from .service import PolicyService
from .store import FILTER_DEFAULT_KEY, FILTER_PREFIX, POLICIES_PREFIX, PolicyStore

__all__ = [
    "DEFAULT_FILTER",
    "FILTER_DEFAULT_KEY",
    "FILTER_PREFIX",
    "POLICIES_PREFIX",
    "CacheRule",
    "FeatureSwitch",
    "FilterRule",
    "PolicyCalls",
    "PolicyConfig",
    "PolicyService",
    "PolicySet",
    "PolicyStore",
    "PriorityRule",
    "QuotaAction",
    "QuotaRule",
    "TtlRule",
    "TtlSwitch",
    "rule_path",
]
