"""`QuotaGate` with fakes: a load batch meets the quotas before it reaches its worker."""

from __future__ import annotations

import asyncio
from typing import Any

from ringcache.cluster.policies import QuotaRule
from ringcache.cluster.policies.gate import QuotaGate
from ringcache.cluster.policies.policy_set import PolicySet
from ringcache.cluster.results import FailureReason, FileOutcome, FileResult, loaded
from ringcache.cluster.ufs.mounts import MountPoint, MountTable

MOUNTS = MountTable([MountPoint("/data", "file:///srv/data")])
POLICIES = PolicySet(quotas=[QuotaRule.parse("/data", "100B", None, MOUNTS)], mounts=MOUNTS)
ROOTS = {rule.path: root for root, rule in POLICIES.quotas.by_ufs_uri.items()}


class Index:
    """The file index as the gate reads it: `used` bytes under each quota's root."""

    def __init__(self, used: int) -> None:
        self.used = used

    def usage_and_holdings(self, wanted: dict[str, list[str]]) -> tuple[dict, dict]:
        return {root: self.used for root in ROOTS.values()}, {worker: {} for worker in wanted}


class Worker:
    def __init__(self) -> None:
        self.sent: list[tuple[list, dict]] = []

    async def call(self, method: str, files: list, options: dict[str, Any]) -> list[FileResult]:
        self.sent.append((files, options))
        return [loaded(path, size) for path, size, *_ in files]


class Peers:
    def __init__(self) -> None:
        self.worker_ref = Worker()

    def worker(self, worker_id: str) -> Worker:
        return self.worker_ref


def test_a_file_past_a_quota_is_refused_and_never_sent() -> None:
    peers, admitted = Peers(), []

    async def rules() -> PolicySet:
        return POLICIES

    async def run_io(func: Any, *args: Any) -> Any:
        return func(*args)

    async def on_admitted(worker_id: str) -> None:
        admitted.append(worker_id)

    gate = QuotaGate(
        peers, Index(used=60), run_io, rules, lambda: ROOTS, on_admitted, revision=lambda: 7
    )
    files = [("file:///srv/data/a", 30, 1.0, None), ("file:///srv/data/b", 30, 1.0, None)]
    answers = asyncio.run(gate.worker("w1").call("load_batch", files, {"jobId": "j1"}))

    assert [a.status for a in answers] == [FileOutcome.LOADED, FileOutcome.FAILED]
    refused = answers[1]
    assert refused.reason == FailureReason.QUOTA_EXCEEDED
    assert refused.quota == {"path": "/data", "totalBytes": 100, "remaining": 10}
    assert peers.worker_ref.sent == [
        ([files[0]], {"jobId": "j1", "policyRevision": 7, "quotaChecked": True})
    ]
    assert admitted == ["w1"] and gate.busy_quotas() == set()


def test_other_calls_pass_through_untouched() -> None:
    peers = Peers()

    async def never(*args: Any) -> Any:
        raise AssertionError("the gate is not asked about other calls")

    gate = QuotaGate(peers, Index(used=0), never, never, lambda: ROOTS, never)
    files = [("file:///srv/data/a", 30, 1.0, None)]
    asyncio.run(gate.worker("w1").call("fetch_batch", files, {"jobId": "j1"}))
    assert peers.worker_ref.sent == [(files, {"jobId": "j1"})]


class EvictingWorker:
    """A worker over the fake index: `make_room` frees what it is asked, a batch adds its
    files' bytes once it has loaded (after a pause, so batches overlap)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.freed = 0

    async def call(self, method: str, *args: Any) -> Any:
        if method == "make_room":
            evict, _keep, _revision = args
            self.index.used -= sum(evict.values())
            self.freed += sum(evict.values())
            return sum(evict.values())
        files, _ = args
        await asyncio.sleep(0.01)
        self.index.used += sum(size for _, size, *_ in files)
        return [loaded(path, size) for path, size, *_ in files]


def test_batches_under_a_full_evict_quota_never_free_the_same_bytes_twice() -> None:
    index = Index(used=100)  # the quota's 100 bytes, all held
    evicting = PolicySet(quotas=[QuotaRule.parse("/data", "100B", "EVICT", MOUNTS)], mounts=MOUNTS)
    worker = EvictingWorker(index)
    peers = Peers()
    peers.worker_ref = worker

    async def rules() -> PolicySet:
        return evicting

    async def run_io(func: Any, *args: Any) -> Any:
        return func(*args)

    async def synced(worker_id: str) -> None:
        return None

    gate = QuotaGate(peers, index, run_io, rules, lambda: ROOTS, synced)

    async def main() -> None:
        batches = [
            [(f"file:///srv/data/{name}{i}", 10, 1.0, None) for i in range(3)] for name in "ab"
        ]
        answers = await asyncio.gather(
            *(
                gate.worker(w).call("load_batch", b, {})
                for w, b in zip(["w1", "w2"], batches, strict=True)
            )
        )
        assert all(a.status == FileOutcome.LOADED for batch in answers for a in batch)

    asyncio.run(main())
    assert worker.freed == 60 and index.used == 100
