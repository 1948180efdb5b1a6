"""Workers published the way Alluxio's are, so that Alluxio clients find them through etcd.

An Alluxio worker that joins an etcd-backed cluster keeps one key under its lease,
``/ServiceDiscovery/<cluster name>/<worker id>``, whose value is Alluxio's JSON for it:
``Identity`` {``version``, ``identifier`` (hex of its 16 identifier bytes)} and
``WorkerNetAddress`` {``Host``, ``HttpServerPort``, ...}. The Alluxio Python client
(``alluxiofs`` 1.0.x with ``etcd_hosts=``) reads every value under the prefix, builds its
hash ring from the identities and sends a file's reads to its owner's Host:HttpServerPort.

A ringcache worker id ``worker-<uuid>`` is an Alluxio identity of version 1 whose
identifier is the uuid's bytes (the ring hashes exactly those), so a client's ring over the
published identities is ringcache's ring, given the same number of virtual nodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ringcache.cluster.errors import InvalidArgument

from .hash_ring import IDENTITY_VERSION
from .members import identifier_bytes

ALLUXIO_CLUSTER_NAME = "DefaultAlluxioCluster"  # Alluxio's `alluxio.cluster.name` default


@dataclass(frozen=True)
class AlluxioDiscovery:
    """The key and value that publish one worker under Alluxio's service-discovery prefix."""

    cluster_name: str = ALLUXIO_CLUSTER_NAME

    @property
    def prefix(self) -> str:
        return f"/ServiceDiscovery/{self.cluster_name}/"

    def key(self, worker_id: str) -> str:
        return self.prefix + worker_id

    def entry(self, worker_id: str, data_address: str) -> str:
        """Alluxio's JSON for a worker whose data server listens at `data_address`
        (``host:port``); `InvalidArgument` for an id that is not ``worker-<uuid>``."""
        host, _, port = data_address.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidArgument("a data address is host:port", data_address=data_address)
        return json.dumps(
            {
                "Identity": {
                    "version": IDENTITY_VERSION,
                    "identifier": identifier_bytes(worker_id).hex(),
                },
                "WorkerNetAddress": {
                    "Host": host,
                    "ContainerHost": "",
                    "HttpServerPort": int(port),
                },
                "State": "AUTHORIZED",
                "GenerationNumber": -1,
            },
            sort_keys=True,
        )


def discovery_for_registry(registry_url: str | None) -> AlluxioDiscovery | None:
    """Workers publish themselves Alluxio's way only on etcd (``etcd://...``), where
    Alluxio clients look for them; the embedded registries have no such readers."""
    if registry_url and registry_url.startswith("etcd://"):
        return AlluxioDiscovery()
    return None
