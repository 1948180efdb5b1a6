"""Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of prime size M.

Each worker ``i`` has a preference list over the table's entries, the permutation
``(offset_i + j * skip_i) mod M`` with ``offset = h1(id) mod M`` and
``skip = h2(id) mod (M - 1) + 1`` (h1, h2: MurmurHash3 x86_32 of the id's 16 uuid bytes,
seeds 0xA and 0xB); M prime makes every skip coprime to M, so each list is a permutation.
The table is filled round-robin over the workers in id order, each taking its next
preferred free entry, until all M entries are taken: every worker holds
``floor(M/N)`` or ``ceil(M/N)`` entries, so its share of the key space is within
``1/M`` of ``1/N``. A key's owner is ``table[murmur3(key) mod M]``.

M must not change with every join or leave (a new M maps every key afresh), yet must be
at least ENTRIES_PER_WORKER = 100 times N (the paper's advice): it is the least prime
``>= 65536 * 2**k`` for the least ``k`` that makes it ``>= 100 * N``: 65537 up to 655
workers, 131101 up to 1310, and so on. A join or leave that crosses one of those sizes
remaps nearly every key, once. Otherwise movement is close to the ideal ``1/N`` but above
it: entries change hands between workers that stay, too (measured by
`ringcache simulate rings` and bounded in the ring policy tests).
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3
import numpy as np

from .keyed import KeyedRing

ENTRIES_PER_WORKER = 100
BASE_TABLE = 65536  # the paper's table size, less one; sizes grow by doubling from it
OFFSET_SEED, SKIP_SEED = 0xA, 0xB


def next_prime(n: int) -> int:
    """The least prime >= n (trial division: tables are at most a few million entries)."""
    candidate = max(2, n)
    while True:
        if candidate < 4 or (
            candidate % 2 and all(candidate % d for d in range(3, int(candidate**0.5) + 1, 2))
        ):
            return candidate
        candidate += 1


def table_size(workers: int) -> int:
    """M for N workers: the least prime >= BASE_TABLE * 2**k >= ENTRIES_PER_WORKER * N."""
    base = BASE_TABLE
    while base < ENTRIES_PER_WORKER * workers:
        base *= 2
    return next_prime(base)


def maglev_table(identifiers: list[bytes], size: int) -> np.ndarray:
    """The Maglev lookup table (worker places) for workers with these identifiers."""
    offsets = [mmh3.hash(ident, seed=OFFSET_SEED, signed=False) % size for ident in identifiers]
    skips = [
        mmh3.hash(ident, seed=SKIP_SEED, signed=False) % (size - 1) + 1 for ident in identifiers
    ]
    table = [-1] * size
    if not identifiers:
        return np.zeros(0, dtype=np.int32)
    following = list(offsets)  # each worker's next preferred entry
    filled = 0
    while True:
        for worker, skip in enumerate(skips):
            entry = following[worker]
            while table[entry] >= 0:
                entry += skip
                if entry >= size:
                    entry -= size
            table[entry] = worker
            following[worker] = entry + skip - size if entry + skip >= size else entry + skip
            filled += 1
            if filled == size:
                return np.array(table, dtype=np.int32)


class MaglevRing(KeyedRing):
    """Maglev's placement over ``worker-<uuid>`` ids (see the module's text).

    `virtual_nodes` is kept only so the ring's description travels whole; Maglev's
    table size follows from the number of workers.
    """

    __slots__ = ("_table", "_size")
    policy = "maglev"

    def __init__(self, worker_ids: Iterable[str], virtual_nodes: int = 2000) -> None:
        identifiers = self._take_members(worker_ids, virtual_nodes)
        self._size = table_size(len(identifiers))
        self._table = maglev_table(identifiers, self._size)
        self._table.flags.writeable = False

    @property
    def table(self) -> np.ndarray:
        """The lookup table: each entry's worker, as its place in `worker_ids`."""
        return self._table

    def _place(self, data: bytes) -> int:
        return int(self._table[mmh3.hash(data, seed=0, signed=False) % self._size])

    def _places(self, data: list[bytes]) -> np.ndarray:
        hashes = np.array([mmh3.hash(d, seed=0, signed=False) for d in data], dtype=np.uint32)
        return self._table[hashes % np.uint32(self._size)]
