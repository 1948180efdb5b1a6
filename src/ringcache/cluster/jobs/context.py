"""What every run of a coordinator's jobs works with: one object, built once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..environment import Environment
from ..refs import Peers
from ..ring.policy import RingPolicy
from .store import JobStore


@dataclass
class JobContext:
    """What every run of a coordinator's jobs works with: one object, built once."""

    store: JobStore
    env: Environment
    peers: Peers
    ring: Callable[[], tuple[RingPolicy, set[str]]]
    mounts: Callable[[], Any]
    lease_ttl: float
    lost_files: Any = None  # files only departed workers held (from the file index)
    # Called with the ids of the workers whose batches of one attempt (a page, or its
    # retries) have changed what they hold: notes them for the file index, which catches
    # up in the background (`IndexFeed`); a job never waits for the index.
    on_results: Any = None
