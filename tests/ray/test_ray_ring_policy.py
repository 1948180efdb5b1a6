"""A real Ray cluster configured with `ring_policy = "jump"`: its coordinator, its client
and its workers place files by jump consistent hash, and a stale sweep keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringcache.actors.bootstrap import start_cluster
from ringcache.client.client import connect
from ringcache.cluster.ring.build import build_ring
from ringcache.config import ClusterConfig
from tests.conftest import wait_for

pytestmark = pytest.mark.ray


def test_a_ray_cluster_places_by_its_ring_policy(ray_config: ClusterConfig, data_dir: Path) -> None:
    config = ray_config.model_copy(update={"ring_policy": "jump"})
    cluster = start_cluster(config, workers=3)
    coordinator = cluster.coordinator

    def full_ring() -> dict | None:
        snapshot = coordinator.call_sync("ring_snapshot")
        return snapshot if len(snapshot["workers"]) == 3 else None

    snapshot = wait_for(full_ring, timeout=30, what="three workers on the ring")
    assert snapshot["ringPolicy"] == "jump"
    jump = build_ring(snapshot["workers"], "jump", snapshot["virtualNodes"])
    coordinator.call_sync("add_mount", "/data", f"file://{data_dir}", {})
    client = connect(namespace=config.namespace, remember=False)
    names = ("a.bin", "small.txt", "nested/deep/b.bin")
    for name in names:
        uri = f"file://{data_dir}/{name}"
        assert client.owners(f"/data/{name}") == jump.owners(uri)
        assert coordinator.call_sync("owners", f"/data/{name}") == jump.owners(uri)
        assert client.read(f"/data/{name}") == (data_dir / name).read_bytes()
    owners = [jump.owners(f"file://{data_dir}/{name}")[0] for name in names]
    expected = {w: owners.count(w) for w in cluster.workers}
    # A miss read without asking (its owner records nothing of it) is stored once the
    # client's note of it arrives.
    assert client.local is not None
    client.local.flush_notes()

    def cached_files() -> dict:
        return {w: ref.call_sync("stats")["cachedFiles"] for w, ref in cluster.workers.items()}

    cached = wait_for(lambda: (c := cached_files()) == expected and c, what="the misses stored")
    assert coordinator.call_sync("clear_stale") == {"errors": {}}

    def swept() -> dict | None:  # each worker counts the bytes it dropped once it is done
        stats = {w: ref.call_sync("stats") for w, ref in cluster.workers.items()}
        return stats if all("staleBytesDropped" in s for s in stats.values()) else None

    stats = wait_for(swept, timeout=30, what="the stale sweeps")
    assert {w: s["staleBytesDropped"] for w, s in stats.items()} == dict.fromkeys(cached, 0)
    assert {w: s["cachedFiles"] for w, s in stats.items()} == cached  # jump's owners kept all
