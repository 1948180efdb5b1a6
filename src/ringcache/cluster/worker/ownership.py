"""Which files this worker owns under the current ring: a read through caches only those."""

from __future__ import annotations

from ..environment import RunIo
from ..refs import ActorRef
from ..ring.hash_ring import HashRing
from ..ring.membership import LIVE_PREFIX, worker_id_of


class Ownership:
    """This worker's view of the ring, read from the registry's live workers.

    Guarantees: `owns(uri)` is whether this worker is among the `replicas` owners of `uri`
    under the ring of the live workers as last read (`refresh`, on start and at every
    heartbeat); before the first read, or without `virtual_nodes` (a runtime that does not
    say how its ring is built), every file counts as owned, as a worker cached before.
    """

    def __init__(
        self,
        worker_id: str,
        registry: ActorRef,
        run_io: RunIo,
        virtual_nodes: int | None,
        replicas: int = 1,
    ) -> None:
        self.worker_id = worker_id
        self.registry = registry
        self.run_io = run_io
        self.virtual_nodes = virtual_nodes
        self.replicas = replicas
        self._live: frozenset[str] | None = None
        self._ring: HashRing | None = None

    def owns(self, uri: str) -> bool:
        ring = self._ring
        if ring is None or not len(ring):
            return True
        return self.worker_id in ring.owners(uri, self.replicas)

    async def refresh(self) -> None:
        """Read the live workers; rebuild the ring if they changed."""
        if self.virtual_nodes is None:
            return
        entries = await self.registry.call("range", LIVE_PREFIX)
        live = frozenset(worker_id_of(kv.key) for kv in entries)
        if live != self._live:
            self._ring = await self.run_io(HashRing, sorted(live), self.virtual_nodes)
            self._live = live
