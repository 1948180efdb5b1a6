"""Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, SODA 2018) over
the points of Alluxio's ring.

In the paper, balls arrive one by one; each goes to the first bin clockwise from its hash
whose load is below ``c * mean``. The load there is the balls placed so far, which a
stateless lookup cannot know: a client, a worker and the coordinator must all answer
"who owns this path" from the member set alone, without the list of files. So the balls
here are not the files but the key space itself: the arcs of Alluxio's ring (same
virtual nodes), each arc the hashes from one ring point (exclusive) to the next
(inclusive), weighed by its length. Arcs are placed in a fixed scrambled order of their
points (so the order does not change when other workers come and go), each on the first
worker clockwise from its own point with room for it: whose load (the length it holds so
far) plus the arc's stays within ``c * 2**32 / N``, ``c = LOAD_FACTOR = 1.25`` (an arc
no worker has room for goes to the least loaded). A path's owner is then its arc's worker:
the path is hashed as for Alluxio's first owner (MurmurHash3 of ``utf8(path) + le32(1)``).

What is bounded is each worker's share of the key space: at most ``c / N``, unless an
arc finds no worker with room for it whole (arcs are not split), when the least loaded
worker, below the mean, takes it: at most ``max(c / N, 1 / N + longest arc)`` then. With
few virtual nodes arcs are long, and that bound is little better than Alluxio's ring's.
When Alluxio's arcs already sit under the cap (the usual case at 2,000 virtual nodes) the
placement *is* Alluxio's; the cap matters when arcs are lopsided (few virtual nodes). The
files (or bytes, or reads) that land in a share are still a random draw, so a worker's
file count is within ``c * mean`` only up to sampling noise (a few times
``sqrt(c * mean)``), and a skewed workload (a few hot files) is not bounded at all. Only
the first owner is load-bounded: replicas 2.. are the next distinct owners Alluxio's
ring gives the path.
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3
import numpy as np

from .hash_ring import HashRing
from .keyed import ATTEMPT_SUFFIX, KeyedRing

LOAD_FACTOR = 1.25
_SCRAMBLE = np.uint64(0x9E3779B1)  # ranks the arcs' points in a fixed pseudo-random order
SPACE = 2**32


def arc_lengths(points: np.ndarray) -> np.ndarray:
    """The length of the arc each ring point closes: from the point before it (exclusive)."""
    points = points.astype(np.int64)
    return np.diff(points, prepend=points[-1] - SPACE) if len(points) else points


def bounded_arcs(ring: HashRing, load_factor: float) -> tuple[np.ndarray, float]:
    """Each arc's worker (place in `ring.worker_ids`), and the load cap, in hash lengths."""
    points = np.array([h for h, _ in ring.entries()], dtype=np.int64)
    lengths = arc_lengths(points)
    natural = ring.point_owners.astype(np.int64)
    cap = load_factor * SPACE / len(ring)
    if np.bincount(natural, weights=lengths, minlength=len(ring)).max() < cap:
        return natural.astype(np.int32), cap  # no worker is over the cap: Alluxio's arcs
    owners, size = natural.tolist(), len(points)
    loads = [0.0] * len(ring)
    placed = [0] * size
    scrambled = (points + 2**31).astype(np.uint64) * _SCRAMBLE & np.uint64(SPACE - 1)
    for arc in np.argsort(scrambled, kind="stable").tolist():
        length, point, worker = float(lengths[arc]), arc, owners[arc]
        for _ in range(size):
            if loads[worker] + length <= cap:
                break
            point = point + 1 if point + 1 < size else 0  # no room: the next point clockwise
            worker = owners[point]
        else:  # no worker has room for this arc whole: the least loaded takes it
            worker = min(range(len(loads)), key=loads.__getitem__)
        loads[worker] += length
        placed[arc] = worker
    return np.array(placed, dtype=np.int32), cap


class BoundedLoadRing(KeyedRing):
    """Bounded-load placement of the key space over Alluxio's ring (see the module's text)."""

    __slots__ = ("_ring", "_arcs", "_cap")
    policy = "bounded"
    load_factor = LOAD_FACTOR

    def __init__(self, worker_ids: Iterable[str], virtual_nodes: int = 2000) -> None:
        self._take_members(worker_ids, virtual_nodes)
        self._ring = HashRing(self._worker_ids, virtual_nodes)
        if self._worker_ids:
            self._arcs, self._cap = bounded_arcs(self._ring, self.load_factor)
        else:
            self._arcs, self._cap = np.zeros(0, dtype=np.int32), 0.0
        self._arcs.flags.writeable = False

    def shares(self) -> np.ndarray:
        """Each worker's share of the key space (they sum to 1), in `worker_ids` order."""
        points = np.array([h for h, _ in self._ring.entries()], dtype=np.int64)
        held = np.bincount(self._arcs, weights=arc_lengths(points), minlength=len(self))
        return held / SPACE

    @property
    def share_cap(self) -> float:
        """No worker starts taking an arc once its share is this: ``load_factor / N``."""
        return self._cap / SPACE

    def _place(self, data: bytes) -> int:
        return int(self._arcs[self._ring.point_at_or_after(mmh3.hash(data, seed=0, signed=True))])

    def _places(self, data: list[bytes]) -> np.ndarray:
        hashes = np.array([mmh3.hash(d, seed=0, signed=True) for d in data], dtype=np.int32)
        return self._arcs[self._ring.points_at_or_after(hashes)]

    def _chosen(self, data: bytes, want: int) -> list[int]:
        first = self._place(data + ATTEMPT_SUFFIX[1])
        if want == 1:
            return [first]
        path = data.decode("utf-8")
        others = [self._index_of(w) for w in self._ring.owners(path, want + 1)]
        return [first, *[place for place in others if place != first][: want - 1]]
