"""Virtual time: an asyncio event loop whose clock jumps to the next timer, and its `Clock`.

The loop is asyncio's own `BaseEventLoop` with one change: where the stock loop would block
in `select()` until the next timer is due, the virtual loop moves its clock to that timer
and carries on. A one-hour `asyncio.sleep` therefore costs one loop iteration, and the
order in which callbacks run depends only on the program, never on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Epoch seconds at virtual time 0 (2024-01-01T00:00:00Z): a fixed start keeps runs equal.
DEFAULT_EPOCH = 1_704_067_200.0


class SimulationDeadlock(RuntimeError):
    """Nothing is ready, no timer is set, yet the awaited coroutine has not finished."""


class _VirtualSelector:
    """Stands in for the loop's selector: there is no I/O, so 'waiting' means moving time."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None) -> list[Any]:
        loop = self._loop
        if timeout is None:
            raise SimulationDeadlock(
                f"at virtual time {loop.time():.6f} s every task waits and no timer is set"
            )
        if timeout > 0:
            # Land exactly on the next timer rather than on now + (when - now), which
            # can round a hair short and cost an extra empty iteration.
            scheduled = loop._scheduled
            if scheduled and scheduled[0]._when - loop._now <= timeout:
                loop._now = max(loop._now, scheduled[0]._when)
            else:
                loop._now += timeout
        return []

    def close(self) -> None:
        pass


class VirtualTimeLoop(asyncio.BaseEventLoop):
    """An asyncio loop on virtual time, for one thread and no I/O.

    Guarantees: `time()` starts at 0 and only moves forward, and only when no callback is
    ready (then straight to the earliest timer); no call ever sleeps in real time; callbacks
    run in the order asyncio schedules them, so the same program gives the same run.
    Threads are refused (`run_in_executor` raises): work a real runtime would hand to a
    thread must run inline and charge its time with `asyncio.sleep`.
    `events` counts the callbacks scheduled (task steps, future callbacks, timers).
    """

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _VirtualSelector(self)
        self.events = 0

    def time(self) -> float:
        return self._now

    def call_soon(self, callback: Callable[..., object], *args: Any, context: Any = None):
        self.events += 1
        return super().call_soon(callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any, context=None):
        self.events += 1
        return super().call_at(when, callback, *args, context=context)

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any):
        raise RuntimeError(
            f"the simulator runs no threads; call {getattr(func, '__name__', func)!r} "
            "inline (a simulated run_io does) instead of in an executor"
        )

    def _process_events(self, event_list: list[Any]) -> None:
        pass  # no file descriptors, hence no I/O events

    def _write_to_self(self) -> None:
        pass  # nothing sleeps in select(), so there is nobody to wake

    def pending_timers(self) -> int:
        """Timers still set (cancelled ones included until the loop drops them)."""
        return len(self._scheduled)

    def next_timer(self) -> float | None:
        """Virtual time of the earliest live timer, None if there is none."""
        live = [handle._when for handle in self._scheduled if not handle._cancelled]
        return min(live) if live else None


class VirtualClock:
    """The `Clock` of a simulation: epoch-like `now()` and sleeps on the virtual loop.

    `now()` is `epoch + loop.time()`, so it can be read outside the loop too (reports,
    tests); `sleep()` is `asyncio.sleep` and must be awaited on that loop.
    """

    def __init__(self, loop: VirtualTimeLoop, epoch: float = DEFAULT_EPOCH) -> None:
        self.loop = loop
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch + self.loop.time()

    def elapsed(self) -> float:
        """Virtual seconds since the loop started."""
        return self.loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def run_virtual(
    main: Coroutine[Any, Any, T], loop: VirtualTimeLoop | None = None, *, close: bool = True
) -> T:
    """Run `main` to completion on a virtual-time loop, then cancel what it left running.

    Tasks still pending when `main` returns (heartbeats, watches) are cancelled and awaited,
    so nothing leaks into the next run; with `close`, the loop is closed afterwards.
    """
    loop = loop or VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        cancel_pending(loop)
        if close:
            loop.close()


def cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task left on `loop` and let each one finish its cleanup."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


__all__ = [
    "DEFAULT_EPOCH",
    "SimulationDeadlock",
    "VirtualClock",
    "VirtualTimeLoop",
    "cancel_pending",
    "run_virtual",
]
