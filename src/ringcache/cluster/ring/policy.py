"""The ring interface: who owns a UFS path, for one placement policy over one member set.

Everything that asks "who owns this file" (workers, coordinator, jobs, client, simulator)
holds a `RingPolicy` built by `build_ring` (see `build.py`) from the configured
`ring_policy`, so the policy is chosen once, from the configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ringcache.cluster.errors import InvalidArgument

ALLUXIO = "alluxio"
MAGLEV = "maglev"
JUMP = "jump"
BOUNDED = "bounded"
POLICIES = (ALLUXIO, MAGLEV, JUMP, BOUNDED)
DEFAULT_POLICY = ALLUXIO


def check_policy(name: object) -> str:
    """`name` if it names a ring policy; `InvalidArgument` saying which do, otherwise."""
    if name not in POLICIES:
        raise InvalidArgument(f"ring_policy must be one of {', '.join(POLICIES)}, not {name!r}")
    return str(name)


@runtime_checkable
class RingPolicy(Protocol):
    """One policy's placement over one set of `worker-<uuid>` members.

    Every implementation guarantees: `owners(path, n)` is `min(n, len(ring))` distinct
    members, first owner first, and depends only on the policy, its parameters
    (`virtual_nodes`) and the *set* of members (not their order or any other state);
    `owners_batch`, `first_owners` and `owned_alone` agree with `owners` path by path;
    `with_workers(ids)` is the same policy and parameters over other members; equal
    `fingerprint()`s mean equal placements.
    """

    policy: str

    @property
    def worker_ids(self) -> tuple[str, ...]: ...

    @property
    def virtual_nodes(self) -> int: ...

    def fingerprint(self) -> str: ...

    def __len__(self) -> int: ...

    def __contains__(self, worker_id: object) -> bool: ...

    def owners(self, ufs_path: str, count: int = 1) -> list[str]: ...

    def owners_batch(self, paths: Sequence[str], count: int = 1) -> list[list[str]]: ...

    def first_owners(self, paths: Sequence[str]) -> np.ndarray: ...

    def owned_alone(self, paths: Sequence[str], worker_id: str, count: int = 1) -> list[bool]: ...

    def with_workers(self, worker_ids: Iterable[str]) -> RingPolicy: ...
