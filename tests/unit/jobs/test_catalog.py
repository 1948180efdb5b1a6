"""The kind registry: a kind's REST route, CLI subcommand, counters and 409 rule come from
its one entry in `JOB_KINDS` (shown with a kind made up here, `warm`)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from starlette.testclient import TestClient

from ringcache.cli import rest
from ringcache.cli.main import main
from ringcache.cluster.clock import ManualClock
from ringcache.cluster.environment import Environment
from ringcache.cluster.errors import Conflict, InvalidArgument
from ringcache.cluster.jobs.catalog import JOB_KINDS, CliFlag, CliVerb, JobKind, job_kind
from ringcache.cluster.jobs.manager import JobManager
from ringcache.cluster.jobs.model import JobRecord, JobState
from ringcache.cluster.jobs.options import FreeOptions
from ringcache.cluster.jobs.runner import JobContext
from ringcache.cluster.jobs.selection import FilesSelection, TargetSelection
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import Registry
from ringcache.cluster.registry.memory_backend import MemoryBackend
from ringcache.cluster.ufs.mounts import MountPoint, MountTable
from ringcache.http.app import create_app


class WarmRun:
    """A run that warms three files, or fails once if told to, and records its end."""

    fail_next = False

    def __init__(self, record: JobRecord, context: JobContext) -> None:
        self.record = record
        self.store = context.store

    async def run(self) -> None:
        self.record.counters["warmedFiles"] += 3
        failing = WarmRun.fail_next
        WarmRun.fail_next = False
        self.record.state = JobState.FAILED if failing else JobState.SUCCEEDED
        await self.store.save(self.record)

    async def abandon(self) -> None:
        return None


def warm_kind(rerun_failed: bool = False) -> JobKind:
    return JobKind(
        name="warm",
        options=FreeOptions,
        counters=("scannedFiles", "warmedFiles", "warmedBytes", "failedFiles"),
        moved="warmedBytes",
        selection=TargetSelection(),
        run=WarmRun,
        rerun_failed=rerun_failed,
        extras=lambda record, failures: {"warmth": "HOT"},
        cli=CliVerb(
            help="warm a worker",
            flags=(
                CliFlag("--batch-size", "batchSize", "files per request", int),
                CliFlag("--hot", "temperature", "warm it hot", None, "HOT"),
            ),
            done=("warmedFiles",),
        ),
    )


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> JobKind:
    kind = warm_kind()
    monkeypatch.setitem(JOB_KINDS, "warm", kind)
    return kind


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
    monkeypatch.setitem(JOB_KINDS, "warm", warm_kind(rerun_failed))

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


class FakeCoordinator:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def call(self, method: str, *args: Any) -> Any:
        self.calls.append((method, *args))
        return {"results": []} if method == "list_jobs" else {"id": "j1", "state": "RUNNING"}


def test_each_kind_has_its_route_over_its_selectors(warm: JobKind) -> None:
    coordinator = FakeCoordinator()
    api = TestClient(create_app(coordinator), base_url="http://test/api/v1")
    assert api.get("/warm", params={"target": "w1"}).status_code == 200
    assert api.post("/warm", json={"target": "w1"}).status_code == 200
    assert api.request("DELETE", "/warm", json={"id": "j1"}).status_code == 200
    assert api.get("/warm", params={"alias": "a"}).status_code == 200  # not a selector: a list
    assert api.request("DELETE", "/warm", json={"alias": "a"}).status_code == 400
    assert coordinator.calls == [
        ("get_job", "warm", "target", "w1"),
        ("submit_job", "warm", {"target": "w1"}),
        ("stop_job", "warm", "id", "j1"),
        ("list_jobs", "warm", None, None),
    ]


def test_each_kind_with_a_verb_is_a_cli_subcommand_with_its_flags(
    warm: JobKind, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    asked: list[tuple] = []

    def request(args: Any, method: str, path: str, **kwargs: Any) -> dict:
        asked.append((method, path, kwargs.get("json")))
        return {"id": "j1", "state": "SUCCEEDED"}

    monkeypatch.setattr(rest, "request", request)
    assert main(["warm", "/data/a", "--alias", "a", "--batch-size", "0", "--hot"]) == 0
    body = {"alias": "a", "paths": ["/data/a"], "options": {"batchSize": 0, "temperature": "HOT"}}
    assert asked == [("POST", "/warm", body)]
    assert json.loads(capsys.readouterr().out)["id"] == "j1"
    assert main(["load", "/data/a", "--alias", "a"]) == 0  # the flags a kind has not: none
    assert asked[-1] == ("POST", "/load", {"alias": "a", "paths": ["/data/a"], "options": {}})
    with pytest.raises(SystemExit):
        main(["rebalance", "ALL"])  # a kind without a verb is no subcommand


def test_the_files_selection_names_a_job_by_index_or_alias() -> None:
    selection = FilesSelection()
    assert selection.key(selection.parse({"index": "/data/list"}, set())) == ("index", "/data/list")
    fields = selection.parse({"paths": ["/data/a"], "alias": "a"}, set())
    assert (fields, selection.key(fields)) == ({"paths": ["/data/a"], "alias": "a"}, ("alias", "a"))
    for body in ({"index": "/i", "alias": "a"}, {"paths": ["/a"]}, {"paths": [], "alias": "a"}):
        with pytest.raises(InvalidArgument):
            selection.parse(body, set())
