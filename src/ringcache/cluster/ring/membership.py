"""Membership records in the registry, in one place so every reader agrees on the layout.

`/nodes/<id>` is a worker's durable record (host, capacity, start time, decommissioned);
`/live/<id>` is put under the worker's lease: it exists exactly while the worker is alive.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum

NODES_PREFIX = "/nodes/"
LIVE_PREFIX = "/live/"


class NodeState(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DECOMMISSIONED = "DECOMMISSIONED"


@dataclass
class NodeRecord:
    id: str
    host: str
    ray_node_id: str | None
    capacity_bytes: int
    start_time: float
    decommissioned: bool = False
    last_heartbeat: float | None = None
    data_address: str | None = None  # host:port of the worker's data server (HTTP)

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> NodeRecord:
        return cls(**json.loads(text))


def node_key(worker_id: str) -> str:
    return NODES_PREFIX + worker_id


def live_key(worker_id: str) -> str:
    return LIVE_PREFIX + worker_id


def worker_id_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]
