"""`RuleAnnouncer`: a rule write is acknowledged only once the live workers hold it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..refs import ActorRef, Peers

log = logging.getLogger(__name__)

ANNOUNCE_TIMEOUT = 2.0  # seconds a worker has to pick up a rule before it is named laggard


class RuleAnnouncer:
    """Brings every live worker's rules up to the registry's revision after a rule write.

    Guarantees: `announce` returns once each live worker has refreshed its rules to at
    least the revision current when it was called (so every read a worker serves after the
    REST answer obeys the rule), or after `timeout` for those that did not answer; those
    are named in the log and returned, never raised (a slow worker must not fail a write
    that is already durable; its next heartbeat, or a load batch's `policyRevision`,
    catches it up). Workers are asked concurrently.
    """

    def __init__(
        self,
        registry: ActorRef,
        peers: Peers,
        live: Callable[[], set[str]],
        timeout: float = ANNOUNCE_TIMEOUT,
    ) -> None:
        self.registry = registry
        self.peers = peers
        self.live = live
        self.timeout = timeout

    async def announce(self) -> list[str]:
        """Push the rules now in the registry to every live worker; the laggards' ids."""
        workers = sorted(self.live())
        if not workers:
            return []
        revision = await self.registry.call("revision")
        answers = await asyncio.gather(*(self._catch_up(w, revision) for w in workers))
        laggards = [worker_id for worker_id, ok in zip(workers, answers, strict=True) if not ok]
        if laggards:
            log.warning(
                "rules at revision %d not confirmed by %s within %.1fs; they catch up at "
                "their next heartbeat",
                revision,
                ", ".join(laggards),
                self.timeout,
            )
        return laggards

    async def _catch_up(self, worker_id: str, revision: int) -> bool:
        try:
            call = self.peers.worker(worker_id).call("catch_up_policies", revision)
            await asyncio.wait_for(call, self.timeout)
            return True
        except Exception as exc:  # a timeout, or a worker gone since `live` was read
            log.info("%s did not take rules at revision %d: %r", worker_id, revision, exc)
            return False
