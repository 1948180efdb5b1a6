"""The quota decision, shared by the coordinator's load gate and the workers' reads.

Both ask the same question, "may `needed` more bytes of this file be cached?", with their
own idea of how much is cached under each quota now; the answer and the words of a refusal
are decided here, once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..results import FailureReason, FileResult, failure
from .rules import QuotaAction, QuotaRule


@dataclass(frozen=True)
class QuotaVerdict:
    """May it be cached? If not, which quota says no; if so, what to evict first.

    `evict` maps the path of each EVICT quota that would be passed to the bytes to evict
    under it (least recently used first) to make room.
    """

    refused: QuotaRule | None = None
    used: int = 0
    needed: int = 0
    evict: dict[str, int] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.refused is None


def check_quotas(
    rules: Sequence[QuotaRule], used: Callable[[QuotaRule], int], needed: int
) -> QuotaVerdict:
    """Decide for `needed` more bytes under `rules` (innermost first, as `quotas_for` gives).

    A DEFAULT quota that would be passed refuses. An EVICT quota makes room instead, unless
    the bytes alone are more than the whole quota. Room made under an inner quota is room
    under every outer one too (they contain it), so outer quotas count it as freed.
    """
    if needed <= 0:
        return QuotaVerdict(needed=needed)
    evict: dict[str, int] = {}
    freeing = 0
    for rule in rules:
        cached = used(rule)
        over = cached - freeing + needed - rule.size_bytes
        if over <= 0:
            continue
        if rule.action is QuotaAction.EVICT and needed <= rule.size_bytes:
            evict[rule.path] = over
            freeing += over
            continue
        return QuotaVerdict(refused=rule, used=cached, needed=needed)
    return QuotaVerdict(needed=needed, evict=evict)


def quota_failure(path: str, verdict: QuotaVerdict) -> FileResult:
    """A worker's FAILED result for a file a quota keeps out of the cache.

    `quota` is the governing quota as a load job shows it (`totalBytes`, `remaining`).
    """
    rule = verdict.refused
    assert rule is not None, "only a refusal is a failure"
    remaining = max(0, rule.size_bytes - verdict.used)
    message = (
        f"not cached: {verdict.needed} more bytes would pass the quota on {rule.path} "
        f"({rule.size}, {verdict.used} bytes cached, {remaining} remaining)"
    )
    quota = {"path": rule.path, "totalBytes": rule.size_bytes, "remaining": remaining}
    return failure(path, FailureReason.QUOTA_EXCEEDED, message, quota)


class QuotaGrowth:
    """What one worker cached (+) and evicted (-) under each quota path, by time.

    A worker checks quotas against the usage the coordinator last published, which counts
    what every worker had reported when that count began (`as of`). What this worker did
    since is not in it: that is this growth. `forget_before(as_of)` drops what the
    published usage already counts, so nothing is counted twice or missed (up to the
    clocks' skew between the worker and the coordinator). Thread-safe; `lock` lets a
    caller check and add as one step.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._entries: deque[tuple[float, str, int]] = deque()
        self._totals: dict[str, int] = {}

    def add(self, now: float, path: str, delta: int) -> None:
        with self.lock:
            self._entries.append((now, path, delta))
            self._totals[path] = self._totals.get(path, 0) + delta

    def total(self, path: str) -> int:
        with self.lock:
            return self._totals.get(path, 0)

    def forget_before(self, as_of: float | None) -> None:
        """Drop what happened before `as_of` (None: everything)."""
        with self.lock:
            while self._entries and (as_of is None or self._entries[0][0] < as_of):
                _, path, delta = self._entries.popleft()
                self._totals[path] -= delta
                if not self._totals[path]:
                    del self._totals[path]
