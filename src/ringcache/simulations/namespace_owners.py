"""What the simulator's checkers ask of a ring about every file of the namespace: each
file's owner, and the paths themselves a chunk at a time, without a list of every path
(unless the namespace is small enough to keep them)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..cluster.ring.policy import RingPolicy
from .namespace import SimNamespace

#: Files whose owners a checker asks of a ring at once (their paths made for the ask).
OWNER_CHUNK = 250_000
#: A namespace of up to this many files keeps its paths once the checkers made them (about
#: 100 MB a million): a scale-out asks for every path four times, and a path made again
#: costs its making and, as a fresh string, its hashing. A larger one makes them per pass.
KEPT_PATHS_UP_TO = 2_000_000


class NamespaceOwners:
    """Owners and paths of a `SimNamespace`'s files, for the checkers; the answers for the
    last two rings are kept, and the paths up to `KEPT_PATHS_UP_TO` files."""

    def __init__(self, namespace: SimNamespace) -> None:
        self.namespace = namespace
        self._owners_kept: list[tuple[RingPolicy, np.ndarray]] = []  # the last two rings
        self._paths_kept: list[tuple[int, list[str]]] | None = None

    def file_owners(self, ring: RingPolicy) -> np.ndarray:
        """Every namespace file's owner on `ring` (its place in `ring.worker_ids`, -1 for
        none), in file order: a checker's question. Asked `OWNER_CHUNK` paths at a time, so
        no list of every path is held; the answers for the last two rings are kept (a
        scale-out asks of the ring before and the ring after more than once)."""
        for kept, owners in self._owners_kept:
            if kept is ring:
                return owners
        parts = [ring.first_owners(paths) for _, paths in self.path_chunks()]
        owners = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
        self._owners_kept = [*self._owners_kept[-1:], (ring, owners)]
        return owners

    def path_chunks(self) -> Iterable[tuple[int, list[str]]]:
        """Every namespace file's path, `OWNER_CHUNK` at a time in file order: `(first
        index, paths)`, for the checkers; kept once made up to `KEPT_PATHS_UP_TO` files."""
        if self.namespace.files > KEPT_PATHS_UP_TO:
            return self.namespace.chunks(OWNER_CHUNK)
        if self._paths_kept is None:
            self._paths_kept = list(self.namespace.chunks(OWNER_CHUNK))
        return self._paths_kept

    def forget(self) -> None:
        """Let go of what is kept (the cluster is closing)."""
        self._owners_kept = []
        self._paths_kept = None
