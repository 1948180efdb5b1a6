"""`PolicyWatch`: a worker's view of the rules, the published config and the usage."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.policies import PolicyConfig, PolicyStore, QuotaRule, TtlRule
from ringcache.cluster.policies.watch import PolicyWatch
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import open_registry
from ringcache.cluster.ufs.mount_store import write_mount_point
from ringcache.cluster.ufs.mounts import MountPoint, MountTable

DATA = MountPoint("/data", "file:///srv/data")
MOUNTS = MountTable([DATA])


def test_poll_sees_rules_usage_config_and_mount_changes(tmp_path: Path) -> None:
    async def main() -> None:
        registry = open_registry(tmp_path, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            await write_mount_point(ref, DATA)
            store = PolicyStore(ref)
            await store.put_rule(TtlRule.parse("/data/tmp", "1h", MOUNTS))
            watch = PolicyWatch(ref)
            await watch.load(MOUNTS)
            assert watch.policies.ttl_for("file:///srv/data/tmp/x") == 3600
            assert watch.config == PolicyConfig() and watch.usage == {}
            assert not await watch.poll(MOUNTS)  # nothing changed

            await store.put_rule(QuotaRule.parse("/data", "1KB", None, MOUNTS))
            change = await watch.poll(MOUNTS)
            assert change.rules and not change.usage
            assert [q.path for q in watch.policies.quotas_for("file:///srv/data/a")] == ["/data"]

            await store.publish_usage({"/data": 700}, as_of=12.5)
            change = await watch.poll(MOUNTS)
            assert change.usage and not change.rules and watch.usage == {"/data": 700}
            assert watch.usage_as_of == 12.5

            # A published configuration that turns TTL off takes its rules out of force.
            await store.publish_config(PolicyConfig(ttl={"enabled": False}))
            assert (await watch.poll(MOUNTS)).rules
            assert watch.policies.ttl_for("file:///srv/data/tmp/x") is None
            assert not watch.config.ttl.enabled

            # Another mount table moves the rules to the UFS root they now stand for.
            moved = MountTable([MountPoint("/data", "file:///elsewhere")])
            assert (await watch.poll(moved)).rules
            assert watch.policies.quotas_for("file:///srv/data/a") == []
            assert watch.policies.quotas_for("file:///elsewhere/a")[0].path == "/data"
        finally:
            registry.close()

    asyncio.run(main())


def test_a_watch_given_a_config_ignores_the_published_one(tmp_path: Path) -> None:
    async def main() -> None:
        registry = open_registry(tmp_path, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            await write_mount_point(ref, DATA)
            await PolicyStore(ref).publish_config(PolicyConfig(quota={"enabled": False}))
            await PolicyStore(ref).put_rule(QuotaRule.parse("/data", "1KB", None, MOUNTS))
            own = PolicyWatch(ref, PolicyConfig())
            await own.load(MOUNTS)
            assert own.config.quota.enabled and own.policies.quotas.rules
            published = PolicyWatch(ref)
            await published.load(MOUNTS)
            assert not published.config.quota.enabled and not published.policies.quotas.rules
        finally:
            registry.close()

    asyncio.run(main())
