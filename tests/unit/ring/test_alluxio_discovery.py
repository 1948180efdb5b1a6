"""A worker's Alluxio service-discovery entry: the key and JSON Alluxio clients read."""

from __future__ import annotations

import json

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.alluxio_discovery import AlluxioDiscovery, discovery_for_registry
from tests.unit.ring.test_ring import as_worker_id, load_vector

WORKER = "worker-0f8fad5b-d9cb-469f-a165-70867728950e"


def test_the_entry_is_alluxios_json_under_its_prefix() -> None:
    discovery = AlluxioDiscovery()
    assert discovery.key(WORKER) == f"/ServiceDiscovery/DefaultAlluxioCluster/{WORKER}"
    entry = json.loads(discovery.entry(WORKER, "10.0.0.5:28081"))
    assert entry["Identity"] == {"version": 1, "identifier": "0f8fad5bd9cb469fa16570867728950e"}
    address = entry["WorkerNetAddress"]
    assert (address["Host"], address["HttpServerPort"]) == ("10.0.0.5", 28081)
    assert AlluxioDiscovery("other").key(WORKER).startswith("/ServiceDiscovery/other/")


def test_identities_round_trip_with_alluxios_own() -> None:
    """An identity Alluxio's Java client wrote, read as a ringcache id and published
    again, is the same JSON object: the client's ring sees the worker ringcache's ring has."""
    for identity in load_vector("workerList.json"):
        published = json.loads(AlluxioDiscovery().entry(as_worker_id(identity), "h:1"))
        assert published["Identity"] == identity


@pytest.mark.parametrize("address", ["", "host", "host:", ":80", "host:port"])
def test_a_bad_data_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidArgument):
        AlluxioDiscovery().entry(WORKER, address)


def test_a_worker_id_that_is_no_identity_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        AlluxioDiscovery().entry("worker-not-a-uuid", "h:1")


def test_only_an_etcd_registry_publishes() -> None:
    assert discovery_for_registry("etcd://127.0.0.1:2379") == AlluxioDiscovery()
    assert discovery_for_registry(None) is None
