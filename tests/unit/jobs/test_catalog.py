"""The kind registry: a kind's counters, selection, view and 409 rule in the job manager come
from its one entry in `JOB_KINDS` (shown with `warm`, a kind made up for tests; its REST
route and CLI subcommand are tested with the http and cli packages)."""

from __future__ import annotations

import asyncio
import random

import pytest

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.environment import Environment
from ringcache.cluster.errors import Conflict, InvalidArgument
from ringcache.cluster.jobs.catalog import JOB_KINDS, JobKind, job_kind
from ringcache.cluster.jobs.manager import JobManager
from ringcache.cluster.jobs.selection import FilesSelection
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import Registry
from ringcache.cluster.registry.memory_backend import MemoryBackend
from ringcache.cluster.ufs.mounts import MountPoint, MountTable
from tests.unit.jobs.warm_kind import WarmRun, register_warm


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> JobKind:
    return register_warm(monkeypatch)


def run_manager(scenario) -> None:
    """Run `scenario(manager)` over a job manager on a memory registry, one live worker."""

    async def go() -> None:
        clock = ManualClock()
        registry = LocalRef(Registry(MemoryBackend(), clock), asyncio.get_running_loop())
        env = Environment(clock=clock, random=random.Random(1))

        async def mounts() -> MountTable:
            return MountTable([MountPoint("/data", "file:///srv/data")])

        manager = JobManager(registry, None, env, lambda: (None, {"w1"}), mounts, lease_ttl=1)
        try:
            await scenario(manager)
        finally:
            await manager.stop_all()

    asyncio.run(go())


async def settled(manager: JobManager) -> None:
    await asyncio.gather(*list(manager.tasks.values()))


def test_every_kind_names_its_counters_and_can_be_found_by_id() -> None:
    assert set(JOB_KINDS) >= {"load", "free", "rebalance"}
    for name, kind in JOB_KINDS.items():
        assert kind.name == name and job_kind(name) is kind
        assert kind.selectors[-1] == "id"
        assert "scannedFiles" in kind.counters and "failedFiles" in kind.counters
    with pytest.raises(InvalidArgument, match="unknown job type 'warm'"):
        job_kind("warm")


def test_a_record_and_its_view_carry_the_kinds_counters_in_order(warm: JobKind) -> None:
    async def scenario(manager: JobManager) -> None:
        submitted = await manager.submit("warm", {"target": "w1"})
        assert submitted["type"] == "warm" and submitted["target"] == "w1"
        await settled(manager)
        view = await manager.get("warm", "target", "w1")
        assert [key for key in view if key.startswith(("warmed", "scanned", "failed"))] == list(
            warm.counters
        )
        assert (view["state"], view["warmedFiles"], view["warmth"]) == ("SUCCEEDED", 3, "HOT")
        assert [job["id"] for job in await manager.list("warm")] == [view["id"]]

    run_manager(scenario)


def test_the_kinds_selection_checks_a_submission(warm: JobKind) -> None:
    async def scenario(manager: JobManager) -> None:
        with pytest.raises(InvalidArgument, match="not a live worker"):
            await manager.submit("warm", {"target": "w9"})
        with pytest.raises(InvalidArgument, match="invalid options"):
            await manager.submit("warm", {"target": "w1", "options": {"replicas": 2}})
        assert manager.runs == {}

    run_manager(scenario)


@pytest.mark.parametrize("rerun_failed", [True, False])
def test_the_409_rule_for_a_failed_job_is_the_kinds(
    monkeypatch: pytest.MonkeyPatch, rerun_failed: bool
) -> None:
    register_warm(monkeypatch, rerun_failed)

    async def scenario(manager: JobManager) -> None:
        WarmRun.fail_next = True
        await manager.submit("warm", {"target": "w1"})
        await settled(manager)
        assert (await manager.get("warm", "target", "w1"))["state"] == "FAILED"
        with pytest.raises(Conflict) as conflict:
            await manager.submit("warm", {"target": "w1"})
        await settled(manager)
        view = await manager.get("warm", "target", "w1")
        # Run again from the start, or resumed with what it had counted.
        assert view["warmedFiles"] == (3 if rerun_failed else 6)
        assert ("runs again" in conflict.value.message) is rerun_failed

    run_manager(scenario)


def test_the_files_selection_names_a_job_by_index_or_alias() -> None:
    selection = FilesSelection()
    assert selection.key(selection.parse({"index": "/data/list"}, set())) == ("index", "/data/list")
    fields = selection.parse({"paths": ["/data/a"], "alias": "a"}, set())
    assert (fields, selection.key(fields)) == ({"paths": ["/data/a"], "alias": "a"}, ("alias", "a"))
    for body in ({"index": "/i", "alias": "a"}, {"paths": ["/a"]}, {"paths": [], "alias": "a"}):
        with pytest.raises(InvalidArgument):
            selection.parse(body, set())
