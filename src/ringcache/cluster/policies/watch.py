"""`PolicyWatch`: one actor's current view of the policies, kept fresh by polling a watch."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..refs import ActorRef
from ..registry import Compacted
from ..ufs.mounts import MountTable
from .config import PolicyConfig
from .policy_set import PolicySet
from .store import POLICIES_PREFIX, USAGE_KEY, PolicyStore, decode_usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicyChange:
    """What one `poll` found changed: the rules (or the config, or the mounts), the usage."""

    rules: bool = False
    usage: bool = False

    def __bool__(self) -> bool:
        return self.rules or self.usage


class PolicyWatch:
    """The rules in force, the policy configuration and the published quota usage.

    Guarantees: `policies`, `config` and `usage` (with `usage_as_of`, the time from which
    the published usage may miss a worker's changes) are replaced whole, never edited, so a
    reader (also one on another thread) always sees one consistent snapshot of each;
    `poll` costs one registry call when nothing changed (a watch with no wait) and sees
    every change to `/policies/` after the snapshot, or reloads everything if the registry
    compacted that history. A change of the mount table (given by the caller, who reads it
    anyway) rebuilds the snapshot, since rules on cluster paths apply to UFS URIs through it.
    With `config` given, that configuration is used (the coordinator's own); without, the
    one the coordinator published (a worker's case). Concurrent `poll`s are serialized:
    none returns before the snapshot holds what it saw changed, however it was called.
    """

    def __init__(self, registry: ActorRef, config: PolicyConfig | None = None) -> None:
        self.registry = registry
        self.store = PolicyStore(registry)
        self._given_config = config
        self.config = config or PolicyConfig()
        self.policies = PolicySet()
        self.usage: dict[str, int] = {}
        self.usage_as_of: float | None = None
        self._next_revision = 0
        self._reading = asyncio.Lock()

    @property
    def seen_revision(self) -> int:
        """The registry revision the snapshot is current as of: every write to the rules
        up to it is in it."""
        return self._next_revision - 1

    def __repr__(self) -> str:
        return f"PolicyWatch({self.policies!r}, next_revision={self._next_revision})"

    async def load(self, mounts: MountTable | None = None) -> None:
        """Read everything afresh."""
        async with self._reading:
            await self._load(mounts)

    async def _load(self, mounts: MountTable | None) -> None:
        published = await self.store.load_published(self._given_config, mounts)
        self.policies = published.policies
        self.config = published.config
        self.usage = published.usage
        self.usage_as_of = published.usage_as_of
        self._next_revision = published.policies.revision + 1

    async def poll(self, mounts: MountTable | None = None) -> PolicyChange:
        """Apply what changed since the last look; says what it was."""
        async with self._reading:
            return await self._poll(mounts)

    async def _poll(self, mounts: MountTable | None) -> PolicyChange:
        if mounts is not None and _mount_list(mounts) != _mount_list(self.policies.mounts):
            await self._load(mounts)
            return PolicyChange(rules=True, usage=True)
        try:
            events, self._next_revision = await self.registry.call(
                "watch", POLICIES_PREFIX, self._next_revision, 0
            )
        except Compacted:
            await self._load(mounts or self.policies.mounts)
            return PolicyChange(rules=True, usage=True)
        if not events:
            return PolicyChange()
        usage_events = [event for event in events if event.kv.key == USAGE_KEY]
        if len(usage_events) < len(events):
            # Rules are few and small: reading them all again is simpler than patching.
            await self._load(mounts or self.policies.mounts)
            return PolicyChange(rules=True, usage=bool(usage_events))
        self.usage, self.usage_as_of = decode_usage(usage_events[-1].kv)
        return PolicyChange(usage=True)


def _mount_list(mounts: MountTable) -> list[tuple[str, str]]:
    return [(mount.path, mount.ufs) for mount in mounts.list()]
