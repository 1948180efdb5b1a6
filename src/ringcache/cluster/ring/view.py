"""The coordinator's view of membership: the live workers and the ring (of the configured
policy) over them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..clock import Clock
from ..refs import ActorRef
from ..registry import Compacted
from .build import build_ring
from .membership import LIVE_PREFIX, worker_id_of
from .policy import DEFAULT_POLICY, RingPolicy

log = logging.getLogger(__name__)

WATCH_TIMEOUT = 5.0
SETTLE = 0.2  # a burst of joins or losses settles this long, then the ring is built once
MAX_SETTLE = 2.0


class MembershipView:
    """The workers holding a live lease, and the ring over them, kept in step by a watch.

    Guarantees: after a burst of membership events, `ring` holds exactly `live`, built once
    for the burst (events keep coming for at most MAX_SETTLE seconds before it is built
    anyway); `version` grows by one per rebuild; a registry restart or a compacted watch
    only delays the view, it never ends it.
    """

    def __init__(
        self,
        registry: ActorRef,
        clock: Clock,
        virtual_nodes: int,
        on_offline: Callable[[str], Awaitable[None]],
        on_change: Callable[[], None],
        policy: str = DEFAULT_POLICY,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.virtual_nodes = virtual_nodes
        self.policy = policy
        self.on_offline = on_offline
        self.on_change = on_change
        self.live: set[str] = set()
        self.ring: RingPolicy = build_ring([], policy, virtual_nodes)
        self.version = 0
        self._revision = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._reload()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def set_live(self, live: set[str]) -> None:
        """Apply a membership now (a decommission need not wait for the watch)."""
        if live != self.live or not self.version:
            changed = bool(self.version)
            self.live = set(live)
            self.ring = build_ring(sorted(live), self.policy, self.virtual_nodes)
            self.version += 1
            log.info("ring now has %d workers", len(live))
            if changed:
                self.on_change()

    async def _reload(self) -> None:
        # Read the revision first: events after it are replayed by the watch, and applying
        # one twice is harmless, so nothing between the two reads is missed.
        revision = await self.registry.call("revision")
        entries = await self.registry.call("range", LIVE_PREFIX)
        self.set_live({worker_id_of(kv.key) for kv in entries})
        self._revision = revision + 1

    async def _watch(self) -> None:
        while True:
            try:
                live = await self._next_membership(WATCH_TIMEOUT)
                if live == self.live:
                    continue
                deadline = self.clock.now() + MAX_SETTLE
                while self.clock.now() < deadline:  # let the rest of a burst arrive
                    more = await self._next_membership(SETTLE, live)
                    if more == live:
                        break
                    live = more
                self.set_live(live)
            except asyncio.CancelledError:
                raise
            except Compacted:
                await self._reload()
            except Exception:  # a registry restart must not end the watch: retry shortly
                log.exception("membership watch failed; retrying")
                await self.clock.sleep(1.0)

    async def _next_membership(self, timeout: float, live: set[str] | None = None) -> set[str]:
        events, self._revision = await self.registry.call(
            "watch", LIVE_PREFIX, self._revision, timeout
        )
        live = set(self.live if live is None else live)
        for event in events:
            worker_id = worker_id_of(event.kv.key)
            if event.type == "PUT":
                live.add(worker_id)
            else:
                live.discard(worker_id)
                await self.on_offline(worker_id)
        return live
