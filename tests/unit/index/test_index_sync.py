"""The enforcer's file index sync: many workers' reports in one transaction, and a worker
that fails (unreachable, a bad report) never keeps the others' reports out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ringcache.cluster.clock import ManualClock
from ringcache.cluster.environment import Environment
from ringcache.cluster.index.file_index import FileIndex
from ringcache.cluster.policies import PolicyConfig
from ringcache.cluster.policies.enforcer import PolicyEnforcer
from ringcache.cluster.refs import LocalRef
from ringcache.cluster.registry import open_registry


class ReportingWorker:
    """A worker as the enforcer sees it: `drain_index_reports` answers its scripted reports
    in turn, each until the caller says it applied it (by its token), the last one forever."""

    def __init__(self, reports: list[dict[str, Any]] | Exception) -> None:
        self.reports = reports
        self.acked: list[int | None] = []  # the token each call said was applied

    async def call(self, method: str, *args: Any) -> dict[str, Any]:
        assert method == "drain_index_reports"
        self.acked.append(args[0])
        if isinstance(self.reports, Exception):
            raise self.reports
        if len(self.reports) > 1 and args[0] == self.reports[0]["token"]:
            self.reports.pop(0)
        return self.reports[0]


class Peers:
    def __init__(self, workers: dict[str, ReportingWorker]) -> None:
        self.workers = workers

    def worker(self, worker_id: str) -> ReportingWorker:
        return self.workers[worker_id]


def report(token: int, *files: list[Any], more: bool = False) -> dict[str, Any]:
    return {"token": token, "full": False, "more": more, "files": list(files)}


def held(path: str, size: int = 10) -> list[Any]:
    return [f"file:///srv/{path}", size, 1.0, None, size]


def sync(tmp_path: Path, workers: dict[str, ReportingWorker]) -> tuple[FileIndex, list[int]]:
    """Run `sync_workers` over `workers`; the index and the size of each `apply_reports`."""
    index = FileIndex()
    batches: list[int] = []
    apply_reports = index.apply_reports

    def counting(reports):
        reports = list(reports)
        batches.append(len(reports))
        return apply_reports(reports)

    index.apply_reports = counting  # type: ignore[method-assign]

    async def main() -> None:
        registry = open_registry(tmp_path, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            enforcer = PolicyEnforcer(
                PolicyConfig(), ref, Peers(workers), Environment(), index, set, 60.0
            )
            await enforcer.sync_workers(sorted(workers))
            await enforcer.sync_workers(sorted(workers))  # says which tokens were applied
        finally:
            registry.close()

    asyncio.run(main())
    return index, batches


def paths(index: FileIndex) -> dict[str, list[str]]:
    return {entry["path"]: entry["workers"] for entry in index.list()}


def test_the_reports_of_many_workers_go_in_together(tmp_path: Path) -> None:
    workers = {f"w{i}": ReportingWorker([report(7, held(f"f{i}")), report(8)]) for i in range(3)}
    index, batches = sync(tmp_path, workers)
    assert paths(index) == {f"file:///srv/f{i}": [f"w{i}"] for i in range(3)}
    assert batches == [3, 3]  # one transaction per sync of the three
    assert all(worker.acked == [None, 7] for worker in workers.values())


def test_groups_drained_one_after_another_share_a_transaction_up_to_a_bound(
    tmp_path: Path, monkeypatch
) -> None:
    from ringcache.cluster.policies import enforcer

    def workers() -> dict[str, ReportingWorker]:
        return {
            f"w{i:02d}": ReportingWorker([report(7, held(f"f{i}"), held(f"g{i}")), report(8)])
            for i in range(40)  # more than one group of SYNC_CONCURRENCY
        }

    assert enforcer.SYNC_CONCURRENCY < 40
    index, batches = sync(tmp_path, workers())
    assert batches == [40, 40] and len(paths(index)) == 80
    monkeypatch.setattr(enforcer, "APPLY_FILES", 64)  # two groups' files pass it
    monkeypatch.setattr(enforcer, "SYNC_CONCURRENCY", 16)
    index, batches = sync(tmp_path / "bounded", workers())
    assert batches == [32, 8, 40] and len(paths(index)) == 80


def test_an_unreachable_worker_keeps_no_one_else_out(tmp_path: Path) -> None:
    workers = {
        "a": ReportingWorker([report(1, held("a")), report(2)]),
        "b": ReportingWorker(ConnectionError("gone")),
        "c": ReportingWorker([report(5, held("c")), report(6)]),
    }
    index, _ = sync(tmp_path, workers)
    assert paths(index) == {"file:///srv/a": ["a"], "file:///srv/c": ["c"]}
    assert workers["a"].acked == [None, 1] and workers["c"].acked == [None, 5]
    assert workers["b"].acked == [None, None]


def test_a_bad_report_is_left_unacknowledged_and_the_others_applied(tmp_path: Path) -> None:
    bad = ["file:///srv/bad", -1, None, None, 0]  # a negative length
    workers = {
        "a": ReportingWorker([report(1, held("a")), report(2)]),
        "b": ReportingWorker([report(4, bad)]),
    }
    index, _ = sync(tmp_path, workers)
    assert paths(index) == {"file:///srv/a": ["a"]}
    assert workers["a"].acked[-1] == 1
    assert set(workers["b"].acked) == {None}  # it sends the report again each time


def test_a_worker_with_more_to_report_is_drained_to_the_end(tmp_path: Path) -> None:
    workers = {
        "a": ReportingWorker([report(1, held("a1"), more=True), report(2, held("a2")), report(3)]),
        "b": ReportingWorker([report(9, held("b")), report(10)]),
    }
    index, _ = sync(tmp_path, workers)
    assert sorted(paths(index)) == ["file:///srv/a1", "file:///srv/a2", "file:///srv/b"]
    assert workers["a"].acked == [None, 1, 2] and workers["b"].acked == [None, 9]


def test_a_cancelled_sync_lets_go_of_every_worker(tmp_path: Path) -> None:
    workers = {name: ReportingWorker([report(1, held(name))]) for name in ("a", "b")}

    async def main() -> None:
        registry = open_registry(tmp_path, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            enforcer = PolicyEnforcer(
                PolicyConfig(), ref, Peers(workers), Environment(), FileIndex(), set, 60.0
            )
            await enforcer._syncing["b"].acquire()  # another sync of b is under way
            task = asyncio.create_task(enforcer.sync_workers(["a", "b"]))
            await asyncio.sleep(0.05)  # it holds a and waits for b
            assert enforcer._syncing["a"].locked()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert not enforcer._syncing["a"].locked()
            enforcer._syncing["b"].release()
            assert await asyncio.wait_for(enforcer.sync_worker("a"), 1.0)
        finally:
            registry.close()

    asyncio.run(main())


def test_a_pass_without_quotas_reads_no_usage_from_the_index(tmp_path: Path) -> None:
    index = FileIndex()
    reads: list[str] = []
    usage = index.usage

    def counted() -> dict[str, int]:
        reads.append("usage")
        return usage()

    index.usage = counted  # type: ignore[method-assign]

    async def main() -> dict[str, int]:
        registry = open_registry(tmp_path, ManualClock())
        try:
            ref = LocalRef(registry, asyncio.get_running_loop())
            worker = ReportingWorker([report(1, held("a"))])
            enforcer = PolicyEnforcer(
                PolicyConfig(),
                ref,
                Peers({"w1": worker}),
                Environment(),
                index,
                lambda: {"w1"},
                60.0,
            )
            await enforcer.run_pass()
            return await enforcer.usage_by_quota()
        finally:
            registry.close()

    assert asyncio.run(main()) == {}
    assert reads == []  # nothing to count: the index is not asked
    assert index.holders("file:///srv/a") == ["w1"]  # the pass did sync the worker
