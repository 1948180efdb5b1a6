"""The virtual-time loop: time jumps to the next timer, nothing really sleeps or threads."""

from __future__ import annotations

import asyncio
import time

import pytest

from ringcache.simulations.loop import (
    DEFAULT_EPOCH,
    SimulationDeadlock,
    VirtualClock,
    VirtualTimeLoop,
    run_virtual,
    virtual_sleep,
)


def test_an_hour_of_virtual_sleep_passes_without_real_waiting():
    loop = VirtualTimeLoop()
    clock = VirtualClock(loop)

    async def main() -> float:
        await clock.sleep(3600)
        return clock.now()

    started = time.monotonic()
    now = run_virtual(main(), loop)
    # A functional bound, not a speed test: a real hour could never fit in it.
    assert time.monotonic() - started < 5.0
    assert now == DEFAULT_EPOCH + 3600


def test_timers_fire_in_order_at_exactly_their_time():
    loop = VirtualTimeLoop()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        woke.append((name, loop.time()))

    async def main() -> None:
        await asyncio.gather(sleeper("c", 2.5), sleeper("a", 0.1), sleeper("b", 1.0))
        await sleeper("d", 0.3)

    run_virtual(main(), loop)
    assert woke == [("a", 0.1), ("b", 1.0), ("c", 2.5), ("d", 2.8)]


def test_wait_for_times_out_on_virtual_time():
    loop = VirtualTimeLoop()

    async def main() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), timeout=7)
        return loop.time()

    assert run_virtual(main(), loop) == 7


def test_a_coroutine_that_can_never_finish_is_a_deadlock():
    async def main() -> None:
        await asyncio.get_running_loop().create_future()  # nobody will ever set it

    with pytest.raises(SimulationDeadlock):
        run_virtual(main())


def test_threads_are_refused():
    async def main() -> None:
        await asyncio.to_thread(time.sleep, 0)

    with pytest.raises(RuntimeError, match="no threads"):
        run_virtual(main())


def test_leftover_tasks_are_cancelled_when_the_run_ends():
    loop = VirtualTimeLoop()
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            while True:
                await asyncio.sleep(1)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(10)

    run_virtual(main(), loop)
    assert cancelled == [True]
    assert loop.is_closed()


def test_events_count_scheduled_callbacks():
    loop = VirtualTimeLoop()

    async def main() -> None:
        for _ in range(10):
            await asyncio.sleep(1)

    run_virtual(main(), loop, close=False)
    assert loop.events >= 20  # a timer and a task wake-up per sleep
    loop.close()


def test_a_virtual_sleep_costs_one_event_and_sleepers_wake_in_the_order_they_slept():
    loop = VirtualTimeLoop()
    woke: list[tuple[float, int]] = []

    async def sleeper(n: int) -> None:
        await virtual_sleep(2.0)
        woke.append((loop.time(), n))

    async def main() -> None:
        await asyncio.gather(*(sleeper(n) for n in range(5)))

    run_virtual(main(), loop, close=False)
    assert woke == [(2.0, n) for n in range(5)]
    # main's first step, each sleeper's first step and its wakeup (the timer is no event
    # of its own), each sleeper's done callback into gather, main's last step, and the
    # callback that stops the loop once main is done
    assert loop.events == 1 + 5 + 5 + 5 + 1 + 1
    loop.close()


def test_timers_due_at_one_instant_fire_in_the_order_they_were_set():
    loop = VirtualTimeLoop()
    fired: list[int] = []

    async def main() -> None:
        for i in range(50):
            asyncio.get_running_loop().call_at(5.0, fired.append, i)
        await asyncio.sleep(6)

    run_virtual(main(), loop)
    assert fired == list(range(50))


def test_cancelled_timers_never_fire_and_are_swept_from_the_heap():
    loop = VirtualTimeLoop()
    fired: list[int] = []

    async def main() -> int:
        running = asyncio.get_running_loop()
        timers = [running.call_later(1 + i / 1000, fired.append, i) for i in range(1000)]
        for timer in timers[:900]:
            timer.cancel()
        await asyncio.sleep(0)
        return len(loop._scheduled)

    assert run_virtual(main(), loop, close=False) <= 100
    loop.run_until_complete(asyncio.sleep(2))
    assert fired == list(range(900, 1000))
    loop.close()


def test_a_cancelled_virtual_sleep_never_wakes_and_never_moves_the_clock():
    loop = VirtualTimeLoop()
    woke: list[float] = []

    async def sleeper() -> None:
        await virtual_sleep(100)
        woke.append(loop.time())

    async def main() -> None:
        task = asyncio.ensure_future(sleeper())
        await virtual_sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.create_future()  # nothing left to wake us

    # The deadlock is found at 1 s: the clock did not jump to the cancelled sleep's 101 s.
    with pytest.raises(SimulationDeadlock, match="at virtual time 1.000000 s"):
        run_virtual(main(), loop)
    assert woke == []
