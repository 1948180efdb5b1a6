"""Policy rules (validation of what users write) and `PolicySet` (the per-file answers)."""

from __future__ import annotations

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.policies import (
    DEFAULT_FILTER,
    CacheRule,
    FilterRule,
    PolicyConfig,
    PolicySet,
    PriorityRule,
    QuotaAction,
    QuotaRule,
    TtlRule,
)
from ringcache.cluster.policies.policy_set import lineage
from ringcache.cluster.ufs.mounts import MountPoint, MountTable

MOUNTS = MountTable(
    [MountPoint("/data", "file:///srv/data"), MountPoint("/lake", "s3://bucket/lake")]
)


# -- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/data/train", "/data/train"),
        ("/data//train/", "/data/train"),
        ("/data/x/../train", "/data/train"),
        ("/data", "/data"),
        ("file:///srv/data/train", "/data/train"),
        ("s3://bucket/lake/t1", "/lake/t1"),
    ],
)
def test_rule_paths_are_normalized_cluster_paths(given: str, kept: str) -> None:
    assert TtlRule.parse(given, "1h", MOUNTS).path == kept


@pytest.mark.parametrize(
    "bad", ["/other/x", "/", "/database", "data/train", "/data/../../etc", "file:///etc/x", 5]
)
def test_rule_paths_outside_every_mount_are_rejected_by_name(bad: object) -> None:
    with pytest.raises(InvalidArgument) as caught:
        QuotaRule.parse(bad, "1GB", None, MOUNTS)
    assert str(bad) in caught.value.message


# -- quota, TTL, priority ------------------------------------------------------------------


def test_quota_sizes_and_actions() -> None:
    quota = QuotaRule.parse("/data/train", "10GB", None, MOUNTS)
    assert (quota.size, quota.size_bytes, quota.action) == ("10GB", 10**10, QuotaAction.DEFAULT)
    assert QuotaRule.parse("/data", "10GiB", "EVICT", MOUNTS).size_bytes == 10 * 1024**3
    assert QuotaRule.parse("/data", 1000, "DEFAULT", MOUNTS).record() == {
        "path": "/data",
        "size": "1000B",
        "sizeBytes": 1000,
        "action": "DEFAULT",
    }
    assert QuotaRule.from_record(quota.record()) == quota


@pytest.mark.parametrize(
    ("size", "action"),
    [("-1", None), ("-1GB", None), (-5, None), ("ten", None), (True, None), (None, None),
     (1.5e3, None), ("1GB", "evict"), ("1GB", "SOMETIMES"), ("1GB", 3)],
)  # fmt: skip
def test_malformed_quotas_are_invalid(size: object, action: object) -> None:
    with pytest.raises(InvalidArgument):
        QuotaRule.parse("/data", size, action, MOUNTS)


def test_ttl_durations() -> None:
    assert TtlRule.parse("/data", "1h", MOUNTS).record() == {
        "path": "/data",
        "time": "1h",
        "seconds": 3600,
    }
    assert TtlRule.parse("/data", "500ms", MOUNTS).seconds == 0.5
    assert TtlRule.parse("/data", 90, MOUNTS).time == "90s"
    rule = TtlRule.parse("/data/tmp", "2d", MOUNTS)
    assert TtlRule.from_record(rule.record()) == rule


@pytest.mark.parametrize("time", [0, "0s", "0ms", "-5s", -5, "soon", "5 weeks", True, None])
def test_malformed_or_zero_ttls_are_invalid(time: object) -> None:
    with pytest.raises(InvalidArgument):
        TtlRule.parse("/data", time, MOUNTS)


def test_priorities() -> None:
    for level in ("HIGH", "MEDIUM", "LOW"):
        assert PriorityRule.parse("/data", level, MOUNTS).priority == level
    for bad in ("high", "URGENT", "", 1, None):
        with pytest.raises(InvalidArgument) as caught:
            PriorityRule.parse("/data", bad, MOUNTS)
        assert "HIGH, MEDIUM, LOW" in caught.value.message


# -- cache filter --------------------------------------------------------------------------


def test_filter_rules_and_their_records() -> None:
    skip = FilterRule.parse(".*/tmp/.*", "skipCache")
    assert skip.record() == {"pattern": ".*/tmp/.*", "rule": "skipCache"}
    age = FilterRule.parse(".*/tables/.*", "maxAge", "10s")
    assert age.record() == {"pattern": ".*/tables/.*", "rule": "maxAge", "time": "10s"}
    assert age.seconds == 10
    assert FilterRule.parse("x", "maxAge", 0).seconds == 0  # revalidate on every read
    assert FilterRule.parse_default("immutable") == DEFAULT_FILTER
    assert DEFAULT_FILTER.record() == {"rule": "immutable"}
    assert FilterRule.from_record(age.record()) == age
    assert FilterRule.from_record({"rule": "maxAge", "time": "1m"}).seconds == 60


@pytest.mark.parametrize(
    ("pattern", "rule", "time"),
    [
        ("(", "skipCache", None),  # does not compile
        ("[a-", "immutable", None),
        ("", "skipCache", None),
        (None, "skipCache", None),
        (".*", "maxAge", None),  # maxAge needs a time
        (".*", "maxAge", "soon"),
        (".*", "maxAge", "-1s"),
        (".*", "skipCache", "10s"),  # a time would be silently meaningless
        (".*", "immutable", 5),
        (".*", "maxage", "10s"),
        (".*", "neverCache", None),
        (".*", None, None),
    ],
)
def test_malformed_filter_rules_are_invalid(pattern: object, rule: object, time: object) -> None:
    with pytest.raises(InvalidArgument):
        FilterRule.parse(pattern, rule, time)


@pytest.mark.parametrize(("rule", "time"), [("maxAge", None), ("skipCache", "1s"), ("x", None)])
def test_malformed_default_rules_are_invalid(rule: object, time: object) -> None:
    with pytest.raises(InvalidArgument):
        FilterRule.parse_default(rule, time)


# -- PolicySet -----------------------------------------------------------------------------


def ttl(path: str, time: str) -> TtlRule:
    return TtlRule.parse(path, time, MOUNTS)


def test_most_specific_ttl_wins_in_both_path_forms() -> None:
    policies = PolicySet(ttls=[ttl("/data", "1d"), ttl("/data/train", "1h")], mounts=MOUNTS)
    assert policies.ttl_for("/data/train/a.bin") == 3600
    assert policies.ttl_for("/data/train") == 3600
    assert policies.ttl_for("/data/test/a.bin") == 86400
    assert policies.ttl_for("/data") == 86400
    assert policies.ttl_for("file:///srv/data/train/a.bin") == 3600
    assert policies.ttl_for("file:///srv/data/test/a.bin") == 86400
    assert policies.ttl_for("/lake/a") is None
    assert policies.ttl_for("s3://bucket/lake/a") is None
    assert policies.ttl_for("file:///srv/other") is None


def test_a_rule_covers_its_subtree_on_segment_boundaries_only() -> None:
    policies = PolicySet(ttls=[ttl("/data/tr", "1h")], mounts=MOUNTS)
    assert policies.ttl_for("/data/tr/x") == 3600
    assert policies.ttl_for("/data/train/x") is None
    assert policies.ttl_for("file:///srv/data/train/x") is None


def test_priority_defaults_to_medium_and_most_specific_wins() -> None:
    rules = [PriorityRule.parse(p, level, MOUNTS) for p, level in [("/data", "LOW"),
             ("/data/gold", "HIGH"), ("/data/gold/scratch", "LOW")]]  # fmt: skip
    policies = PolicySet(priorities=rules, mounts=MOUNTS)
    assert policies.priority_for("/lake/x") == "MEDIUM"
    assert policies.priority_for("/data/x") == "LOW"
    assert policies.priority_for("/data/gold/x") == "HIGH"
    assert policies.priority_for("file:///srv/data/gold/scratch/x") == "LOW"


def test_nested_quotas_all_count_innermost_first() -> None:
    quotas = [QuotaRule.parse(p, size, None, MOUNTS) for p, size in
              [("/data", "10GB"), ("/data/train", "1GB"), ("/data/train/big", "500MB"),
               ("/data/test", "2GB")]]  # fmt: skip
    policies = PolicySet(quotas=quotas, mounts=MOUNTS)
    found = policies.quotas_for("/data/train/a.bin")
    assert [q.path for q in found] == ["/data/train", "/data"]
    assert [q.path for q in policies.quotas_for("file:///srv/data/train/big/x")] == [
        "/data/train/big",
        "/data/train",
        "/data",
    ]
    assert policies.quotas_for("/lake/x") == []


def test_cache_filter_first_full_match_in_order_added_else_default() -> None:
    filters = [
        FilterRule.parse(".*/tmp/.*", "skipCache"),
        FilterRule.parse(".*/tables/.*", "maxAge", "10s"),
        FilterRule.parse(".*/tables/tmp/.*", "immutable"),  # shadowed by the first rule
        FilterRule.parse("tables", "skipCache"),  # only a full match counts
    ]
    policies = PolicySet(filters=filters, mounts=MOUNTS)
    assert policies.cache_rule_for("file:///srv/data/tmp/a") == (CacheRule.SKIP_CACHE, None)
    assert policies.cache_rule_for("file:///srv/data/tables/t") == (CacheRule.MAX_AGE, 10)
    assert policies.cache_rule_for("file:///srv/data/tables/tmp/x") == (CacheRule.SKIP_CACHE, None)
    assert policies.cache_rule_for("s3://bucket/lake/tables") == (CacheRule.IMMUTABLE, None)
    assert policies.cache_rule_for("/data/tables/t") == (CacheRule.MAX_AGE, 10)


def test_a_changed_default_rule_applies_when_nothing_matches() -> None:
    policies = PolicySet(
        filters=[FilterRule.parse(".*\\.parquet", "immutable")],
        default_filter=FilterRule.parse_default("maxAge", "5m"),
        mounts=MOUNTS,
    )
    assert policies.cache_rule_for("s3://bucket/lake/a.parquet") == (CacheRule.IMMUTABLE, None)
    assert policies.cache_rule_for("s3://bucket/lake/a.csv") == (CacheRule.MAX_AGE, 300)


def test_rules_under_no_mount_list_but_never_apply_to_uris() -> None:
    stale = ttl("/lake/old", "1h")
    policies = PolicySet(ttls=[stale], mounts=MountTable([MountPoint("/data", "file:///d")]))
    assert policies.ttls.rules == (stale,)
    assert policies.ttl_for("s3://bucket/lake/old/x") is None


def test_empty_set_answers_defaults() -> None:
    policies = PolicySet()
    assert policies.ttl_for("/data/x") is None
    assert policies.priority_for("/data/x") == "MEDIUM"
    assert policies.quotas_for("/data/x") == []
    assert policies.cache_rule_for("file:///x") == (CacheRule.IMMUTABLE, None)
    assert PolicyConfig().quota.enabled and PolicyConfig().ttl.scan_interval > 0


def test_any_flags_say_whether_a_rule_of_each_kind_can_apply() -> None:
    """The load path skips a question when its flag says no rule can answer it."""
    empty = PolicySet(mounts=MOUNTS)
    assert (empty.any_quota, empty.any_priority, empty.any_skip) == (False, False, False)
    ruled = PolicySet(
        quotas=[QuotaRule.parse("/data", "1GB", "DEFAULT", MOUNTS)],
        priorities=[PriorityRule.parse("/data", "HIGH", MOUNTS)],
        filters=[FilterRule.parse(".*/tmp/.*", "skipCache")],
        mounts=MOUNTS,
    )
    assert (ruled.any_quota, ruled.any_priority, ruled.any_skip) == (True, True, True)
    # Only rules that cache: nothing is skipped, unless the default rule skips.
    caching = [FilterRule.parse(".*\\.csv", "maxAge", "1m")]
    assert not PolicySet(filters=caching, mounts=MOUNTS).any_skip
    skipping = FilterRule.parse_default("skipCache", None)
    assert PolicySet(filters=caching, default_filter=skipping, mounts=MOUNTS).any_skip


@pytest.mark.parametrize(
    ("key", "chain"),
    [
        ("/a/b", ["/a/b", "/a", "/"]),
        ("/", ["/"]),
        ("file:///a/b", ["file:///a/b", "file:///a", "file:///"]),
        ("file:///", ["file:///"]),
        ("s3://bucket/a", ["s3://bucket/a", "s3://bucket", "s3://"]),
    ],
)
def test_lineage_walks_up_to_the_root(key: str, chain: list[str]) -> None:
    assert list(lineage(key)) == chain


def test_rules_on_a_mount_at_a_ufs_root_apply() -> None:
    mounts = MountTable([MountPoint("/root", "file:///")])
    policies = PolicySet(ttls=[TtlRule.parse("/root", "1h", mounts)], mounts=mounts)
    assert policies.ttl_for("file:///etc/hosts") == 3600
