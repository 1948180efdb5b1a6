"""Which files this worker owns under the current ring: a read through caches only those."""

from __future__ import annotations

from ..clock import Clock
from ..environment import RunIo
from ..refs import ActorRef
from ..ring.build import build_ring
from ..ring.membership import LIVE_PREFIX, worker_id_of
from ..ring.policy import DEFAULT_POLICY, RingPolicy

RECHECK_SECONDS = 1.0
OWNED_KEPT = 100_000  # files remembered as owned or not, until the ring changes


class Ownership:
    """This worker's view of the ring, read from the registry's live workers.

    Guarantees: `owns(uri)` is whether this worker is among the `replicas` owners of `uri`
    under the ring of the live workers as last read (`refresh`, on start and at every
    heartbeat, and on a read of a file it seems not to own, at most every RECHECK_SECONDS:
    a worker that started before the others learns of them then, not a heartbeat later);
    before the first read, or without `virtual_nodes` (a runtime that does not say how its
    ring is built), every file counts as owned, as a worker cached before.
    """

    def __init__(
        self,
        worker_id: str,
        registry: ActorRef,
        run_io: RunIo,
        clock: Clock,
        virtual_nodes: int | None,
        replicas: int = 1,
        policy: str = DEFAULT_POLICY,
    ) -> None:
        self.worker_id = worker_id
        self.clock = clock
        self._read_at = float("-inf")
        self.registry = registry
        self.run_io = run_io
        self.virtual_nodes = virtual_nodes
        self.replicas = replicas
        self.policy = policy  # the cluster's ring_policy: the ring its coordinator builds
        self._live: frozenset[str] | None = None
        self._ring: RingPolicy | None = None
        self._owned: dict[str, bool] = {}

    def owns(self, uri: str) -> bool:
        owned = self._owned.get(uri)
        if owned is not None:
            return owned
        ring = self._ring
        if ring is None or not len(ring):
            return True
        owned = self.worker_id in ring.owners(uri, self.replicas)
        if len(self._owned) >= OWNED_KEPT:
            self._owned.clear()
        self._owned[uri] = owned
        return owned

    async def confirm(self, uri: str) -> bool:
        """`owns(uri)`, having read the live workers again first if it says no and they
        were last read more than RECHECK_SECONDS ago."""
        if not self.owns(uri) and self.clock.now() - self._read_at > RECHECK_SECONDS:
            await self.refresh()
        return self.owns(uri)

    async def refresh(self) -> None:
        """Read the live workers; rebuild the ring if they changed."""
        if self.virtual_nodes is None:
            return
        self._read_at = self.clock.now()
        entries = await self.registry.call("range", LIVE_PREFIX)
        live = frozenset(worker_id_of(kv.key) for kv in entries)
        if live != self._live:
            ring = await self.run_io(build_ring, sorted(live), self.policy, self.virtual_nodes)
            self._ring, self._owned, self._live = ring, {}, live
