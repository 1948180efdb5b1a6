"""`MountView`: a worker learns new mount points once per burst of misses, not once per file."""

from __future__ import annotations

import asyncio

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ufs.factory import ufs_for
from ringcache.cluster.ufs.mounts import MountPoint
from ringcache.cluster.worker.mount_view import MountView

from .fakes import MountRegistry


def test_a_burst_of_unknown_paths_reads_the_mount_table_once(run) -> None:
    registry = MountRegistry()
    view = MountView(registry, ufs_for)
    run(view.refresh())
    registry.mounts.append(MountPoint("/data", "memory:///bucket/data"))  # added since

    async def burst():
        return await asyncio.gather(*(view.resolve(f"/data/f{i}") for i in range(50)))

    resolved = run(burst())
    assert [uri for _, uri in resolved] == [f"memory:///bucket/data/f{i}" for i in range(50)]
    assert registry.reads == 2  # the first refresh, then one for all fifty


def test_a_known_mount_resolves_without_the_registry_and_unknown_paths_fail(run) -> None:
    registry = MountRegistry(MountPoint("/data", "memory:///bucket/data"))
    view = MountView(registry, ufs_for)
    run(view.refresh())
    ufs, uri = run(view.open("/data/a/b.bin"))
    assert uri == "memory:///bucket/data/a/b.bin"
    assert ufs is ufs_for("memory:///bucket/data", {})
    assert registry.reads == 1
    with pytest.raises(InvalidArgument):
        run(view.resolve("/elsewhere/x"))
    assert registry.reads == 2  # looked again once before giving up


def test_the_table_is_rebuilt_only_when_the_mounts_changed(run) -> None:
    registry = MountRegistry(MountPoint("/data", "memory:///bucket/data"))
    view = MountView(registry, ufs_for)
    run(view.refresh())
    table = view.table
    run(view.refresh())
    assert view.table is table and view.generation == 2
    registry.mounts.append(MountPoint("/lake", "memory:///bucket/lake"))
    run(view.refresh())
    assert view.table is not table
    assert view.table.to_ufs_uri("/lake/t") == "memory:///bucket/lake/t"


def test_each_mounts_ufs_is_made_once_per_refresh(run) -> None:
    registry = MountRegistry(
        MountPoint("/data", "memory:///bucket/data"), MountPoint("/lake", "memory:///bucket/lake")
    )
    made: list[str] = []

    def factory(root: str, options: dict[str, str]):
        made.append(root)
        return ufs_for(root, options)

    view = MountView(registry, factory)
    run(view.refresh())
    for name in ("a", "b", "c"):
        ufs, uri = run(view.open(f"/data/{name}"))
        assert ufs is ufs_for("memory:///bucket/data", {}) and uri.endswith(f"/data/{name}")
    run(view.open("/lake/t"))
    assert made == ["memory:///bucket/data", "memory:///bucket/lake"]
    run(view.refresh())  # made again after a refresh: what a factory sees may have changed
    run(view.open("/data/a"))
    assert made[2:] == ["memory:///bucket/data"]
