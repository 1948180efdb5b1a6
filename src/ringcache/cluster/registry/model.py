"""The registry's values: key-values, watch events and leases, in etcd's vocabulary.

All of them are plain frozen dataclasses so that Ray can pickle them across actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ringcache.cluster.errors import Gone


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as stored at `mod_revision`.

    `create_revision` is the revision that created the key (it resets when the key is
    deleted and put again), `version` counts puts since that creation (1 on create), and
    `lease` is the id of the lease the key is attached to (0: none).
    """

    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change to one key. For DELETE, `kv.value` is "" and `kv.mod_revision` is the
    revision of the deletion (create_revision, version and lease are 0, as in etcd)."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease: `ttl` seconds granted, lapsing at `expires_at` (epoch seconds, clock time)."""

    id: int
    ttl: float
    expires_at: float


class Compacted(Gone):
    """A watch asked for history older than the registry keeps (410).

    `details["compact_revision"]` is the newest revision dropped from the history: a
    watcher must re-read the state (range) and watch again from a newer revision.
    """

    status_code = 410
