"""What the etcd backend adds to the contract: other clients' writes, etcd's own words."""

from __future__ import annotations

import asyncio

import pytest

from ringcache.cluster.clock import RealClock
from ringcache.cluster.errors import Conflict, InvalidArgument
from ringcache.cluster.registry import open_registry
from ringcache.cluster.registry.etcd_backend import EtcdBackend, grpc_target, parse_endpoints
from ringcache.cluster.registry.etcd_history import prefix_range
from ringcache.config import ClusterConfig
from tests.unit.registry.test_registry import ParkedClock


def test_endpoints_and_their_grpc_target():
    assert parse_endpoints("etcd://10.0.0.1:2379,10.0.0.2") == ["10.0.0.1:2379", "10.0.0.2:2379"]
    assert grpc_target(["10.0.0.1:2379", "10.0.0.2:2379"]) == "ipv4:10.0.0.1:2379,10.0.0.2:2379"
    assert grpc_target(["etcd-a:2379", "etcd-b:2379"]) == "etcd-a:2379"
    for bad in ["http://h:2379", "etcd://", "etcd://h:port"]:
        with pytest.raises(InvalidArgument):
            parse_endpoints(bad)


def test_prefix_ranges_are_etcds():
    assert prefix_range("") == (b"\0", b"\0")
    assert prefix_range("w/") == (b"w/", b"w0")
    assert prefix_range("a\U0010ffff") == ("a\U0010ffff".encode(), b"a\xf4\x8f\xbf\xc0")


def test_the_config_names_the_registry():
    assert ClusterConfig().registry is None  # SQLite in the state directory
    assert ClusterConfig(registry="sqlite").registry is None
    url = "etcd://127.0.0.1:2379,127.0.0.1:22379"
    assert ClusterConfig(registry=url).registry == url
    with pytest.raises(ValueError):
        ClusterConfig(registry="zookeeper://h:2181")


def test_a_watch_wakes_on_a_write_by_another_client(etcd_url, tmp_path):
    async def scenario():
        writer = open_registry(tmp_path, RealClock(), url=etcd_url)
        reader = open_registry(tmp_path, ParkedClock(), url=etcd_url)  # no timeout ends it
        start = await reader.revision() + 1
        watcher = asyncio.create_task(reader.watch("workers/", start, 60))
        await asyncio.sleep(0.2)
        await writer.put("other/x", "1")
        await asyncio.sleep(0.2)
        assert not watcher.done()  # a write elsewhere does not wake it
        await writer.put("workers/w1", "addr")
        events, next_revision = await asyncio.wait_for(watcher, 5)
        assert [(e.type, e.kv.key, e.kv.value) for e in events] == [("PUT", "workers/w1", "addr")]
        assert next_revision == start + 2
        writer.close()
        reader.close()

    asyncio.run(scenario())


def test_keys_of_a_lapsed_lease_vanish_for_every_client(etcd_url, tmp_path):
    async def scenario():
        holder = open_registry(tmp_path, RealClock(), url=etcd_url)
        other = open_registry(tmp_path, RealClock(), url=etcd_url)
        lease = await holder.lease_grant(1)
        await holder.put("workers/w1", "addr", lease=lease)
        start = await other.revision() + 1
        holder.close()  # the holder dies: nobody keeps the lease alive
        events, _ = await other.watch("workers/", start, 5)  # woken by etcd's expiry
        assert [(e.type, e.kv.key) for e in events] == [("DELETE", "workers/w1")]
        assert await other.get("workers/w1") is None
        other.close()

    asyncio.run(scenario())


def test_lease_ids_and_transactions_follow_etcd(etcd_url):
    backend = EtcdBackend(etcd_url, RealClock())
    lease = backend.grant(0.2, 0.0)  # etcd counts whole seconds: at least one
    assert backend.lease(lease).ttl == 1
    with pytest.raises(Conflict):
        backend.grant(5, 0.0, lease_id=lease)
    revision = backend.put_many([("k/a", "1"), ("k/b", "2"), ("k/a", "3")])
    assert [(kv.key, kv.value, kv.mod_revision) for kv in backend.range("k/")] == [
        ("k/a", "3", revision),
        ("k/b", "2", revision),
    ]
    assert backend.delete_prefix("k/") == [("k/a", revision + 1), ("k/b", revision + 1)]
    backend.close()


def test_history_older_than_a_backend_is_replayed_whole_revisions_at_a_time(etcd_url):
    writer = EtcdBackend(etcd_url, RealClock())
    first = writer.put("k/a", "1")
    writer.put_many([("k/b", "2"), ("k/c", "3")])  # one revision, two events
    writer.delete("k/a")
    late = EtcdBackend(etcd_url, RealClock())  # its kept history starts after these writes
    events = late.events_since("k/", first, 100)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", "k/a", first),
        ("PUT", "k/b", first + 1),
        ("PUT", "k/c", first + 1),
        ("DELETE", "k/a", first + 2),
    ]
    assert [e.kv.key for e in late.events_since("k/", first + 1, 1)] == ["k/b", "k/c"]
    assert late.events_since("k/", first + 3, 100) == []
    writer.close()
    late.close()
