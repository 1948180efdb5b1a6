"""The I/O model: FIFO links, and run_io sleeping exactly what the call charged."""

from __future__ import annotations

import asyncio

import pytest

from ringcache.cluster.errors import UfsError
from ringcache.simulations.costs import (
    IoMeter,
    Link,
    MeteredReadAhead,
    NetworkModel,
    NodeModel,
    SimRunIo,
)
from ringcache.simulations.loop import VirtualTimeLoop, run_virtual

NO_LATENCY = NetworkModel(rpc_latency=0, ufs_read_latency=0, ufs_metadata_latency=0)


def test_a_link_queues_transfers_first_come_first_served():
    link = Link(bandwidth=100.0)
    assert link.reserve(0.0, 100) == 1.0
    assert link.reserve(0.5, 100) == 2.0  # waits for the first transfer
    assert link.reserve(5.0, 50) == 5.5  # idle link: starts at once
    assert link.bytes == 250
    with pytest.raises(ValueError):
        Link(0)


def _reader(meter: IoMeter, nbytes: int):
    def read() -> int:
        meter.ufs_read(nbytes)
        return nbytes

    return read


def test_run_io_sleeps_what_the_call_charged_and_concurrent_reads_share_the_nic():
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(nic_bandwidth=1000.0), NO_LATENCY, None)
    run_io = SimRunIo(meter, loop)

    async def main() -> list[float]:
        async def timed() -> float:
            await run_io(_reader(meter, 1000))
            return loop.time()

        return list(await asyncio.gather(timed(), timed()))

    assert run_virtual(main(), loop) == [1.0, 2.0]


def test_latency_slowdown_and_the_shared_ufs_link():
    loop = VirtualTimeLoop()
    network = NetworkModel(ufs_read_latency=0.5, ufs_metadata_latency=0.25, ufs_bandwidth=500.0)
    ufs = Link(network.ufs_bandwidth)
    slow = IoMeter(NodeModel(nic_bandwidth=1e9, slowdown=2.0), network, ufs)
    fast = IoMeter(NodeModel(nic_bandwidth=1e9), network, ufs)

    async def main() -> tuple[float, float]:
        def both() -> None:
            slow.ufs_metadata()
            slow.ufs_read(500)

        await SimRunIo(slow, loop)(both)
        first = loop.time()
        await SimRunIo(fast, loop)(_reader(fast, 500))
        return first, loop.time()

    # slow: (1 s on the UFS link + 0.25 + 0.5 latency) * 2; fast: 1 s more + 0.5 latency.
    assert run_virtual(main(), loop) == (3.5, 5.0)


def test_a_failing_call_also_takes_its_time_then_raises():
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(nic_bandwidth=100.0), NO_LATENCY, None)

    def fail() -> None:
        meter.ufs_read(200)
        raise UfsError("boom")

    async def main() -> float:
        with pytest.raises(UfsError):
            await SimRunIo(meter, loop)(fail)
        return loop.time()

    assert run_virtual(main(), loop) == 2.0


def test_charges_outside_run_io_are_counted_not_lost():
    meter = IoMeter(NodeModel(), NO_LATENCY, None)
    meter.disk_write(10)
    assert meter.unmetered == 1


def test_index_writes_queue_on_the_coordinator_s_index_writer():
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(index_rows_per_second=100.0), NO_LATENCY, None)
    run_io = SimRunIo(meter, loop)

    async def main() -> list[float]:
        async def write(rows: int) -> float:
            await run_io(meter.index_write, rows)
            return loop.time()

        return list(await asyncio.gather(write(300), write(100)))

    assert run_virtual(main(), loop) == [3.0, 4.0]  # one writer: the second waits
    meter.index_write(1)
    assert meter.unmetered == 1  # nobody sleeps for a write outside run_io


def test_reads_made_a_few_at_once_pay_one_latency_per_group_and_all_their_bytes():
    loop = VirtualTimeLoop()
    network = NetworkModel(ufs_read_latency=0.5, ufs_metadata_latency=0)
    meter = IoMeter(NodeModel(nic_bandwidth=100.0), network, None)
    ahead = MeteredReadAhead(meter)

    def five_reads_four_at_once() -> list[int]:
        return list(ahead(_sized_read(meter), [10, 20, 30, 40, 100], 4))

    def two_more_one_at_a_time() -> None:
        meter.ufs_read(50)
        meter.ufs_read(50)

    async def main() -> tuple[list[int], float, float]:
        answers = await SimRunIo(meter, loop)(five_reads_four_at_once)
        first = loop.time()
        await SimRunIo(meter, loop)(two_more_one_at_a_time)  # outside: each pays its own
        return answers, first, loop.time()

    # 200 bytes at 100/s plus two groups' latencies (4 reads, then 1); then 1 s + 2 x 0.5.
    assert run_virtual(main(), loop) == ([10, 20, 30, 40, 100], 3.0, 5.0)


def _sized_read(meter: IoMeter):
    def read(nbytes: int) -> int:
        meter.ufs_read(nbytes)
        return nbytes

    return read


def test_a_call_s_request_waits_overlap_the_bytes_of_calls_ahead_of_it_on_the_nic():
    network = NetworkModel(ufs_read_latency=0.5, ufs_metadata_latency=0)

    def four_small_reads(meter: IoMeter):
        def read() -> None:
            for _ in range(4):
                meter.ufs_read(25)  # 2 s of waits, 1 s of bytes, one after another

        return read

    def finish_times(with_a_big_read_ahead: bool) -> list[float]:
        loop = VirtualTimeLoop()
        meter = IoMeter(NodeModel(nic_bandwidth=100.0), network, None)
        run_io = SimRunIo(meter, loop)

        async def timed(call) -> float:
            await run_io(call)
            return loop.time()

        async def main() -> list[float]:
            calls = [_reader(meter, 100)] if with_a_big_read_ahead else []
            return list(await asyncio.gather(*map(timed, [*calls, four_small_reads(meter)])))

        return run_virtual(main(), loop)

    # Alone: every wait, then every byte. Behind 1 s of another call's bytes on the NIC:
    # its bytes finish at 2 s at best, its last wait after its own chain: 3 s, not 2 + 2.
    assert finish_times(False) == [3.0]
    assert finish_times(True) == [1.5, 3.0]
