"""`build_ring`: the configured policy's ring over a set of workers, the one way to make one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .bounded import BoundedLoadRing
from .hash_ring import HashRing
from .jump import JumpRing
from .maglev import MaglevRing
from .policy import ALLUXIO, BOUNDED, DEFAULT_POLICY, JUMP, MAGLEV, RingPolicy, check_policy

_KINDS = {ALLUXIO: HashRing, MAGLEV: MaglevRing, JUMP: JumpRing, BOUNDED: BoundedLoadRing}


def build_ring(
    worker_ids: Iterable[str], policy: str = DEFAULT_POLICY, virtual_nodes: int = 2000
) -> RingPolicy:
    """The `policy` ring over `worker_ids`; `InvalidArgument` for an unknown policy."""
    return _KINDS[check_policy(policy)](worker_ids, virtual_nodes)


def ring_from_snapshot(
    snapshot: Mapping[str, Any], current: RingPolicy | None = None
) -> RingPolicy:
    """The cluster's ring from its snapshot (`workers`, `virtualNodes`, `ringPolicy`; a
    snapshot without a policy is from a cluster that only knew Alluxio's): `current`
    itself when it is that ring already, so a client's periodic refresh builds nothing."""
    policy = snapshot.get("ringPolicy", DEFAULT_POLICY)
    workers, virtual_nodes = snapshot["workers"], snapshot["virtualNodes"]
    if (
        current is not None
        and (current.policy, current.virtual_nodes) == (policy, virtual_nodes)
        and current.worker_ids == tuple(sorted(workers))
    ):
        return current
    return build_ring(workers, policy, virtual_nodes)
