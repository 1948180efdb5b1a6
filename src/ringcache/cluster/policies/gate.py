"""`QuotaGate`: the jobs' way to the workers, where every load batch meets the quotas first.

Jobs reach workers only through `Peers`; the coordinator hands its job manager this gate
instead of the plain peers. Every call passes through untouched except `load_batch`, whose
files are checked against the cluster-wide quotas before the batch is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..environment import RunIo
from ..index.file_index import FileIndex
from ..refs import ActorRef, Peers
from .policy_set import PolicySet
from .quota_check import check_quotas, quota_failure
from .rules import CacheRule, QuotaRule

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Flight:
    """An admitted batch on its way: per file, its path, the bytes it may add, the bytes its
    worker held of it when admitted, and the quotas that count it."""

    worker_id: str
    files: list[tuple[str, int, int, tuple[str, ...]]] = field(default_factory=list)


class QuotaGate:
    """Peers for jobs: a load batch is admitted file by file against the quotas.

    Guarantees: admissions are serialized and count, besides the usage in the file index,
    what every admitted batch still in flight may yet add (its files' bytes minus what the
    index already shows of them), so concurrent batches of any number of jobs never admit
    past a quota together, and nothing is counted twice. A refused file is answered FAILED
    with QUOTA_EXCEEDED and the quota that refused it, and is never sent; under an EVICT
    quota its worker first makes the room (`make_room`) and the index learns of it before
    the next batch is admitted, so two batches never free the same bytes (what one worker
    cannot free, the enforcer's next pass evicts elsewhere). A file needs its size minus
    what the index says its worker holds of it, so loading cached data again is never
    refused. Every batch carries `policyRevision`, the revision of the rules it was
    admitted under, so its worker applies no older ones. Not gated: reads (workers check
    those) and files given without a size.
    """

    def __init__(
        self,
        peers: Peers,
        file_index: FileIndex,
        run_io: RunIo,
        rules: Callable[[], Awaitable[PolicySet]],
        quota_roots: Callable[[], dict[str, str]],
        on_admitted: Callable[[str], Awaitable[Any]],
        revision: Callable[[], int] = lambda: 0,
    ) -> None:
        """`rules` gives the rules in force for a batch; `quota_roots` the UFS root the
        index counts for each quota path; `on_admitted(worker_id)` brings the index up to
        date with what a worker's admitted batch cached; `revision()` the registry revision
        the rules `rules` last gave are current as of, which every batch carries."""
        self.peers = peers
        self.file_index = file_index
        self.run_io = run_io
        self.rules = rules
        self.quota_roots = quota_roots
        self.on_admitted = on_admitted
        self.revision = revision
        self._flights: list[_Flight] = []
        self._admitting = asyncio.Lock()

    def worker(self, worker_id: str) -> ActorRef:
        return GatedRef(self, worker_id, self.peers.worker(worker_id))

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No batch is admitted while this is held: the enforcer evicts under it, so an
        admission and an eviction never make the same room twice."""
        async with self._admitting:
            yield

    def busy_quotas(self) -> set[str]:
        """The quota paths that admitted batches in flight are counted under (and may be
        making room under, for EVICT quotas)."""
        return {path for flight in self._flights for *_, paths in flight.files for path in paths}

    async def load_batch(
        self, worker_id: str, ref: ActorRef, files: list[Any], options: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        policies = await self.rules()
        options = {**(options or {}), "policyRevision": self.revision()}
        if not policies.quotas.rules or any(isinstance(entry, str) for entry in files):
            return await ref.call("load_batch", files, options)
        answers: dict[int, dict[str, Any]] = {}
        admitted: list[int] = []
        flight = _Flight(worker_id)
        reserved: dict[str, int] = defaultdict(int)
        evict: dict[str, int] = defaultdict(int)
        async with self._admitting:
            usage, in_flight, held = await self._usage_now(worker_id, [e[0] for e in files])

            def used(rule: QuotaRule) -> int:
                freeing = sum(amount for path, amount in evict.items() if _within(path, rule.path))
                return usage[rule.path] + in_flight[rule.path] + reserved[rule.path] - freeing

            for position, entry in enumerate(files):
                path, size = entry[0], entry[1]
                rules = policies.quotas_for(path)
                if not rules or policies.cache_rule_for(path)[0] is CacheRule.SKIP_CACHE:
                    admitted.append(position)
                    continue
                before = held.get(path, 0)
                verdict = check_quotas(rules, used, max(0, size - before))
                if not verdict.allowed:
                    answers[position] = quota_failure(path, verdict)
                    continue
                admitted.append(position)
                quota_paths = tuple(rule.path for rule in rules)
                flight.files.append((path, verdict.needed, before, quota_paths))
                for quota_path in quota_paths:
                    reserved[quota_path] += verdict.needed
                for quota_path, amount in verdict.evict.items():
                    evict[quota_path] += amount
            if evict:  # made, and in the index, before the next batch is admitted
                keep = [files[position][0] for position in admitted]
                await ref.call("make_room", dict(evict), keep, options["policyRevision"])
                await self.on_admitted(worker_id)
            self._flights.append(flight)
        try:
            if admitted:
                sent = [files[position] for position in admitted]
                gated = {**options, "quotaChecked": True}
                results = await ref.call("load_batch", sent, gated)
                answers.update(zip(admitted, results, strict=True))
                await self.on_admitted(worker_id)  # the batch's bytes into the index
        finally:
            self._flights.remove(flight)
        return [answers[position] for position in range(len(files))]

    async def _usage_now(
        self, worker_id: str, paths: list[str]
    ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """By quota path: the usage in the index and what batches in flight may still add;
        and what `worker_id` holds of `paths`. One read of the index, after the flights are
        listed, so a batch that lands meanwhile is counted once, in one or the other."""
        flights = list(self._flights)
        wanted: dict[str, list[str]] = defaultdict(list)
        for other in flights:
            wanted[other.worker_id].extend(path for path, *_ in other.files)
        wanted[worker_id].extend(paths)
        by_root, held = await self.run_io(self.file_index.usage_and_holdings, dict(wanted))
        usage: dict[str, int] = defaultdict(int)
        for quota_path, root in self.quota_roots().items():
            usage[quota_path] = by_root.get(root, 0)
        in_flight: dict[str, int] = defaultdict(int)
        for other in flights:
            now = held.get(other.worker_id, {})
            for path, needed, before, quota_paths in other.files:
                still = needed - max(0, now.get(path, 0) - before)
                for quota_path in quota_paths if still > 0 else ():
                    in_flight[quota_path] += still
        return usage, in_flight, held.get(worker_id, {})


class GatedRef:
    """A worker reference whose `load_batch` goes through the gate."""

    def __init__(self, gate: QuotaGate, worker_id: str, ref: ActorRef) -> None:
        self.gate = gate
        self.worker_id = worker_id
        self.ref = ref

    def __repr__(self) -> str:
        return f"GatedRef({self.worker_id}, {self.ref!r})"

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "load_batch":
            files, options = (list(args) + [kwargs.get("options")])[:2]
            return await self.gate.load_batch(self.worker_id, self.ref, files, options)
        return await self.ref.call(method, *args, **kwargs)


def _within(path: str, ancestor: str) -> bool:
    """Whether cluster path `path` is `ancestor` or below it."""
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")
