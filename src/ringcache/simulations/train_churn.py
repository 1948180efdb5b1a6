"""Churn during a `simulate train` run: workers leave and join while the job reads.

The shape: at the start of window `at` (1-based, the window before it is the reference),
`leave` workers, drawn by the run's seed, crash (no goodbye: their caches are gone with
them, their leases lapse later) and then `join` new workers start on new, empty nodes.
Both go through `SimCluster.crash_worker` / `add_worker`, so the coordinator's real
membership watch rebuilds the ring, as for the load scenarios' crashes and scale-out.

What the run then reports (`churn_figures`), on the windows' `servedHitRatio` (pages the
workers hit over pages read, counting pages the clients read from the UFS themselves, the
fallback, as misses):

- `dip`: the ratio of window `at - 1` (before) minus the lowest ratio from window `at` on;
- `recoveryWindows`: how many windows after the churn window the first one whose ratio is
  back to at least `(1 - RECOVERY_TOLERANCE)` x before comes (0: the churn window itself
  is); `recoverySeconds`: virtual seconds from the churn to the end of that window;
  both `None` ("never") when no window gets back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..cluster.errors import InvalidArgument
from .cluster import SimCluster

RECOVERY_TOLERANCE = 0.05  # back within 5% (relative) of the pre-churn hit ratio


@dataclass(frozen=True)
class Churn:
    """`leave` workers crash and `join` workers start at the start of window `at`."""

    leave: int = 0
    join: int = 0
    at: int = 2

    @property
    def active(self) -> bool:
        return self.leave > 0 or self.join > 0

    def check(self, workers: int, windows: int) -> None:
        if self.leave < 0 or self.join < 0:
            raise InvalidArgument("--leave and --join must not be negative")
        if self.leave >= workers and self.join == 0:
            raise InvalidArgument(f"--leave {self.leave} would leave no worker of {workers}")
        if self.active and not 2 <= self.at <= windows:
            raise InvalidArgument(
                f"--churn-at must be 2..{windows} (a window before it is the reference), "
                f"not {self.at}"
            )

    async def apply(self, cluster: SimCluster, rng: random.Random) -> dict[str, Any]:
        """Crash `leave` live workers (seeded choice), then start `join` new ones; what
        happened, for the summary."""
        live = cluster.live_worker_ids()
        leaving = sorted(rng.sample(live, min(self.leave, len(live))))
        for worker_id in leaving:
            await cluster.crash_worker(worker_id)
        joined = [await cluster.add_worker() for _ in range(self.join)]
        return {"at": round(cluster.clock.elapsed(), 6), "left": leaving, "joined": joined}


def churn_figures(windows: list[dict[str, Any]], at: int) -> dict[str, Any]:
    """The dip and the recovery after a churn at the start of window `at` (1-based)."""
    ratios = [w["servedHitRatio"] for w in windows]
    before = ratios[at - 2]
    after = ratios[at - 1 :]
    target = (1 - RECOVERY_TOLERANCE) * before
    back = next((i for i, ratio in enumerate(after) if ratio >= target), None)
    seconds = None
    if back is not None:
        seconds = round(sum(w["virtualSeconds"] for w in windows[at - 1 : at + back]), 6)
    return {
        "hitRatioBefore": before,
        "lowestHitRatio": min(after),
        "dip": round(before - min(after), 6),
        "recoveryTarget": round(target, 6),
        "recoveryWindows": back,
        "recoverySeconds": seconds,
    }
