"""What a forked child must not share with its parent (a DataLoader's workers are forked
from a process that may have read already): a connection to a worker carries one process's
requests and their answers in turn, and two processes on one take each other's answers."""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    def after_fork(self) -> None:
        """In a forked child: let go of what the parent goes on using (closing only the
        child's copies), so that the child opens its own."""


_LIVE: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def renew_in_children(owner: ForkAware) -> None:
    """Call `owner.after_fork()` in every child forked while `owner` lives."""
    _LIVE.add(owner)


def _in_child() -> None:
    for owner in list(_LIVE):
        owner.after_fork()


os.register_at_fork(after_in_child=_in_child)
