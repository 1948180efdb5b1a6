"""Small fakes for the worker's services: a clock, inline I/O, rules, a registry of mounts,
peers; and `Parts`, the services wired over a real page store on a tmp dir."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.environment import Environment
from ringcache.cluster.policies import PolicySet
from ringcache.cluster.ufs.factory import ufs_for
from ringcache.cluster.ufs.mounts import MountPoint, MountTable
from ringcache.cluster.worker.lanes import LocalDisks
from ringcache.cluster.worker.mount_view import MountView
from ringcache.cluster.worker.peers import ActorPeerPages
from ringcache.cluster.worker.read_metrics import READ_COUNTERS
from ringcache.cluster.worker.services import WorkerServices
from ringcache.config import WorkerConfig

PAGE = 1024
WORKER_A = f"worker-{uuid.UUID(int=1)}"
WORKER_B = f"worker-{uuid.UUID(int=2)}"


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += seconds
        await asyncio.sleep(0)


async def inline_io(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Blocking work run on the event loop itself: deterministic, and enough for tests."""
    return function(*args, **kwargs)


class Rules:
    """What `PolicyWatch` offers the services: a rule snapshot and the published usage."""

    def __init__(self, policies: PolicySet | None = None) -> None:
        self.policies = policies or PolicySet()
        self.usage: dict[str, int] = {}
        self.usage_as_of: float | None = None


class MountRegistry:
    """A registry that holds only mount points; counts how often the table is read."""

    def __init__(self, *mounts: MountPoint) -> None:
        self.mounts = list(mounts)
        self.reads = 0

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert method == "range" and args == ("/mounts/",), (method, args)
        self.reads += 1
        await asyncio.sleep(0)  # a registry answers later: other callers run meanwhile
        return [SimpleNamespace(value=json.dumps(m.to_dict())) for m in self.mounts]


class PeerRefs:
    """`Peers` over worker objects of this process, by id; an absent id fails its calls."""

    def __init__(self, **workers: Any) -> None:
        self.workers = workers
        self.calls: list[str] = []

    def worker(self, worker_id: str) -> Any:
        peers = self

        class Ref:
            async def call(self, method: str, *args: Any) -> Any:
                peers.calls.append(method)
                if worker_id not in peers.workers:
                    raise ConnectionError(f"{worker_id} is gone")
                return await getattr(peers.workers[worker_id], method)(*args)

        return Ref()


class Parts:
    """The worker's services as `WorkerServices.compose` wires them, over a real page store
    in `root`, files under `root/ufs` mounted at `/data`, a manual clock and inline I/O."""

    def __init__(
        self,
        root: Path,
        worker_id: str = WORKER_A,
        capacity: int = 1 << 20,
        peers: PeerRefs | None = None,
        local_disks: LocalDisks | None = None,
        run_io: Any = inline_io,
        dropping: Any = nullcontext,
    ) -> None:
        self.ufs_root = root / "ufs"
        self.ufs_root.mkdir(parents=True, exist_ok=True)
        self.worker_id = worker_id
        self.clock = ManualClock()
        self.rules = Rules(PolicySet(mounts=self.table()))
        self.registry = MountRegistry(MountPoint("/data", self.uri("")))
        self.mounts = MountView(self.registry, ufs_for)
        self.counters = READ_COUNTERS.copy()
        config = WorkerConfig(
            cache_dir=root / "cache", capacity=capacity, page_size=PAGE, max_batch_concurrency=4
        )
        env = Environment(clock=self.clock, run_io=run_io, blocking_sleep=lambda seconds: None)
        services = WorkerServices.compose(
            worker_id,
            PageStore(root / f"pages-{worker_id}", capacity, PAGE),
            config,
            env,
            self.mounts,
            self.rules,  # type: ignore[arg-type]  # the part of a PolicyWatch they read
            ActorPeerPages(peers or PeerRefs()),
            self.counters,
            local_disks or LocalDisks(),
            dropping,
        )
        self.store = services.store
        self.reads = services.reads
        self.told = services.told
        self.loads = services.loads
        self.holdings = services.holdings
        self.transfers = services.transfers
        self.quota = services.quota
        self.index_reports = services.index_reports

    def uri(self, name: str) -> str:
        return f"file://{self.ufs_root}/{name}".rstrip("/")

    async def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """`reads.read`, then the pages of its miss stored (a worker stores them after
        answering, once reads pause: the test's event loop may end before that)."""
        data = await self.reads.read(path, offset, length)
        await self.reads.settled()
        return data

    def table(self) -> MountTable:
        return MountTable([MountPoint("/data", self.uri(""))])

    def write(self, name: str, data: bytes) -> str:
        """A UFS file; its URI."""
        path = self.ufs_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.uri(name)

    def replace(self, name: str, data: bytes, *, renamed: bool = False) -> Path:
        """A UFS file written anew (in place, or with `renamed` as a new file renamed over
        it), its mtime a second later than before (so its version differs even on a
        filesystem with coarse timestamps); its path."""
        path = self.ufs_root / name
        before = path.stat()
        written = path.with_name(f"{path.name}.new") if renamed else path
        written.write_bytes(data)
        os.utime(written, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        written.replace(path)
        return path

    def set_policies(self, **rules: Any) -> None:
        self.rules.policies = PolicySet(mounts=self.table(), **rules)
