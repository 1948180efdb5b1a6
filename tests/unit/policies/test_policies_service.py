"""`PolicyService` behaviour the REST tests cannot see: usage, unmounts, stale rules, snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.errors import InvalidArgument, NotFound, NotSupported
from ringcache.cluster.index.file_index import FileIndex
from ringcache.cluster.policies import CacheRule, PolicyConfig, PolicyService
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import open_registry
from ringcache.cluster.ufs.mounts import MountPoint, MountTable

DATA = MountPoint("/data", "file:///srv/data")


class Mounts:
    """A mount table the test can change under the service."""

    def __init__(self, *mounts: MountPoint) -> None:
        self.table = MountTable(mounts)

    async def __call__(self) -> MountTable:
        return self.table


def run(
    tmp_path: Path,
    scenario: Callable[[PolicyService, Mounts], Awaitable[None]],
    config: PolicyConfig | None = None,
) -> None:
    async def main() -> None:
        registry = open_registry(tmp_path, ManualClock())
        mounts = Mounts(DATA)
        ref = LocalRef(registry, asyncio.get_running_loop())
        service = PolicyService(ref, mounts, FileIndex(), config or PolicyConfig())
        try:
            await scenario(service, mounts)
        finally:
            registry.close()

    asyncio.run(main())


def test_quota_usage_counts_the_copies_indexed_under_each_quota(tmp_path: Path) -> None:
    async def scenario(service: PolicyService, mounts: Mounts) -> None:
        index = service.file_index
        index.record_cached("file:///srv/data/train/a", 100, None, None, "worker-1")
        index.record_cached("file:///srv/data/train/a", 100, None, None, "worker-2")
        index.record_cached("file:///srv/data/test/b", 30, None, None, "worker-1")
        await service.set_quota("/data", "1GB")
        await service.set_quota("/data/train", "1GB", "EVICT")
        used = {q["path"]: q["usedBytes"] for q in await service.list_quotas()}
        assert used == {"/data": 230, "/data/train": 200}
        assert (await service.get_quota("/data/train"))["usedBytes"] == 200

    run(tmp_path, scenario)


def test_forget_mount_drops_its_rules_and_index_entries_only(tmp_path: Path) -> None:
    async def scenario(service: PolicyService, mounts: Mounts) -> None:
        mounts.table = MountTable([DATA, MountPoint("/database", "file:///srv/db")])
        await service.set_ttl("/data/tmp", "1h")
        await service.set_priority("/data", "LOW")
        await service.set_ttl("/database", "1d")
        service.file_index.record_cached("file:///srv/data/a", 1, None, None, "worker-1")
        service.file_index.record_cached("file:///srv/db/a", 1, None, None, "worker-1")
        assert await service.forget_mount("/data", "file:///srv/data") == {
            "policies": 2,
            "files": 1,
        }
        assert [r["path"] for r in await service.list_ttls()] == ["/database"]
        assert await service.list_priorities() == []
        assert [e["path"] for e in await service.list_file_index()] == ["file:///srv/db/a"]

    run(tmp_path, scenario)


def test_a_rule_whose_mount_is_gone_can_still_be_read_and_removed(tmp_path: Path) -> None:
    async def scenario(service: PolicyService, mounts: Mounts) -> None:
        await service.set_priority("/data/gold", "HIGH")
        mounts.table = MountTable()  # unmounted without dropping the rule
        assert (await service.get_priority("/data/gold"))["priority"] == "HIGH"
        with pytest.raises(InvalidArgument, match="/data/other"):
            await service.get_priority("/data/other")  # any other path must resolve
        with pytest.raises(InvalidArgument, match="/data"):
            await service.set_priority("/data/gold", "LOW")
        await service.remove_priority("/data/gold")
        assert await service.list_priorities() == []

    run(tmp_path, scenario)


def test_policies_snapshot_reflects_every_call(tmp_path: Path) -> None:
    async def scenario(service: PolicyService, mounts: Mounts) -> None:
        await service.set_ttl("file:///srv/data/tmp", 2)
        await service.add_cache_filter(".*\\.log", "skipCache")
        await service.update_default_cache_filter("maxAge", "1m")
        policies = await service.policies()
        assert policies.ttl_for("file:///srv/data/tmp/x") == 2
        assert policies.cache_rule_for("file:///srv/data/a.log") == (CacheRule.SKIP_CACHE, None)
        assert policies.cache_rule_for("file:///srv/data/a.csv") == (CacheRule.MAX_AGE, 60)
        await service.remove_cache_filter(".*\\.log", "skipCache")
        assert (await service.policies()).cache_rule_for("file:///srv/data/a.log")[0] == "maxAge"

    run(tmp_path, scenario)


def test_switches_refuse_before_validating(tmp_path: Path) -> None:
    config = PolicyConfig.model_validate(
        {name: {"enabled": False} for name in PolicyConfig.model_fields}
    )

    async def scenario(service: PolicyService, mounts: Mounts) -> None:
        for call in (
            service.set_quota("/nowhere", "bad"),
            service.set_ttl("/data", 0),
            service.list_priorities(),
            service.remove_cache_filter(None, None),
        ):
            with pytest.raises(NotSupported):
                await call
        with pytest.raises(NotFound):
            await service.add_file_index(["/nowhere"])
        with pytest.raises(InvalidArgument):
            await service.require_feature("quotas")  # a typo is not a disabled feature
        assert (await service.policies()).ttl_for("/data/x") is None

    run(tmp_path, scenario, config)


def test_the_quota_gate_rereads_rules_after_a_write_or_a_second_not_per_batch(
    tmp_path: Path,
) -> None:
    from ringcache.cluster.environment import Environment
    from ringcache.cluster.policies.enforcer import RULE_PREFIXES, RULES_REUSE, PolicyEnforcer
    from ringcache.cluster.refs import WritesNoticed

    async def main() -> None:
        clock = ManualClock()
        registry = open_registry(tmp_path, clock)
        enforcer: PolicyEnforcer | None = None
        ref = WritesNoticed(
            LocalRef(registry, asyncio.get_running_loop()),
            lambda: enforcer.rules_may_have_changed(),
            RULE_PREFIXES,
        )
        env = Environment(clock=clock)
        enforcer = PolicyEnforcer(
            PolicyConfig(), ref, None, env, FileIndex(), live=set, interval=3.0
        )  # type: ignore[arg-type]
        service = PolicyService(ref, Mounts(DATA), enforcer.file_index, PolicyConfig())
        reads = 0
        refresh = enforcer.refresh

        async def counted():
            nonlocal reads
            reads += 1
            return await refresh()

        enforcer.refresh = counted  # type: ignore[method-assign]
        try:
            for _ in range(5):  # five batches at one instant: one read
                assert not (await enforcer.rules_for_batch()).quotas.rules
            assert reads == 1
            await service.set_quota("/data/train", "1GB")  # a write: the next batch reads
            rules = (await enforcer.rules_for_batch()).quotas.rules
            assert [rule.path for rule in rules] == ["/data/train"] and reads == 2
            await enforcer.rules_for_batch()
            assert reads == 2
            await ref.call("put_many", [("/jobs/load/1", "{}")])  # not a rule: no read
            await ref.call("delete_prefix", "/job-failed/")
            await enforcer.rules_for_batch()
            assert reads == 2
            await ref.call("delete_prefix", "/")  # covers the rules
            await enforcer.rules_for_batch()
            assert reads == 3
            await ref.call("delete", "/mounts/none")  # a mount: read again
            await enforcer.rules_for_batch()
            assert reads == 4
            clock.advance(RULES_REUSE)  # a change made elsewhere shows within RULES_REUSE
            await enforcer.rules_for_batch()
            assert reads == 5
        finally:
            registry.close()

    asyncio.run(main())
