"""`Reads`: hits from the page store, misses from the UFS, the rules on what may be kept."""

from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.policies import CacheRule, FilterRule, QuotaRule, TtlRule

from .fakes import PAGE, Parts


def test_a_miss_is_read_from_the_ufs_and_cached_then_hit(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(3 * PAGE + 10)
    uri = parts.write("a.bin", data)
    run(parts.mounts.refresh())
    assert run(parts.read("/data/a.bin", PAGE - 5, 20)) == data[PAGE - 5 : PAGE + 15]
    assert parts.counters == {
        "hits": 0,
        "misses": 2,
        "bytesFromCache": 0,
        "bytesFromUfs": 2 * PAGE,
        "bytesServed": 20,
    }
    assert parts.store.file_info(uri).version.size == len(data)
    path = parts.replace("a.bin", b"x" * len(data))  # the UFS changed: cached still wins
    assert run(parts.read("/data/a.bin", PAGE - 5, 20)) == data[PAGE - 5 : PAGE + 15]
    assert parts.counters["hits"] == 2 and parts.counters["bytesFromCache"] == 20
    # A miss of the pages not read yet finds the local file changed: the copy is dropped and
    # the file read afresh, whole, never half of each.
    assert run(parts.read("/data/a.bin")) == b"x" * len(data)
    assert parts.counters["misses"] == 6
    assert parts.store.file_info(uri).version.mtime == path.stat().st_mtime


def test_reads_past_the_end_are_empty_and_ranges_clip(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(PAGE + 1)
    parts.write("a.bin", data)
    run(parts.mounts.refresh())
    assert run(parts.reads.read("/data/a.bin", 10 * PAGE, 5)) == b""
    assert run(parts.reads.read("/data/a.bin", PAGE - 1, 100)) == data[PAGE - 1 :]
    assert run(parts.reads.read("/data/a.bin", 3, 0)) == b""


def test_a_skip_cache_file_is_read_through_and_never_kept(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(2 * PAGE)
    uri = parts.write("scratch/a.bin", data)
    run(parts.mounts.refresh())
    run(parts.reads.read("/data/scratch/a.bin"))
    assert parts.store.file_info(uri) is not None
    parts.set_policies(filters=[FilterRule.parse(".*/scratch/.*", CacheRule.SKIP_CACHE.value)])
    assert run(parts.reads.read("/data/scratch/a.bin", 1, 5)) == data[1:6]
    assert parts.store.file_info(uri) is None  # cached before the rule: dropped
    assert parts.counters["misses"] == 3  # two pages, then one read through


def test_a_copy_past_its_ttl_is_read_again(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uri = parts.write("a.bin", os.urandom(100))
    parts.set_policies(ttls=[TtlRule.parse("/data", "1m", parts.table())])
    run(parts.mounts.refresh())
    run(parts.read("/data/a.bin"))
    first = parts.store.file_info(uri).cached_at
    parts.clock.time += 30
    run(parts.read("/data/a.bin"))
    assert parts.counters["misses"] == 1  # fresh: a hit
    parts.clock.time += 31
    run(parts.read("/data/a.bin"))
    assert parts.counters["misses"] == 2  # expired: read from the UFS again
    assert parts.store.file_info(uri).cached_at > first


def test_a_miss_over_its_quota_is_served_but_not_kept(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    small = parts.write("q/small.bin", os.urandom(500))
    big = parts.write("q/big.bin", os.urandom(3 * PAGE))
    parts.set_policies(quotas=[QuotaRule.parse("/data/q", "2KB", None, parts.table())])
    run(parts.mounts.refresh())
    assert len(run(parts.reads.read("/data/q/small.bin"))) == 500
    assert len(run(parts.reads.read("/data/q/big.bin"))) == 3 * PAGE
    assert parts.store.file_info(small) is not None
    assert parts.store.file_info(big) is None


def test_a_changed_file_that_may_not_be_kept_leaves_no_copy_of_its_old_version(
    tmp_path: Path, run
) -> None:
    # Read afresh but refused by a quota now: its old pages are dropped all the same, so a
    # later read of them is not the old version beside the new.
    parts = Parts(tmp_path)
    old, new = os.urandom(4 * PAGE), os.urandom(4 * PAGE)
    uri = parts.write("q/a.bin", old)
    run(parts.mounts.refresh())
    assert run(parts.read("/data/q/a.bin", 0, 2 * PAGE)) == old[: 2 * PAGE]
    assert parts.store.file_info(uri).cached_bytes == 2 * PAGE
    parts.set_policies(quotas=[QuotaRule.parse("/data/q", "1KB", None, parts.table())])
    parts.replace("q/a.bin", new)
    assert run(parts.read("/data/q/a.bin", 2 * PAGE, 2 * PAGE)) == new[2 * PAGE :]
    assert parts.store.file_info(uri) is None
    assert run(parts.read("/data/q/a.bin", 0, 2 * PAGE)) == new[: 2 * PAGE]
