"""The typed configuration of a cluster and its workers: what each component is given whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .policies.config import PolicyConfig
from .ring.policy import DEFAULT_POLICY, POLICIES
from .units import parse_duration, parse_size

DEFAULT_HOME = Path(".ringcache")


class WorkerConfig(BaseModel):
    """How each worker caches: where, how much, in what page size, how often it heartbeats."""

    model_config = ConfigDict(extra="forbid")

    cache_dir: Path = DEFAULT_HOME / "cache"
    capacity: int = 10 * 1024**3
    page_size: int = 1024**2
    heartbeat_interval: float = 3.0
    max_batch_concurrency: int = 8
    # The data server's port (Alluxio's worker HTTP port); taken: the next free one; 0: any.
    http_port: int = Field(28080, ge=0, le=65535)
    # The address the data server listens on and advertises. None: the Ray node's address
    # (what other machines reach it at); `ringcache start` on a Ray instance of its own, on
    # one machine, uses 127.0.0.1.
    data_host: str | None = None
    # With a cluster token (`api.token`), the data servers require it too; false leaves them
    # open (for Alluxio clients that send no Authorization header).
    http_token_required: bool = True
    # Peers on this host hand each other their cache files (copied by the kernel); false:
    # every peer copy goes over the data servers (HTTP), as between hosts, e.g. for workers
    # in separate network namespaces or to measure the HTTP path.
    peer_handover: bool = True

    @field_validator("capacity", "page_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    @field_validator("heartbeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class ApiConfig(BaseModel):
    """How the REST API admits calls: an optional bearer token and the largest body.

    The token is given here (`token`) or in a file (`token_file`, read when the API is
    built); the `ringcache` command also takes it from `RINGCACHE_TOKEN`.
    """

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(None, repr=False)
    token_file: Path | None = None
    max_body_bytes: int = Field(1024**2, ge=1)

    @field_validator("max_body_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)

    def resolved_token(self) -> str | None:
        """The token the API requires, None if it is open; OSError if the file is unreadable."""
        if self.token:
            return self.token
        if self.token_file is not None:
            return Path(self.token_file).read_text().strip() or None
        return None


class ClusterConfig(BaseModel):
    """Everything a cluster needs; passed whole to each component, never read from the env."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = DEFAULT_HOME / "state"
    # None: the embedded SQLite registry in state_dir; else etcd://host:port[,host:port...]
    registry: str | None = None
    namespace: str = "ringcache"
    host: str = "127.0.0.1"
    port: int = Field(19999, ge=0, le=65535)
    ray_address: str | None = None
    workers: int = Field(1, ge=0)
    virtual_nodes: int = Field(2000, ge=1)
    # Who owns a file: alluxio (Alluxio's ring, bit-exact), maglev, jump or bounded.
    ring_policy: str = DEFAULT_POLICY
    lease_ttl: float = 15.0
    auto_rebalance: bool = False  # rebalance ALL on its own after membership changes
    auto_rebalance_delay: float = 10.0  # seconds of quiet membership before it starts
    allowed_local_roots: list[str] = Field(default_factory=lambda: ["/"])
    mount_table_file: Path | None = None
    policies: PolicyConfig = Field(default_factory=PolicyConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @field_validator("lease_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("ring_policy")
    @classmethod
    def _ring_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ValueError(f"ring_policy is one of {', '.join(POLICIES)}, not {value!r}")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value in (None, "", "sqlite"):
            return None
        if not value.startswith("etcd://") or not value.removeprefix("etcd://").strip(","):
            raise ValueError("registry is 'sqlite' or etcd://host:port[,host:port...]")
        return value

    def resolved(self) -> ClusterConfig:
        """The same configuration with absolute directories, safe to ship to other processes."""
        worker = self.worker.model_copy(update={"cache_dir": self.worker.cache_dir.resolve()})
        return self.model_copy(update={"state_dir": self.state_dir.resolve(), "worker": worker})
