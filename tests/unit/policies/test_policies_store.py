"""`PolicyStore` round trips through a real registry file, reopened, watched and raced."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.policies import (
    FILTER_PREFIX,
    POLICIES_PREFIX,
    CacheRule,
    FilterRule,
    PolicyConfig,
    PolicyStore,
    PriorityRule,
    QuotaRule,
    TtlRule,
)
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import Registry, open_registry
from ringcache.cluster.ufs.mount_store import write_mount_point
from ringcache.cluster.ufs.mounts import MountPoint, MountTable

MOUNTS = MountTable([MountPoint("/data", "file:///srv/data")])
Scenario = Callable[[PolicyStore, Registry], Awaitable[None]]


def run(state_dir: Path, scenario: Scenario) -> None:
    """Run `scenario` over a store on the registry file in `state_dir`, then close it."""

    async def main() -> None:
        registry = open_registry(state_dir, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            await write_mount_point(ref, MOUNTS.get("/data"))
            await scenario(PolicyStore(ref), registry)
        finally:
            registry.close()

    asyncio.run(main())


def test_path_rules_round_trip_get_update_and_remove(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        quota = QuotaRule.parse("/data/train", "10GB", "EVICT", MOUNTS)
        await store.put_rule(quota)
        await store.put_rule(QuotaRule.parse("/data", "1TB", None, MOUNTS))
        assert await store.get_rule(QuotaRule, "/data/train") == quota
        assert [q.path for q in await store.list_rules(QuotaRule)] == ["/data", "/data/train"]
        assert await store.list_rules(TtlRule) == []  # kinds never mix

        smaller = QuotaRule.parse("/data/train", "1GB", None, MOUNTS)
        await store.put_rule(smaller)  # last writer wins
        assert await store.get_rule(QuotaRule, "/data/train") == smaller

        assert await store.remove_rule(QuotaRule, "/data/train") == smaller
        with pytest.raises(NotFound, match="/data/train"):
            await store.get_rule(QuotaRule, "/data/train")
        with pytest.raises(InvalidArgument, match="no quota on /data/train"):
            await store.remove_rule(QuotaRule, "/data/train")
        with pytest.raises(InvalidArgument, match="TTL"):
            await store.remove_rule(TtlRule, "/data")

    run(tmp_path, scenario)


def test_filters_keep_the_order_they_were_added_in(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        patterns = ["z.*", "a.*", "m.*", "b.*"]  # not alphabetical on purpose
        for pattern in patterns:
            await store.add_filter(FilterRule.parse(pattern, "skipCache"))
        assert [r.pattern for r in await store.list_filters()] == patterns

        # Re-adding a pattern changes its rule in place; it does not move to the end.
        await store.add_filter(FilterRule.parse("a.*", "maxAge", "1m"))
        listed = await store.list_filters()
        assert [r.pattern for r in listed] == patterns
        assert listed[1].rule is CacheRule.MAX_AGE and listed[1].seconds == 60

        removed = await store.remove_filter("b.*", "skipCache")  # the newest one
        assert removed.pattern == "b.*"
        await store.add_filter(FilterRule.parse("c.*", "immutable"))
        assert [r.pattern for r in await store.list_filters()] == ["z.*", "a.*", "m.*", "c.*"]

    run(tmp_path, scenario)


def test_removing_a_filter_needs_its_pattern_and_rule(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        await store.add_filter(FilterRule.parse(".*/tmp/.*", "skipCache"))
        with pytest.raises(InvalidArgument, match="skipCache, not immutable"):
            await store.remove_filter(".*/tmp/.*", "immutable")
        with pytest.raises(InvalidArgument, match="no cache-filter rule"):
            await store.remove_filter(".*/nothing/.*", "skipCache")
        with pytest.raises(InvalidArgument):
            await store.remove_filter(".*/tmp/.*", "bogus")
        with pytest.raises(InvalidArgument):
            await store.remove_filter(None, "skipCache")
        assert len(await store.list_filters()) == 1
        await store.remove_filter(".*/tmp/.*", "skipCache")
        assert await store.list_filters() == []

    run(tmp_path, scenario)


def test_default_filter_starts_immutable_and_can_change(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        assert (await store.default_filter()).rule is CacheRule.IMMUTABLE
        await store.set_default_filter(FilterRule.parse_default("maxAge", "30s"))
        assert (await store.default_filter()).seconds == 30
        assert await store.list_filters() == []  # the default is not a listed rule
        with pytest.raises(InvalidArgument):
            await store.set_default_filter(FilterRule.parse("x", "skipCache"))

    run(tmp_path, scenario)


class InterleavingRef:
    """Yields to the loop around every call, as a remote actor would, so that concurrent
    edits really interleave; counts the compare-and-swap conflicts they run into."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.conflicts = 0

    async def call(self, method: str, *args: object, **kwargs: object) -> object:
        await asyncio.sleep(0)
        try:
            return await getattr(self.registry, method)(*args, **kwargs)
        except Conflict:
            self.conflicts += 1
            raise
        finally:
            await asyncio.sleep(0)


def test_concurrent_filter_edits_lose_nothing_and_keep_one_rule_per_pattern(
    tmp_path: Path,
) -> None:
    async def scenario(_: PolicyStore, registry: Registry) -> None:
        ref = InterleavingRef(registry)
        store = PolicyStore(ref)
        distinct = [FilterRule.parse(f"p{i}", "skipCache") for i in range(10)]
        same = [FilterRule.parse("same", "maxAge", f"{i + 1}s") for i in range(5)]
        await asyncio.gather(*(store.add_filter(rule) for rule in distinct + same))
        assert ref.conflicts > 0  # the race happened and was resolved by retrying
        listed = await store.list_filters()
        assert sorted(r.pattern for r in listed) == sorted({r.pattern for r in distinct + same})
        keys = [kv.key for kv in await registry.range(FILTER_PREFIX)]
        assert len(keys) == len(set(keys)) == 11

        await asyncio.gather(*(store.remove_filter(f"p{i}", "skipCache") for i in range(10)))
        assert [r.pattern for r in await store.list_filters()] == ["same"]

    run(tmp_path, scenario)


def test_load_builds_a_policy_set_that_survives_a_registry_reopen(tmp_path: Path) -> None:
    async def write(store: PolicyStore, registry: Registry) -> None:
        await store.put_rule(QuotaRule.parse("/data", "1GB", None, MOUNTS))
        await store.put_rule(TtlRule.parse("/data/tmp", "2s", MOUNTS))
        await store.put_rule(PriorityRule.parse("/data/gold", "HIGH", MOUNTS))
        await store.add_filter(FilterRule.parse(".*\\.log", "skipCache"))
        await store.set_default_filter(FilterRule.parse_default("maxAge", "1h"))

    async def check(store: PolicyStore, registry: Registry) -> None:
        policies = await store.load()
        assert policies.revision == await registry.revision()
        assert [q.size_bytes for q in policies.quotas_for("/data/tmp/x")] == [10**9]
        assert policies.ttl_for("file:///srv/data/tmp/x") == 2
        assert policies.priority_for("/data/gold/x") == "HIGH"
        assert policies.cache_rule_for("file:///srv/data/a.log") == (CacheRule.SKIP_CACHE, None)
        assert policies.cache_rule_for("file:///srv/data/a.csv") == (CacheRule.MAX_AGE, 3600)

    run(tmp_path, write)
    run(tmp_path, check)  # a fresh registry over the same file


def test_disabled_features_contribute_no_rules(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        await store.put_rule(TtlRule.parse("/data", "1h", MOUNTS))
        await store.add_filter(FilterRule.parse(".*", "skipCache"))
        await store.set_default_filter(FilterRule.parse_default("skipCache"))
        config = PolicyConfig.model_validate({"ttl": {"enabled": False},
                                              "cache_filter": {"enabled": False}})  # fmt: skip
        policies = await store.load(config)
        assert policies.ttl_for("/data/x") is None
        assert policies.cache_rule_for("file:///srv/data/x") == (CacheRule.IMMUTABLE, None)
        assert (await store.load()).ttl_for("/data/x") == 3600  # kept for when it is back on

    run(tmp_path, scenario)


def test_a_watch_from_the_loaded_revision_sees_the_next_change(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        policies = await store.load()
        await store.put_rule(PriorityRule.parse("/data", "LOW", MOUNTS))
        events, _ = await registry.watch(POLICIES_PREFIX, policies.revision + 1, 0)
        assert [event.kv.key for event in events] == ["/policies/priority/data"]
        assert (await store.load()).priority_for("/data/x") == "LOW"

    run(tmp_path, scenario)


def test_drop_under_removes_a_subtree_only(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        mounts = MountTable([*MOUNTS.list(), MountPoint("/database", "file:///srv/db")])
        for path in ("/data", "/data/a", "/data/a/b", "/database"):
            await store.put_rule(TtlRule.parse(path, "1h", mounts))
        await store.put_rule(QuotaRule.parse("/data/a", "1GB", None, mounts))
        assert await store.drop_under("/data") == 4
        assert [r.path for r in await store.list_rules(TtlRule)] == ["/database"]
        assert await store.list_rules(QuotaRule) == []

    run(tmp_path, scenario)


def test_unreadable_records_are_skipped_not_fatal(tmp_path: Path) -> None:
    async def scenario(store: PolicyStore, registry: Registry) -> None:
        await registry.put("/policies/ttl/data/bad", "{not json")
        await registry.put(FILTER_PREFIX + "00000000000000000001", '{"pattern": "(", "rule": "x"}')
        await store.put_rule(TtlRule.parse("/data/good", "1h", MOUNTS))
        assert [r.path for r in await store.list_rules(TtlRule)] == ["/data/good"]
        assert (await store.load()).ttl_for("/data/good/x") == 3600
        await store.add_filter(FilterRule.parse("ok", "skipCache"))
        assert [r.pattern for r in await store.list_filters()] == ["ok"]

    run(tmp_path, scenario)
