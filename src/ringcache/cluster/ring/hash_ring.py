"""Alluxio's consistent hash ring: which workers own a UFS path.

The ring reproduces Alluxio's ``ConsistentHashProvider`` bit for bit (the vectors in
``shared/conformance/alluxio-hash-ring`` check it): MurmurHash3 x86_32, seed 0, signed.
Virtual node ``i`` of a worker sits at ``hash(uuid_bytes + le32(1) + le32(i))``, the 1
being the identity version. Attempt ``a = 1, 2, ...`` of a lookup hashes
``utf8(path) + le32(a)`` and takes the first ring point at or after that hash (Java's
``TreeMap.ceilingEntry``: ``>=``), wrapping to the lowest point, and skips workers it
already chose. (The vectors cannot tell ``>=`` from ``>``: Alluxio's Python client uses
``bisect_right``, i.e. ``>``; the two differ only when a key hashes exactly onto a point.)

Where Alluxio gives up after 100 attempts (and then answers fewer workers than asked
for), this ring keeps Alluxio's answer as the prefix and completes it by walking the ring
clockwise from the last attempt's point, so ``owners(path, n)`` always ends with exactly
``min(n, len(ring))`` distinct workers, in bounded time.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence

import mmh3
import numpy as np

from .members import Members, encode_path, encode_paths

IDENTITY_VERSION = 1
MAX_ATTEMPTS = 100  # Alluxio's cap on rehash attempts per lookup
_ATTEMPT_SUFFIX = tuple(a.to_bytes(4, "little") for a in range(MAX_ATTEMPTS + 1))
_BUCKET_SHIFT = 16  # scalar lookups bisect only within the ring points sharing the top 16 bits
SCALAR_LOOKUPS = 64  # fewer paths than this are looked up one by one, not with numpy


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix_block(h: np.ndarray, k: np.ndarray) -> np.ndarray:
    k = _rotl(k * np.uint32(0xCC9E2D51), 15) * np.uint32(0x1B873593)
    return _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)


def _virtual_node_hashes(identifiers: list[bytes], virtual_nodes: int) -> np.ndarray:
    """MurmurHash3 x86_32 of ``ident + le32(1) + le32(i)`` for every worker and node, vectorised.

    Returns int32 of shape (workers, virtual_nodes); equals ``mmh3.hash`` of the same bytes.
    """
    words = np.frombuffer(b"".join(identifiers), dtype="<u4").reshape(-1, 4).astype(np.uint32)
    h = np.zeros(len(identifiers), dtype=np.uint32)
    for column in range(4):
        h = _mix_block(h, words[:, column])
    h = _mix_block(h, np.full_like(h, IDENTITY_VERSION))
    h = _mix_block(h[:, None], np.arange(virtual_nodes, dtype=np.uint32)[None, :])
    h ^= np.uint32(24)  # input length in bytes
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


class HashRing(Members):
    """An immutable Alluxio-compatible consistent hash ring over ``worker-<uuid>`` ids.

    Guarantees: ``owners(path, n)`` returns ``min(n, len(ring))`` distinct workers, first
    owner first, and for ``n`` up to the point where Alluxio stops (100 attempts) exactly
    the workers, in the order, that Alluxio's Java client chooses. The answer depends only
    on the set of worker ids and ``virtual_nodes`` (not on their order or on any global
    state). ``owners_batch`` gives the same answer as ``owners`` for every path. Should two
    workers' virtual nodes hash to the same point, the greater worker id keeps it.
    """

    __slots__ = ("_hashes", "_owners", "_buckets", "_np_hashes", "_np_owners")
    policy = "alluxio"

    def __init__(self, worker_ids: Iterable[str], virtual_nodes: int = 2000) -> None:
        identifiers = self._take_members(worker_ids, virtual_nodes)
        if identifiers:
            flat = _virtual_node_hashes(identifiers, virtual_nodes).ravel()
            # One int64 sort by (hash, flat index); the index is worker-major, so ties
            # between workers order by worker id (much faster than a stable argsort).
            keys = np.sort((flat.astype(np.int64) << 32) + np.arange(flat.size, dtype=np.int64))
            hashes, order = (keys >> 32).astype(np.int32), keys & 0xFFFFFFFF
            keep = np.append(hashes[1:] != hashes[:-1], True)  # last of a tie wins
            hashes, owners = hashes[keep], (order[keep] // virtual_nodes).astype(np.int32)
        else:
            hashes = owners = np.zeros(0, dtype=np.int32)
        # array.array for fast scalar bisect; numpy views over the same memory for batches.
        self._hashes = array("i", hashes.astype(np.int32).tobytes())
        self._owners = array("i", owners.astype(np.int32).tobytes())
        self._np_hashes = np.frombuffer(self._hashes, dtype=np.int32)
        self._np_owners = np.frombuffer(self._owners, dtype=np.int32)
        self._np_hashes.flags.writeable = False
        self._np_owners.flags.writeable = False
        # _buckets[b] = first point whose top bits are >= bucket b (b offset to start at 0).
        bounds = (np.arange(2 ** (32 - _BUCKET_SHIFT) + 1, dtype=np.int64) << _BUCKET_SHIFT) - 2**31
        self._buckets = array("i", np.searchsorted(hashes, bounds).astype(np.int32).tobytes())

    def with_workers(self, worker_ids: Iterable[str]) -> HashRing:
        """Alluxio's ring, with the same virtual nodes, over other workers."""
        return HashRing(worker_ids, self._virtual_nodes)

    def __repr__(self) -> str:
        return (
            f"HashRing(workers={len(self._worker_ids)}, virtual_nodes={self._virtual_nodes}, "
            f"points={len(self._hashes)})"
        )

    def entries(self) -> list[tuple[int, str]]:
        """The ring's points as ``(signed 32-bit hash, worker id)``, in ascending hash order."""
        ids = self._worker_ids
        return [(h, ids[o]) for h, o in zip(self._hashes, self._owners, strict=True)]

    def _position(self, key_hash: int) -> int:
        """Index of the first ring point ``>=`` key_hash, wrapping past the end to 0."""
        bucket = (key_hash >> _BUCKET_SHIFT) + (1 << (31 - _BUCKET_SHIFT))
        buckets = self._buckets
        pos = bisect_left(self._hashes, key_hash, buckets[bucket], buckets[bucket + 1])
        return 0 if pos == len(self._hashes) else pos

    def _walk(self, chosen: list[int], pos: int, want: int) -> None:
        """Complete ``chosen`` clockwise from ``pos``; every worker has a point, so it ends."""
        owners, size, seen = self._owners, len(self._owners), set(chosen)
        for step in range(1, size + 1):
            worker = owners[(pos + step) % size]
            if worker not in seen:
                seen.add(worker)
                chosen.append(worker)
                if len(chosen) == want:
                    return

    def owners(self, ufs_path: str, count: int = 1) -> list[str]:
        """The ``min(count, len(self))`` workers that own ``ufs_path``, first owner first."""
        want, data = self._want(count), encode_path(ufs_path)
        if want == 0:
            return []
        position, owners = self._position, self._owners
        pos = position(mmh3.hash(data + _ATTEMPT_SUFFIX[1], 0, True))
        chosen = [owners[pos]]
        if want == 1:
            return [self._worker_ids[chosen[0]]]
        for attempt in range(2, MAX_ATTEMPTS + 1):
            pos = position(mmh3.hash(data + _ATTEMPT_SUFFIX[attempt], 0, True))
            worker = owners[pos]
            if worker not in chosen:
                chosen.append(worker)
                if len(chosen) == want:
                    break
        else:
            self._walk(chosen, pos, want)
        return [self._worker_ids[w] for w in chosen]

    @property
    def point_owners(self) -> np.ndarray:
        """Each ring point's worker, as its place in `worker_ids`, in ascending hash order."""
        return self._np_owners

    def point_at_or_after(self, key_hash: int) -> int:
        """The index of the first ring point ``>=`` a signed 32-bit hash (wrapping)."""
        return self._position(key_hash)

    def points_at_or_after(self, key_hashes: np.ndarray) -> np.ndarray:
        """For each signed 32-bit hash, the index of the first ring point ``>=`` it (wrapping)."""
        return self._positions(np.asarray(key_hashes, dtype=np.int32))

    def _positions(self, key_hashes: np.ndarray) -> np.ndarray:
        """Vectorised `_position`; searching sorted keys is ~3x faster (cache-friendly)."""
        order = np.argsort(key_hashes)
        pos = np.empty(len(key_hashes), dtype=np.intp)
        pos[order] = np.searchsorted(self._np_hashes, key_hashes[order], side="left")
        pos[pos == len(self._np_hashes)] = 0
        return pos

    def owned_alone(self, paths: Sequence[str], worker_id: str, count: int = 1) -> list[bool]:
        """For each path, whether ``owners(path, count) == [worker_id]``, vectorised."""
        mine = self._index_of(worker_id)
        if self._want(count) != 1 or mine is None:
            return [False] * len(paths)  # several owners, or none of them is this worker
        keys = _first_hashes(paths)
        if len(keys) < SCALAR_LOOKUPS:  # numpy's fixed cost is more than a few bisections
            owners, position = self._owners, self._position
            return [owners[position(key)] == mine for key in keys]
        first = self._np_owners[self._positions(np.array(keys, dtype=np.int32))]
        return (first == mine).tolist()

    def first_owners(self, paths: Sequence[str]) -> np.ndarray:
        """Each path's owner (`owners(p)[0]`) as its place in `worker_ids`, -1 for none: a
        million paths' owners in 4 MB rather than a list of lists."""
        if not self._worker_ids:
            return np.full(len(paths), -1, dtype=np.int32)
        keys = np.array(_first_hashes(paths), dtype=np.int32)
        return self._np_owners[self._positions(keys)]

    def owners_batch(self, paths: Sequence[str], count: int = 1) -> list[list[str]]:
        """``[self.owners(p, count) for p in paths]``, with the ring search vectorised."""
        want = self._want(count)
        names = self._worker_ids
        if want == 1:  # the paths' bytes are needed once: hashed as encoded
            first = np.array(_first_hashes(paths), dtype=np.int32)
            return [[names[w]] for w in self._np_owners[self._positions(first)].tolist()]
        encoded = encode_paths(paths)  # raises InvalidArgument naming a bad path
        if want == 0:
            return [[] for _ in encoded]
        first_suffix = _ATTEMPT_SUFFIX[1]
        first = np.array([mmh3.hash(d + first_suffix, 0, True) for d in encoded], dtype=np.int32)
        last_pos = self._positions(first)
        first_owner = self._np_owners[last_pos]
        chosen = np.full((len(encoded), want), -1, dtype=np.int32)
        chosen[:, 0] = first_owner
        filled = np.ones(len(encoded), dtype=np.int64)
        active = np.arange(len(encoded))
        for attempt in range(2, MAX_ATTEMPTS + 1):
            suffix = _ATTEMPT_SUFFIX[attempt]
            rows = [encoded[i] for i in active.tolist()]
            key_hashes = np.array([mmh3.hash(d + suffix, 0, True) for d in rows], dtype=np.int32)
            pos = self._positions(key_hashes)
            workers = self._np_owners[pos]
            last_pos[active] = pos
            fresh = ~(chosen[active] == workers[:, None]).any(axis=1)
            hit = active[fresh]
            chosen[hit, filled[hit]] = workers[fresh]
            filled[hit] += 1
            active = active[filled[active] < want]
            if active.size == 0:
                break
        for row in active.tolist():  # Alluxio would give up here; complete as owners() does
            partial = chosen[row, : filled[row]].tolist()
            self._walk(partial, int(last_pos[row]), want)
            chosen[row] = partial
        return np.array(names, dtype=object)[chosen].tolist()


def _first_hashes(paths: Sequence[str]) -> list[int]:
    """Each path's key for its first owner, hashed as it is encoded (no list of every
    path's bytes: a rebalance or a checker asks of a million); `InvalidArgument` naming
    a path that is not a valid string."""
    suffix, hash32 = _ATTEMPT_SUFFIX[1], mmh3.hash
    try:
        return [hash32(path.encode("utf-8") + suffix, 0, True) for path in paths]
    except (AttributeError, UnicodeEncodeError):
        return [hash32(data + suffix, 0, True) for data in encode_paths(paths)]  # raises
