"""The switches of the cache policies, one typed section meant to nest into `ClusterConfig`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import InvalidArgument
from ..units import parse_duration


class FeatureSwitch(BaseModel):
    """One policy feature, on by default. Off, its REST calls answer 501 (the file index 404)
    and the rules already stored stop taking effect; they are kept for when it is back on."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class TtlSwitch(FeatureSwitch):
    """TTL, plus how often each worker scans its cache for expired data."""

    scan_interval: float = 10.0

    @field_validator("scan_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise InvalidArgument(f"ttl.scan_interval must be positive, not {value!r}")
        return seconds


class IndexSwitch(FeatureSwitch):
    """The global file index, plus how often the coordinator syncs it with the workers.

    Each sync collects what every worker cached and dropped (the index and the quota usage
    follow from it), publishes the usage and evicts over EVICT quotas. The index is kept
    (in memory) even when switched off, since quota usage is counted in it. `sync_interval`
    None: every worker heartbeat interval.
    """

    sync_interval: float | None = None

    @field_validator("sync_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds <= 0:
            raise InvalidArgument(f"file_index.sync_interval must be positive, not {value!r}")
        return seconds


class PolicyConfig(BaseModel):
    """Which cache policies run: `[policies.quota] enabled = false` and so on.

    Nest it into `ClusterConfig` as `policies: PolicyConfig = Field(default_factory=...)`.
    """

    model_config = ConfigDict(extra="forbid")

    quota: FeatureSwitch = Field(default_factory=FeatureSwitch)
    ttl: TtlSwitch = Field(default_factory=TtlSwitch)
    priority: FeatureSwitch = Field(default_factory=FeatureSwitch)
    cache_filter: FeatureSwitch = Field(default_factory=FeatureSwitch)
    file_index: IndexSwitch = Field(default_factory=IndexSwitch)
