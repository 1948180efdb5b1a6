"""`QuotaAdmission`: bytes admitted against published usage plus this worker's growth;
eviction under a quota, least recently used first."""

from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.policies import QuotaRule

from .fakes import PAGE, Parts


def _quota(parts: Parts, size: str, action: str | None = None) -> None:
    parts.set_policies(quotas=[QuotaRule.parse("/data/q", size, action, parts.table())])


def test_admission_counts_published_usage_and_growth_since(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    _quota(parts, "10KB")
    policies, uri = parts.rules.policies, parts.uri("q/a.bin")
    parts.rules.usage = {"/data/q": 6000}
    parts.rules.usage_as_of = parts.clock.now()
    assert parts.quota.admit(uri, 3000, policies).allowed  # 9,000 of 10,000
    refused = parts.quota.admit(uri, 2000, policies)  # 11,000: over
    assert not refused.allowed and refused.used == 9000
    assert parts.quota.admit(parts.uri("other.bin"), 10**9, policies).allowed  # no quota
    parts.clock.time += 1
    parts.rules.usage = {"/data/q": 9000}  # the next publish counts our 3,000
    parts.rules.usage_as_of = parts.clock.now()
    parts.quota.usage_published()
    assert parts.quota.admit(uri, 1000, policies).allowed
    assert not parts.quota.admit(uri, 1, policies).allowed


def test_evict_quotas_make_room_least_recently_used_first(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uris = [parts.write(f"q/f{i}.bin", os.urandom(PAGE)) for i in range(4)]
    run(parts.mounts.refresh())
    for uri in uris:
        parts.clock.time += 1  # each loaded later than the one before
        run(parts.loads.load_batch([uri]))
    parts.clock.time += 1
    run(parts.reads.read("/data/q/f0.bin"))  # f0 is now the most recently used
    _quota(parts, "4KiB", "EVICT")
    oldest = run(parts.quota.lru_under(parts.uri("q"), PAGE + 1))
    assert [row[0] for row in oldest] == uris[1:3]
    assert oldest[0][1] == PAGE
    freed = parts.quota.make_room({"/data/q": PAGE}, keep={uris[1]})
    assert freed == PAGE
    assert parts.store.file_info(uris[1]) is not None  # kept as asked
    assert parts.store.file_info(uris[2]) is None  # the next oldest went instead
    assert run(parts.quota.evict_files([uris[3], parts.uri("q/none")])) == PAGE
    assert [e["path"] for e in run(parts.holdings.list_all_cached())] == [uris[0], uris[1]]
