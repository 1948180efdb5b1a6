"""What the policies that place a key by hashing it share: owners, batches, replicas."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import numpy as np

from .members import Members, encode_path, encode_paths

MAX_ATTEMPTS = 100  # rehashes tried for replicas before walking the members in order
ATTEMPT_SUFFIX = tuple(a.to_bytes(4, "little") for a in range(MAX_ATTEMPTS + 1))


class KeyedRing(Members, ABC):
    """A policy given as `_place(bytes) -> member's place`, the place vectorised.

    The first owner of a path is `_place(utf8(path) + le32(1))`, the same bytes Alluxio's
    ring hashes first. Replica ``k`` rehashes with ``le32(2)``, ``le32(3)``, ... and skips
    members already chosen (as Alluxio's ring does); after MAX_ATTEMPTS it completes the
    answer with the next members in id order, so every lookup ends, with distinct owners.
    """

    __slots__ = ()

    @abstractmethod
    def _place(self, data: bytes) -> int:
        """The place in `worker_ids` of the member that `data` (path + attempt) maps to."""

    @abstractmethod
    def _places(self, data: list[bytes]) -> np.ndarray:
        """`_place` of each, as an int32 array."""

    def with_workers(self, worker_ids: Iterable[str]) -> KeyedRing:
        """The same policy and virtual nodes over other workers."""
        return type(self)(worker_ids, self._virtual_nodes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={len(self)}, virtual_nodes={self._virtual_nodes})"

    def _chosen(self, data: bytes, want: int) -> list[int]:
        """The places of `want` (>= 1) distinct owners of the path whose bytes are `data`."""
        place = self._place
        chosen = [place(data + ATTEMPT_SUFFIX[1])]
        attempt = 2
        while len(chosen) < want and attempt <= MAX_ATTEMPTS:
            found = place(data + ATTEMPT_SUFFIX[attempt])
            if found not in chosen:
                chosen.append(found)
            attempt += 1
        size, last = len(self._worker_ids), chosen[-1]
        while len(chosen) < want:  # rehashing did not find them all: next ids in order
            last = (last + 1) % size
            if last not in chosen:
                chosen.append(last)
        return chosen

    def owners(self, ufs_path: str, count: int = 1) -> list[str]:
        """The ``min(count, len(self))`` workers that own ``ufs_path``, first owner first."""
        want, data = self._want(count), encode_path(ufs_path)
        if want == 0:
            return []
        names = self._worker_ids
        return [names[place] for place in self._chosen(data, want)]

    def first_owners(self, paths: Sequence[str]) -> np.ndarray:
        """Each path's owner (`owners(p)[0]`) as its place in `worker_ids`, -1 for none."""
        encoded = encode_paths(paths)
        if not self._worker_ids:
            return np.full(len(encoded), -1, dtype=np.int32)
        suffix = ATTEMPT_SUFFIX[1]
        return self._places([data + suffix for data in encoded])

    def owners_batch(self, paths: Sequence[str], count: int = 1) -> list[list[str]]:
        """``[self.owners(p, count) for p in paths]``, the first owners vectorised."""
        want, names = self._want(count), self._worker_ids
        if want == 1:
            return [[names[place]] for place in self.first_owners(paths).tolist()]
        encoded = encode_paths(paths)
        if want == 0:
            return [[] for _ in encoded]
        return [[names[place] for place in self._chosen(data, want)] for data in encoded]

    def owned_alone(self, paths: Sequence[str], worker_id: str, count: int = 1) -> list[bool]:
        """For each path, whether ``owners(path, count) == [worker_id]``."""
        mine = self._index_of(worker_id)
        if self._want(count) != 1 or mine is None:
            return [False] * len(paths)  # several owners, or none of them is this worker
        return (self.first_owners(paths) == mine).tolist()
