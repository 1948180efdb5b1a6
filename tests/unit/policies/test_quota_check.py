"""`check_quotas`: the one quota decision the gate and the workers share."""

from __future__ import annotations

from ringcache.cluster.policies import QuotaAction, QuotaRule
from ringcache.cluster.policies.quota_check import QuotaGrowth, check_quotas, quota_failure
from ringcache.cluster.results import FailureReason, FileOutcome

INNER = QuotaRule("/data/a", "1000B", 1000)
OUTER = QuotaRule("/data", "3000B", 3000)


def by_path(usage: dict[str, int]):
    return lambda rule: usage[rule.path]


def evicting(rule: QuotaRule) -> QuotaRule:
    return QuotaRule(rule.path, rule.size, rule.size_bytes, QuotaAction.EVICT)


def test_within_every_quota_is_allowed_and_evicts_nothing() -> None:
    verdict = check_quotas([INNER, OUTER], by_path({"/data/a": 400, "/data": 2000}), 600)
    assert verdict.allowed and verdict.evict == {}


def test_a_default_quota_refuses_and_says_how_much_is_left() -> None:
    verdict = check_quotas([INNER, OUTER], by_path({"/data/a": 400, "/data": 400}), 601)
    assert verdict.refused == INNER and (verdict.used, verdict.needed) == (400, 601)
    failure = quota_failure("file:///srv/data/a/x", verdict)
    assert failure.reason == FailureReason.QUOTA_EXCEEDED and failure.status is FileOutcome.FAILED
    assert failure.quota == {"path": "/data/a", "totalBytes": 1000, "remaining": 600}
    assert "/data/a" in failure.message and "601" in failure.message


def test_an_outer_default_quota_refuses_even_if_the_inner_one_has_room() -> None:
    verdict = check_quotas([INNER, OUTER], by_path({"/data/a": 0, "/data": 2900}), 200)
    assert verdict.refused == OUTER


def test_an_evict_quota_makes_room_and_outer_quotas_count_that_room() -> None:
    usage = {"/data/a": 900, "/data": 2900}
    verdict = check_quotas([evicting(INNER), OUTER], by_path(usage), 300)
    # 200 bytes evicted under /data/a bring /data down to 2700: 300 more fit in 3000.
    assert verdict.allowed and verdict.evict == {"/data/a": 200}


def test_an_evict_quota_refuses_what_could_never_fit() -> None:
    verdict = check_quotas([evicting(INNER)], by_path({"/data/a": 0}), 1001)
    assert verdict.refused == evicting(INNER)


def test_nothing_needed_is_always_allowed() -> None:
    assert check_quotas([INNER], by_path({"/data/a": 5000}), 0).allowed


def test_growth_forgets_what_a_usage_published_later_already_counts() -> None:
    growth = QuotaGrowth()
    growth.add(10.0, "/data", 500)
    growth.add(11.0, "/data", 300)
    growth.add(11.5, "/data", -100)  # evicted here
    assert growth.total("/data") == 700
    growth.forget_before(11.0)  # a usage counted from 11.0 on has the first 500
    assert growth.total("/data") == 200
    growth.forget_before(None)
    assert growth.total("/data") == 0
