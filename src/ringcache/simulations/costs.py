"""What I/O costs in virtual time: the network and disk model, and the simulated `run_io`.

A blocking call (a UFS read, a page write) runs inline and at once; while it runs, the
simulated UFS and page store charge what it moved to an `IoMeter`. `SimRunIo` then sleeps
the virtual time the model gives for those charges. Bandwidth is a FIFO `Link` per
resource (a worker's NIC, its disk, optionally the UFS's total egress): concurrent
transfers queue behind each other, so eight parallel loads on one worker share its NIC
instead of each getting a full one.
Page bytes a worker receives from a peer are queued on its NIC by the network
(`SimNetwork.receive_time`), not through the meter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from .loop import virtual_sleep

T = TypeVar("T")
A = TypeVar("A")


@dataclass(frozen=True)
class NodeModel:
    """One machine: NIC and disk bandwidth in bytes/s, and how much slower than that it is.

    `slowdown` > 1 stretches every I/O delay on the node (a slow or overloaded worker).
    `index_rows_per_second` is how fast a coordinator on it writes its file index, one
    row per file a worker reports (SQLite on the 2-core VM this was built on writes
    65,000-85,000 a second, report parsing included; a server core is about twice that).
    """

    nic_bandwidth: float = 1.25e9  # 10 Gbit/s
    disk_bandwidth: float = 2.0e9  # one NVMe drive, sequential
    slowdown: float = 1.0
    index_rows_per_second: float = 150_000.0


@dataclass(frozen=True)
class NetworkModel:
    """Latencies (seconds) of the cluster's network and of the UFS.

    `rpc_latency` is one way, actor to actor; `rpc_jitter` adds a uniform [0, jitter) drawn
    from the run's seeded generator. `ufs_bandwidth` caps the UFS's total egress over all
    readers (None: only each reader's NIC limits it).
    """

    rpc_latency: float = 0.0005
    rpc_jitter: float = 0.0
    ufs_read_latency: float = 0.02  # first byte of a ranged GET
    ufs_metadata_latency: float = 0.01  # a HEAD, or one page of a listing
    ufs_bandwidth: float | None = None


class Link:
    """A resource that moves bytes at a fixed rate, first come first served.

    Guarantees: transfers reserved on one link never overlap; each finishes
    `bytes / bandwidth` after the previous one (or after it was asked for, if idle).
    """

    __slots__ = ("bandwidth", "free_at", "bytes")

    def __init__(self, bandwidth: float) -> None:
        if bandwidth <= 0:
            raise ValueError(f"bandwidth must be positive, not {bandwidth}")
        self.bandwidth = bandwidth
        self.free_at = 0.0
        self.bytes = 0

    def reserve(self, now: float, nbytes: int) -> float:
        """Queue `nbytes` at virtual time `now`; returns when the transfer is done."""
        start = now if now > self.free_at else self.free_at
        self.free_at = start + nbytes / self.bandwidth
        self.bytes += nbytes
        return self.free_at


class IoMeter:
    """Collects what one node's blocking calls moved, and turns it into a delay.

    Charges made outside `SimRunIo` (nobody will sleep for them) are counted in
    `unmetered` rather than dropped silently, so a test can insist there are none.
    """

    def __init__(self, node: NodeModel, network: NetworkModel, ufs_link: Link | None) -> None:
        self.node = node
        self.network = network
        self.nic = Link(node.nic_bandwidth)
        self.disk = Link(node.disk_bandwidth)
        self.index = Link(node.index_rows_per_second)  # the file index's writer, in rows
        self.ufs_link = ufs_link
        self.active = False
        self.unmetered = 0
        self.received_from_peers = 0  # bytes of answers from peers (charged by the network)
        self._latency = 0.0
        self._first_latency = 0.0  # the first request's wait of the call being metered
        self._disk_bytes = 0
        self._ufs_bytes = 0
        self._index_rows = 0
        self._in_flight = 1  # UFS reads made at once (see `overlapping`)
        self._reads_overlapped = 0

    def ufs_read(self, nbytes: int) -> None:
        self._count()
        # Of reads made `_in_flight` at once, each group waits its first byte together.
        if self._in_flight == 1 or self._reads_overlapped % self._in_flight == 0:
            self._wait(self.network.ufs_read_latency)
        self._reads_overlapped += 1
        self._ufs_bytes += nbytes

    @contextmanager
    def overlapping(self, in_flight: int) -> Iterator[None]:
        """UFS reads made inside are `in_flight` at a time: their request latencies overlap,
        so each `in_flight` of them pays one; their bytes still queue on the NIC whole."""
        self._in_flight, self._reads_overlapped = max(1, in_flight), 0
        try:
            yield
        finally:
            self._in_flight, self._reads_overlapped = 1, 0

    def ufs_metadata(self) -> None:
        self._count()
        self._wait(self.network.ufs_metadata_latency)

    def _wait(self, latency: float) -> None:
        if not self._latency:
            self._first_latency = latency
        self._latency += latency

    def disk_write(self, nbytes: int) -> None:
        self._count()
        self._disk_bytes += nbytes

    def disk_read(self, nbytes: int) -> None:
        self._count()
        self._disk_bytes += nbytes

    def index_write(self, rows: int) -> None:
        self._count()
        self._index_rows += rows

    def _count(self) -> None:
        if not self.active:
            self.unmetered += 1

    def settle(self, now: float) -> float:
        """The delay for everything charged since the last settle; resets the charges.

        A call's request latencies come one after another, as its calls were made, and its
        own bytes stream between them: it takes at least `latency + own transfer time`.
        Its bytes also queue on shared links (the NIC, the disk) behind other calls' bytes;
        while those move, this call's waits for a first byte run alongside (a lane of a
        batch waits on the UFS while the other lanes fill the NIC), so the queue costs it
        only its first wait more. The delay is the larger of the two; a call alone on its
        links gets exactly `latency + transfer time`.
        """
        finish = own = now
        ufs, disk, rows = self._ufs_bytes, self._disk_bytes, self._index_rows
        if ufs:
            finish = max(finish, self.nic.reserve(now, ufs))
            own = max(own, now + ufs / self.nic.bandwidth)
            if self.ufs_link is not None:
                finish = max(finish, self.ufs_link.reserve(now, ufs))
                own = max(own, now + ufs / self.ufs_link.bandwidth)
        if disk:
            finish = max(finish, self.disk.reserve(now, disk))
            own = max(own, now + disk / self.disk.bandwidth)
        if rows:
            finish = max(finish, self.index.reserve(now, rows))
            own = max(own, now + rows / self.index.bandwidth)
        # Streaming: the NIC, the UFS and the disk work at once, so the slowest decides.
        queued = finish - now + self._first_latency
        alone = own - now + self._latency
        delay = max(queued, alone) * self.node.slowdown
        self._latency = self._first_latency = 0.0
        self._disk_bytes = self._ufs_bytes = self._index_rows = 0
        return delay


class MeteredReadAhead:
    """The simulator's `ReadAhead`: the calls run inline, one after another, their UFS
    reads charged to `meter` as `in_flight` at a time (see `IoMeter.overlapping`)."""

    def __init__(self, meter: IoMeter) -> None:
        self.meter = meter

    def __call__(self, call: Callable[[A], T], items: Sequence[A], in_flight: int) -> Iterator[T]:
        with self.meter.overlapping(in_flight):
            answers = [call(item) for item in items]  # views of one zero buffer: no memory
        return iter(answers)


class SimRunIo:
    """The simulator's `Environment.run_io`: run the call inline, then sleep what it cost.

    Effects of the call (pages stored, bytes counted) appear at the virtual instant it
    starts; the caller resumes when the modelled transfer would have finished. An
    exception is raised after the delay too: a failed read also takes time.
    """

    def __init__(self, meter: IoMeter, loop: asyncio.AbstractEventLoop) -> None:
        self.meter = meter
        self.loop = loop

    async def __call__(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result, error, delay = _charged(self.meter, self.loop.time(), func, args, kwargs)
        if delay > 0:
            await virtual_sleep(delay)
        if error is not None:
            raise error
        return result  # type: ignore[return-value]


class SimLanes:
    """The simulator's `Environment.run_lanes`: a batch's lanes run inline, one after
    another, each charged as its own `SimRunIo` call made at the same virtual instant, as
    lanes started together would be; the caller resumes when the slowest would have
    finished, or, if a lane raised, when the first of those to finish would have, with
    its error. One task rather than a task a lane: the same charges, far fewer events.
    """

    def __init__(self, meter: IoMeter, loop: asyncio.AbstractEventLoop) -> None:
        self.meter = meter
        self.loop = loop

    async def __call__(self, lanes: int, func: Callable[..., T], *args: Any) -> list[T]:
        await virtual_sleep(0)  # lanes started as tasks would run after what is ready now
        meter, now = self.meter, self.loop.time()
        answers: list[T] = []
        longest = 0.0
        failed: tuple[float, Exception] | None = None  # the lane that raised first
        for _ in range(lanes):
            result, error, delay = _charged(meter, now, func, args, {})
            longest = max(longest, delay)
            if error is None:
                answers.append(result)  # type: ignore[arg-type]
            elif failed is None or delay < failed[0]:
                failed = (delay, error)
        if failed is not None:
            if failed[0] > 0:
                await virtual_sleep(failed[0])
            raise failed[1]
        if longest > 0:
            await virtual_sleep(longest)
        return answers


def _charged(
    meter: IoMeter, now: float, func: Callable[..., T], args: tuple, kwargs: dict[str, Any]
) -> tuple[T | None, Exception | None, float]:
    """`func(*args, **kwargs)` run inline with its I/O charged to `meter`: its result, the
    exception it raised (else None), and the delay its charges cost from `now`."""
    # No await happens between here and settle(), so no other task can charge this
    # meter meanwhile: the charges below are exactly this call's.
    meter.active = True
    result: T | None = None
    error: Exception | None = None
    try:
        result = func(*args, **kwargs)
    except Exception as exc:  # raised by the caller once the call's time has passed
        error = exc
    finally:
        meter.active = False
    return result, error, meter.settle(now)
