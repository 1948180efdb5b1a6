"""A batch's lanes run at once (`Environment.run_lanes`): one contract for the threaded
lanes of a real worker and the simulator's inline ones, and the simulator's charging the
same virtual time as lanes gathered over `SimRunIo` would."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from ringcache.cluster.environment import GatheredLanes, RunLanes
from ringcache.simulations.costs import IoMeter, NetworkModel, NodeModel, SimLanes, SimRunIo
from ringcache.simulations.loop import VirtualTimeLoop, run_virtual

NO_LATENCY = NetworkModel(rpc_latency=0, ufs_read_latency=0, ufs_metadata_latency=0)

Runner = Callable[[Callable[[RunLanes], Coroutine[Any, Any, Any]]], Any]


def _threaded(body: Callable[[RunLanes], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(body(GatheredLanes(asyncio.to_thread)))


def _gathered_sim(body: Callable[[RunLanes], Coroutine[Any, Any, Any]]) -> Any:
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(), NO_LATENCY, None)
    return run_virtual(body(GatheredLanes(SimRunIo(meter, loop))), loop)


def _inline_sim(body: Callable[[RunLanes], Coroutine[Any, Any, Any]]) -> Any:
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(), NO_LATENCY, None)
    return run_virtual(body(SimLanes(meter, loop)), loop)


RUNNERS = [
    pytest.param(_threaded, id="threads"),
    pytest.param(_gathered_sim, id="gathered-sim"),
    pytest.param(_inline_sim, id="inline-sim"),
]


class _Lanes:
    """A lane body that numbers the lanes in the order they start."""

    def __init__(self, fail_lane: int | None = None) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.fail_lane = fail_lane

    def __call__(self, scale: int) -> int:
        with self.lock:
            lane = self.started
            self.started += 1
        if lane == self.fail_lane:
            raise OSError(f"lane {lane} failed")
        return lane * scale


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_lane_runs_once_with_its_arguments_and_answers_in_lane_order(runner) -> None:
    lanes = _Lanes()

    async def body(run_lanes: RunLanes) -> list[int]:
        return await run_lanes(4, lanes, 10)

    answers = runner(body)
    assert sorted(answers) == [0, 10, 20, 30]
    assert lanes.started == 4


@pytest.mark.parametrize("runner", RUNNERS)
def test_one_lane_is_one_call(runner) -> None:
    lanes = _Lanes()

    async def body(run_lanes: RunLanes) -> list[int]:
        return await run_lanes(1, lanes, 7)

    assert runner(body) == [0]
    assert lanes.started == 1


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_lane_s_error_is_raised_and_the_other_lanes_still_ran(runner) -> None:
    lanes = _Lanes(fail_lane=1)

    async def body(run_lanes: RunLanes) -> str:
        try:
            await run_lanes(3, lanes, 1)
        except OSError as exc:
            await asyncio.sleep(0.01)  # lanes still running finish (threads: on their own)
            return str(exc)
        return "no error"

    assert runner(body) == "lane 1 failed"
    assert lanes.started == 3


def _charging(meter: IoMeter, sizes: list[int]) -> Callable[[], int]:
    """A lane body: each call reads the next of `sizes` bytes from the UFS."""
    queue = iter(sizes)

    def lane() -> int:
        size = next(queue)
        meter.ufs_read(size)
        return size

    return lane


def _timeline(inline: bool, sizes: list[int], fail: bool = False) -> list[tuple[str, float]]:
    """When each of two tasks finishes on one NIC: a batch's lanes, and a read started at
    the same instant just before them (which queues its bytes first)."""
    loop = VirtualTimeLoop()
    meter = IoMeter(NodeModel(nic_bandwidth=1000.0), NO_LATENCY, None)
    run_io = SimRunIo(meter, loop)
    run_lanes: RunLanes = SimLanes(meter, loop) if inline else GatheredLanes(run_io)
    events: list[tuple[str, float]] = []
    body = _charging(meter, sizes)

    def lane() -> int:
        size = body()
        if fail and size == sizes[-1]:
            raise OSError("the last lane failed")
        return size

    async def other() -> None:
        await run_io(_charging(meter, [500]))
        events.append(("other", loop.time()))

    async def batch() -> None:
        try:
            answers = await run_lanes(len(sizes), lane)
            events.append((f"lanes {sorted(answers)}", loop.time()))
        except OSError as exc:
            events.append((str(exc), loop.time()))

    async def main() -> None:
        first = asyncio.ensure_future(other())
        await batch()
        await first

    run_virtual(main(), loop)
    return events


@pytest.mark.parametrize("sizes", [[1000, 3000, 2000], [500], [0, 0]])
def test_inline_lanes_take_the_virtual_time_gathered_lanes_take(sizes) -> None:
    assert _timeline(True, sizes) == _timeline(False, sizes)


def test_a_failing_inline_lane_raises_when_gathered_lanes_would() -> None:
    inline = _timeline(True, [1000, 3000, 2000], fail=True)
    assert inline == _timeline(False, [1000, 3000, 2000], fail=True)
    # The other read's 500 bytes go first, then the lanes' 1000, 3000 and 2000 in turn.
    assert inline == [("other", 0.5), ("the last lane failed", pytest.approx(6.5))]
