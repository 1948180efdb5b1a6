"""A real in-process cluster configured with `ring_policy`: the coordinator, the REST ring
view, the client and the workers all place files by that policy; a worker's stale sweep
keeps what the policy it is told gives it; a bad policy is refused with the config."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from ringcache.client.client import connect
from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.build import build_ring
from ringcache.cluster.worker.stale import StaleSweep
from ringcache.config import load_config
from tests.api.rest_server import serving_rest
from tests.conftest import wait_for, write_tree
from tests.unit.worker.fakes import PAGE, WORKER_A, WORKER_B, Parts


def test_the_cluster_the_client_and_the_workers_place_by_the_configured_policy(
    cluster_factory, tmp_path: Path
) -> None:
    cluster = cluster_factory(ring_policy="maglev", workers=3)
    coordinator = cluster.coordinator_ref

    def full_ring() -> dict | None:
        snapshot = cluster.run(coordinator.call("ring_snapshot"))
        return snapshot if len(snapshot["workers"]) == 3 else None

    snapshot = wait_for(full_ring, what="three workers on the ring")
    assert snapshot["ringPolicy"] == "maglev"
    maglev = build_ring(snapshot["workers"], "maglev", snapshot["virtualNodes"])
    alluxio = build_ring(snapshot["workers"], "alluxio", snapshot["virtualNodes"])
    names = [f"f{i}.bin" for i in range(40)]
    tree = write_tree(tmp_path / "ufs", {name: os.urandom(100) for name in names})
    cluster.run(coordinator.call("add_mount", "/data", f"file://{tree}", {}))
    uris = [f"file://{tree}/{name}" for name in names]
    assert maglev.owners_batch(uris) != alluxio.owners_batch(uris)  # the policies differ here
    with serving_rest(cluster) as address:
        view = httpx.get(f"{address}/api/v1/ring").json()
        assert view["ringPolicy"] == "maglev" and sorted(view["workers"]) == snapshot["workers"]
        client = connect(address, remember=False, short_circuit=False)
        for name, uri in zip(names, uris, strict=True):
            expected = maglev.owners(uri, 2)
            assert client.owners(f"/data/{name}", 2) == expected
            assert cluster.run(coordinator.call("owners", f"/data/{name}", 2)) == expected
            assert client.read(f"/data/{name}") == (tree / name).read_bytes()
    cached = {
        node["id"]: node.get("cachedFiles", 0)
        for node in cluster.run(coordinator.call("list_nodes"))
    }
    owned = {w: sum(maglev.owners(u)[0] == w for u in uris) for w in snapshot["workers"]}
    assert cached == owned  # each read was cached by its maglev owner, and only there


def test_a_bad_ring_policy_is_refused_when_the_config_is_read(tmp_path: Path) -> None:
    assert load_config(ring_policy="jump").ring_policy == "jump"
    assert load_config().ring_policy == "alluxio"
    config = tmp_path / "ringcache.toml"
    config.write_text('ring_policy = "rendezvous"\n')
    with pytest.raises(InvalidArgument, match="ring_policy is one of alluxio, maglev, jump"):
        load_config(config)
    config.write_text("ring_policy = 3\n")
    with pytest.raises(InvalidArgument, match="ring_policy"):
        load_config(config)


def test_a_stale_sweep_keeps_what_the_named_policy_gives_the_worker(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    uris = [parts.write(f"f{i:02d}.bin", os.urandom(PAGE)) for i in range(30)]
    asyncio.run(parts.mounts.refresh())
    assert {a.status for a in asyncio.run(parts.loads.load_batch(uris))} == {"LOADED"}
    members = [WORKER_A, WORKER_B]
    jump, alluxio = build_ring(members, "jump", 50), build_ring(members, "alluxio", 50)
    mine = {uri for uri in uris if jump.owners(uri) == [WORKER_A]}
    assert mine != {uri for uri in uris if alluxio.owners(uri) == [WORKER_A]}
    sweep = StaleSweep(WORKER_A, parts.store, parts.holdings, {})

    async def sweep_with_jump() -> None:
        await sweep.clear_stale(members, 50, 1, "jump")
        await sweep._task  # the sweep runs in the background: wait for it here

    asyncio.run(sweep_with_jump())
    kept = {e["path"] for e in asyncio.run(parts.holdings.list_all_cached())}
    assert kept == mine
