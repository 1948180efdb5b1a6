"""The worker's services, built once its page store is open, each given what it uses."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from ..cache.store import PageStore
from ..config import WorkerConfig
from ..environment import Environment
from ..policies.tracking import GovernedStore, ReportJournal
from ..policies.watch import PolicyWatch
from .file_loader import FileLoader
from .freshness import Freshness
from .holdings import Holdings
from .index_reports import IndexReports
from .lanes import LocalDisks
from .loads import BatchLoads
from .mount_view import MountView
from .ownership import Ownership
from .page_fetch import PageFetcher
from .peer_copy import PeerCopy
from .peers import PeerPages
from .quota import QuotaAdmission
from .reads import Reads
from .stale import StaleSweep
from .throttle import Throttles
from .told_reads import ToldReads
from .transfers import Transfers
from .upkeep import PolicyUpkeep


@dataclass(frozen=True)
class WorkerServices:
    """Everything a started worker does besides its lease, over one governed store.

    Guarantees: every service that changes the cache does so through `store`, the page
    store wrapped once by `GovernedStore`, so each change is noted for the file index and
    a new file gets its priority level, whichever service made it.
    """

    store: GovernedStore
    reads: Reads
    told: ToldReads
    loads: BatchLoads
    holdings: Holdings
    transfers: Transfers
    stale: StaleSweep
    quota: QuotaAdmission
    upkeep: PolicyUpkeep
    index_reports: IndexReports

    @classmethod
    def compose(
        cls,
        worker_id: str,
        opened: PageStore,
        config: WorkerConfig,
        env: Environment,
        mounts: MountView,
        watch: PolicyWatch,
        peer_pages: PeerPages,
        counters: dict[str, int],
        local_disks: LocalDisks,
        dropping: Callable[[], AbstractContextManager[None]] = nullcontext,
        ownership: Ownership | None = None,
    ) -> WorkerServices:
        """Wire the services over the page store `opened`; `dropping` is entered around
        each change that may evict or remove cached pages; `ownership` says whether a read
        through may cache a file (this worker is one of its owners; None: always)."""
        journal = ReportJournal()
        store = GovernedStore(
            opened, journal, lambda path: watch.policies.priority_for(path), dropping
        )
        clock, run_io, page_size = env.clock, env.run_io, config.page_size
        quota = QuotaAdmission(store, clock, run_io, watch)
        fetcher = PageFetcher(store, clock, page_size)
        loader = FileLoader(store, watch, quota, fetcher, clock, page_size, env.read_ahead)
        throttles = Throttles(clock.now, env.blocking_sleep)
        holdings = Holdings(store, mounts)
        max_lanes = config.max_batch_concurrency
        upkeep = PolicyUpkeep(worker_id, store, watch, mounts, quota, clock, run_io)
        reads = Reads(
            store,
            mounts,
            watch,
            Freshness(store),
            quota,
            fetcher,
            counters,
            clock,
            run_io,
            page_size,
            ownership,
        )
        return cls(
            store=store,
            reads=reads,
            told=ToldReads(reads.locate, store, mounts, watch, clock, counters, page_size),
            loads=BatchLoads(
                store,
                mounts,
                loader,
                quota,
                throttles,
                local_disks,
                env.ufs_factory,
                run_io,
                env.run_lanes,
                max_lanes,
                upkeep.catch_up,
            ),
            holdings=holdings,
            transfers=Transfers(
                worker_id,
                store,
                mounts,
                loader,
                PeerCopy(worker_id, store, peer_pages, clock, run_io, page_size),
                env.rings,
                throttles,
                clock,
                run_io,
                page_size,
                max_lanes,
            ),
            stale=StaleSweep(worker_id, store, holdings, counters),
            quota=quota,
            upkeep=upkeep,
            index_reports=IndexReports(store, journal, run_io),
        )
