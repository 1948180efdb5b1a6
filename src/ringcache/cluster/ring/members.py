"""What every ring policy shares: its members (sorted `worker-<uuid>` ids), its parameters,
its fingerprint, and the checks on what callers pass in."""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_left
from collections.abc import Iterable
from typing import ClassVar

from ringcache.cluster.errors import InvalidArgument

WORKER_PREFIX = "worker-"


def identifier_bytes(worker_id: str) -> bytes:
    """The 16 identifier bytes of ``worker-<uuid>``; `InvalidArgument` unless canonical."""
    if not isinstance(worker_id, str) or not worker_id.startswith(WORKER_PREFIX):
        raise InvalidArgument(f"worker id {worker_id!r} is not of the form 'worker-<uuid>'")
    text = worker_id[len(WORKER_PREFIX) :]
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise InvalidArgument(f"worker id {worker_id!r} does not end in a valid uuid") from None
    if str(parsed) != text:  # one spelling per worker, or two ids would share ring points
        raise InvalidArgument(f"worker id {worker_id!r} must be 'worker-{parsed}'")
    return parsed.bytes


def encode_path(path: str) -> bytes:
    """A UFS path's UTF-8 bytes, which every policy hashes; `InvalidArgument` if it can't."""
    if not isinstance(path, str):
        raise InvalidArgument(f"a UFS path must be a string, not {type(path).__name__}")
    try:
        return path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"UFS path {path!r} is not valid unicode: {exc}") from None


def encode_paths(paths: Iterable[str]) -> list[bytes]:
    """`encode_path` of each; the fast path first, the checked one to name a bad path."""
    try:
        return [p.encode("utf-8") for p in paths]
    except (AttributeError, UnicodeEncodeError):
        return [encode_path(p) for p in paths]


class Members:
    """A ring's sorted member ids and `virtual_nodes`, each member's place among them, and
    the fingerprint naming the policy, its parameters and its members."""

    __slots__ = ("_worker_ids", "_virtual_nodes", "_fingerprint")
    policy: ClassVar[str]

    def _take_members(self, worker_ids: Iterable[str], virtual_nodes: int) -> list[bytes]:
        """Check and keep the members (sorted) and `virtual_nodes`; their identifier bytes."""
        if isinstance(worker_ids, str):
            raise InvalidArgument("worker_ids must be a collection of ids, not one string")
        if isinstance(virtual_nodes, bool) or not isinstance(virtual_nodes, int):
            raise InvalidArgument(f"virtual_nodes must be an integer, not {virtual_nodes!r}")
        if virtual_nodes < 1:
            raise InvalidArgument(f"virtual_nodes must be at least 1, not {virtual_nodes}")
        identities = {w: identifier_bytes(w) for w in worker_ids}  # rejects bad ids first
        self._worker_ids = tuple(sorted(identities))
        self._virtual_nodes = virtual_nodes
        self._fingerprint: str | None = None
        return [identities[w] for w in self._worker_ids]

    @property
    def worker_ids(self) -> tuple[str, ...]:
        return self._worker_ids

    @property
    def virtual_nodes(self) -> int:
        return self._virtual_nodes

    def fingerprint(self) -> str:
        """A short name for this placement: equal for rings of the same policy, virtual
        nodes and workers (Alluxio's rings keep the name they had before policies)."""
        if self._fingerprint is None:
            named = () if self.policy == "alluxio" else (self.policy,)
            text = "\n".join((*named, str(self._virtual_nodes), *self._worker_ids)).encode()
            self._fingerprint = hashlib.blake2b(text, digest_size=16).hexdigest()
        return self._fingerprint

    def __len__(self) -> int:
        return len(self._worker_ids)

    def __contains__(self, worker_id: object) -> bool:
        return self._index_of(worker_id) is not None

    def _index_of(self, worker_id: object) -> int | None:
        """`worker_id`'s place among the sorted ids: a bisection, not a scan of them all."""
        ids = self._worker_ids
        if not isinstance(worker_id, str):
            return None
        at = bisect_left(ids, worker_id)
        return at if at < len(ids) and ids[at] == worker_id else None

    def _want(self, count: int) -> int:
        if type(count) is not int or count < 1:  # bool is not a count either
            raise InvalidArgument(f"count must be an integer >= 1, not {count!r}")
        return min(count, len(self._worker_ids))
