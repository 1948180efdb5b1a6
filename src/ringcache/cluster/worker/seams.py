"""What the worker's services read the rules from, typed once for all of them."""

from __future__ import annotations

from typing import Protocol

from ..policies import PolicySet


class PolicySource(Protocol):
    """The rules in force, replaced whole on a change (`PolicyWatch` is the real one)."""

    policies: PolicySet


class UsageSource(PolicySource, Protocol):
    """Rules plus the quota usage the coordinator last published (`PolicyWatch`)."""

    usage: dict[str, int]
    usage_as_of: float | None
