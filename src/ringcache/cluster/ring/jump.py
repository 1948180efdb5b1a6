"""Jump consistent hash (Lamping & Veach, 2014) over the workers in id order.

Jump maps a 64-bit key to a bucket in ``[0, N)``: every bucket gets an equal share, and
going from N to N+1 buckets moves exactly the keys that go to the new bucket N (the
ideal ``1/(N+1)``). Buckets are numbers, so the workers need a stable numbered order;
here it is the sorted list of worker ids, the only order every process can derive from
the member set alone. The cost, stated plainly: a worker that joins (or leaves) at
place ``r`` of that order shifts every worker after it by one bucket, so about
``(N - r) / N`` of all keys move, half of them on average for a random id; only a worker
whose id sorts after every other one joins (or leaves) at the ideal cost. Choose jump for
a fixed set of workers, or for ids that sort in the order workers are added.

Keys are MurmurHash3 x64_128 (seed 0, first 64 bits) of the path's bytes and attempt.
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3
import numpy as np

from .keyed import KeyedRing

_STEP = 2862933555777941757  # the paper's 64-bit linear congruential multiplier
_MASK = (1 << 64) - 1


def jump_hash(key: int, buckets: int) -> int:
    """The paper's `JumpConsistentHash(key, num_buckets)` for an unsigned 64-bit key."""
    bucket, following = -1, 0
    while following < buckets:
        bucket = following
        key = (key * _STEP + 1) & _MASK
        following = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


def jump_hashes(keys: np.ndarray, buckets: int) -> np.ndarray:
    """`jump_hash` of each uint64 key, vectorised (float64 steps, as the paper's C++)."""
    keys = keys.astype(np.uint64, copy=True)
    bucket = np.full(keys.shape, -1, dtype=np.int64)
    following = np.zeros(keys.shape, dtype=np.int64)
    active = following < buckets
    while active.any():
        bucket[active] = following[active]
        stepped = keys[active] * np.uint64(_STEP) + np.uint64(1)  # wraps mod 2**64
        keys[active] = stepped
        ratio = float(1 << 31) / ((stepped >> np.uint64(33)).astype(np.float64) + 1.0)
        following[active] = ((bucket[active] + 1).astype(np.float64) * ratio).astype(np.int64)
        active = following < buckets
    return bucket.astype(np.int32)


class JumpRing(KeyedRing):
    """Jump consistent hash over the sorted worker ids (see the module's text for what a
    join or leave in the middle of that order costs). `virtual_nodes` is kept only so the
    ring's description travels whole."""

    __slots__ = ()
    policy = "jump"

    def __init__(self, worker_ids: Iterable[str], virtual_nodes: int = 2000) -> None:
        self._take_members(worker_ids, virtual_nodes)

    def _place(self, data: bytes) -> int:
        return jump_hash(
            mmh3.hash64(data, seed=0, x64arch=True, signed=False)[0], len(self._worker_ids)
        )

    def _places(self, data: list[bytes]) -> np.ndarray:
        keys = np.array(
            [mmh3.hash64(d, seed=0, x64arch=True, signed=False)[0] for d in data], dtype=np.uint64
        )
        return jump_hashes(keys, len(self._worker_ids))
