"""Rings kept by fingerprint, so the listing calls of one rebalance build their ring once."""

from __future__ import annotations

from collections.abc import Iterable

from .build import build_ring
from .policy import DEFAULT_POLICY, RingPolicy

KEPT_RINGS = 4  # rings a `RingCache` keeps


class RingCache:
    """Rings kept by `fingerprint`, the last KEPT_RINGS used: every rebalance listing call
    names the same ring, and a build hashes workers x virtual nodes points (about 0.2 s
    for 1,000 workers). One per process (the default in `Environment`); a simulated
    cluster shares one among its workers, so one run never sees another's rings."""

    def __init__(self) -> None:
        self._rings: dict[str, RingPolicy] = {}

    def get(
        self,
        key: str,
        worker_ids: Iterable[str] | None = None,
        virtual_nodes: int = 2000,
        policy: str = DEFAULT_POLICY,
    ) -> RingPolicy | None:
        """The ring kept under `key`; if there is none, the `policy` ring of `worker_ids`,
        built now and kept under its own fingerprint (None when they are not given)."""
        ring = self._rings.pop(key, None)
        if ring is None:
            if worker_ids is None:
                return None
            ring = build_ring(worker_ids, policy, virtual_nodes)
            key = ring.fingerprint()  # a key that does not name these workers keeps nothing
        self._keep(key, ring)
        return ring

    def keep(self, ring: RingPolicy) -> str:
        """Keep a ring built elsewhere in this process; its fingerprint, its key here."""
        key = ring.fingerprint()
        self._rings.pop(key, None)
        self._keep(key, ring)
        return key

    def _keep(self, key: str, ring: RingPolicy) -> None:
        rings = self._rings
        rings[key] = ring  # most recent last
        while len(rings) > KEPT_RINGS:
            del rings[next(iter(rings))]
