"""`PolicyUpkeep`: rules refreshed on each heartbeat, TTL scans when due, files moved to the
level their priority rule gives; and `IndexReports` of what changed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ringcache.cluster.policies import PolicyConfig, PriorityRule, TtlRule
from ringcache.cluster.policies.watch import PolicyChange
from ringcache.cluster.worker.upkeep import PolicyUpkeep

from .fakes import PAGE, WORKER_A, Parts, inline_io


class Watch:
    """A `PolicyWatch` whose next `poll` finds the policies the test sets."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.config = PolicyConfig()
        self.next_policies = parts.rules.policies
        self.polls = 0
        self.seen_revision = 10

    @property
    def policies(self):
        return self.parts.rules.policies

    async def load(self, mounts) -> None:
        self.parts.rules.policies = self.next_policies

    async def poll(self, mounts) -> PolicyChange:
        self.polls += 1
        self.seen_revision += 1
        changed = self.next_policies is not self.parts.rules.policies
        self.parts.rules.policies = self.next_policies
        return PolicyChange(rules=changed)


def _upkeep(parts: Parts) -> tuple[PolicyUpkeep, Watch]:
    watch = Watch(parts)
    upkeep = PolicyUpkeep(
        WORKER_A, parts.store, watch, parts.mounts, parts.quota, parts.clock, inline_io
    )
    return upkeep, watch


def test_a_rule_change_moves_cached_files_to_their_new_level(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uris = [parts.write(f"low/f{i}.bin", os.urandom(PAGE)) for i in range(3)]
    run(parts.mounts.refresh())
    run(parts.loads.load_batch(uris))
    upkeep, watch = _upkeep(parts)

    async def beat() -> None:
        await upkeep.refresh()
        await asyncio.sleep(0.01)  # the move runs as a task

    run(beat())
    assert {parts.store.file_info(uri).priority for uri in uris} == {"MEDIUM"}
    watch.next_policies = type(parts.rules.policies)(
        priorities=[PriorityRule.parse("/data/low", "LOW", parts.table())], mounts=parts.table()
    )
    run(beat())
    assert {parts.store.file_info(uri).priority for uri in uris} == {"LOW"}
    assert upkeep.relevel() == 0  # nothing left to move


def test_a_batch_of_newer_rules_refreshes_them_first(tmp_path: Path, run) -> None:
    upkeep, watch = _upkeep(Parts(tmp_path))
    run(upkeep.catch_up(10))  # as new as the rules here: no registry call
    assert watch.polls == 0
    run(upkeep.catch_up(11))
    assert (watch.polls, watch.seen_revision) == (1, 11)


def test_the_ttl_scan_drops_expired_files_when_due(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    old, new = parts.write("old.bin", os.urandom(10)), parts.write("new.bin", os.urandom(10))
    run(parts.mounts.refresh())
    run(parts.loads.load_batch([old]))
    parts.clock.time += 50
    run(parts.loads.load_batch([new]))
    upkeep, watch = _upkeep(parts)
    watch.next_policies = type(parts.rules.policies)(
        ttls=[TtlRule.parse("/data", "1m", parts.table())], mounts=parts.table()
    )

    async def start_then_beat(seconds: float) -> None:
        await upkeep.load()
        upkeep.begin()
        parts.clock.time += seconds
        await upkeep.refresh()
        await asyncio.sleep(0.01)

    run(start_then_beat(1))  # the first scan is an interval away: nothing dropped yet
    assert parts.store.file_info(old) is not None
    run(start_then_beat(watch.config.ttl.scan_interval + 11))  # due: `old` is 72 s old, `new` 22 s
    assert parts.store.file_info(old) is None
    assert parts.store.file_info(new) is not None
    upkeep.stop()


def test_index_reports_say_what_changed_and_start_with_everything(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    a, b = parts.write("a.bin", os.urandom(PAGE)), parts.write("b.bin", os.urandom(5))
    run(parts.mounts.refresh())
    run(parts.loads.load_batch([a]))
    run(parts.index_reports.drain(None))  # reported, not yet acknowledged
    run(parts.index_reports.report_everything())
    first = run(parts.index_reports.drain(None))
    assert first["full"] and not first["more"]
    version = parts.store.file_info(a).version
    assert first["files"] == [[a, *version, PAGE]]
    run(parts.loads.load_batch([b]))
    run(parts.holdings.free_batch([a]))
    second = run(parts.index_reports.drain(first["token"], limit=1))
    assert not second["full"] and second["more"]
    third = run(parts.index_reports.drain(second["token"]))
    assert [second["files"][0][0], third["files"][0][0]] == [b, a]
    assert third["files"][0] == [a]  # dropped
