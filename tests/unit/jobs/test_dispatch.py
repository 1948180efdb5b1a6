"""`Dispatcher`: each file of an attempt answered once, whatever its workers do."""

from __future__ import annotations

import asyncio
from typing import Any

from ringcache.cluster.jobs.dispatch import Dispatcher
from ringcache.cluster.jobs.work import FreeWork, LoadWork
from ringcache.cluster.results import FileResult, freed, loaded
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ufs.filesystem import FileStatus

WORKERS = [f"worker-00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3)]
FILES = [FileStatus(f"file:///srv/data/f{i}", 10, 1.0, None) for i in range(20)]


class Peers:
    """Workers that answer each file LOADED (or FREED); `down` ones raise."""

    def __init__(self, down: set[str] = frozenset()) -> None:
        self.down = down
        self.calls: list[tuple[str, int]] = []

    def worker(self, worker_id: str) -> Any:
        peers = self

        class Ref:
            async def call(self, method: str, files: list, *rest: Any) -> list[FileResult]:
                peers.calls.append((worker_id, len(files)))
                if worker_id in peers.down:
                    raise ConnectionError("gone")
                if method == "free_batch":
                    return [freed(path, 4) for path in files]
                return [loaded(f.path, f.size) for f in files]

        return Ref()


def attempt(peers: Peers, work: Any, live: set[str], noted: list | None = None) -> list:
    ring = HashRing(WORKERS, virtual_nodes=50)

    async def on_results(worker_ids: list[str]) -> None:
        if noted is not None:
            noted.append(worker_ids)

    async def go() -> list:
        dispatcher = Dispatcher(peers, lambda: (ring, live), batch_size=3, on_results=on_results)
        return [pair async for answered in dispatcher.attempt(work, FILES) for pair in answered]

    return asyncio.run(go())


def test_every_file_is_answered_once_in_batches_and_the_index_is_told() -> None:
    peers, noted = Peers(), []
    answers = attempt(peers, LoadWork({"replicas": 2}, "j1"), set(WORKERS), noted)
    assert sorted(status.path for status, _ in answers) == sorted(f.path for f in FILES)
    assert {outcome.status for _, outcome in answers} == {"LOADED"}
    assert sum(count for _, count in peers.calls) == 2 * len(FILES)  # two owners each
    assert all(count <= 3 for _, count in peers.calls)
    assert noted == [sorted({worker for worker, _ in peers.calls})]


def test_a_worker_off_the_ring_or_failing_fails_its_files_with_the_reason() -> None:
    left, broken = WORKERS[0], WORKERS[1]
    answers = attempt(Peers(down={broken}), LoadWork({}, "j1"), {broken, WORKERS[2]})
    ring = HashRing(WORKERS, virtual_nodes=50)
    for status, outcome in answers:
        owner = ring.owners(status.path, 1)[0]
        expected = {left: "MEMBERSHIP_CHANGED", broken: "WORKER_FAILED"}.get(owner, "")
        assert outcome.reason == expected


def test_with_no_live_worker_loads_fail_and_a_free_finds_nothing_cached() -> None:
    answers = attempt(Peers(), LoadWork({}, "j1"), set())  # the ring not yet updated
    assert len(answers) == len(FILES)
    assert {outcome.reason for _, outcome in answers} == {"MEMBERSHIP_CHANGED"}
    freeing = attempt(Peers(), FreeWork({}, "j1"), set())
    assert {outcome.status for _, outcome in freeing} == {"NOT_CACHED"}
    freed_all = attempt(Peers(), FreeWork({}, "j1"), set(WORKERS))
    assert {(outcome.status, outcome.bytes) for _, outcome in freed_all} == {("FREED", 12)}
