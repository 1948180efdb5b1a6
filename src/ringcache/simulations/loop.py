"""Virtual time: an asyncio event loop whose clock jumps to the next timer, and its `Clock`.

The loop is asyncio's own `BaseEventLoop` with its scheduler replaced: where the stock loop
would block in `select()` until the next timer is due, the virtual loop moves its clock to
that timer and carries on. A one-hour `asyncio.sleep` therefore costs one loop iteration,
and the order in which callbacks run depends only on the program, never on the machine.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Epoch seconds at virtual time 0 (2024-01-01T00:00:00Z): a fixed start keeps runs equal.
DEFAULT_EPOCH = 1_704_067_200.0

# Sweep cancelled timers out of the heap once they are this many and half of it.
_SWEEP_AT = 100


class SimulationDeadlock(RuntimeError):
    """Nothing is ready, no timer is set, yet the awaited coroutine has not finished."""


class VirtualTimeLoop(asyncio.BaseEventLoop):
    """An asyncio loop on virtual time, for one thread and no I/O.

    Guarantees: `time()` starts at 0 and only moves forward, and only when no callback is
    ready (then straight to the earliest timer); no call ever sleeps in real time; ready
    callbacks run in the order they were scheduled, and timers due at the same instant in
    the order they were set, so the same program gives the same run. Threads are refused
    (`run_in_executor` raises): work a real runtime would hand to a thread must run inline
    and charge its time with `asyncio.sleep`. `events` counts the callbacks run (task
    steps, future callbacks, timers); a `virtual_sleep` is its bare future in the timer heap,
    which wakes its task when it falls due, in a timer's turn, without a callback of its own
    (and is skipped if the task was cancelled meanwhile). Debug-mode timing of
    slow callbacks is not kept: in virtual time a callback takes no time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._sequence = itertools.count()
        self.events = 0

    def time(self) -> float:
        return self._now

    def call_soon(self, callback: Callable[..., object], *args: Any, context=None):
        # Every task step and future callback comes through here: the stock path checks
        # the thread and debug mode and builds the handle through three calls; this loop
        # has one thread, and debug mode keeps the stock path.
        if self._debug or self._closed:
            return super().call_soon(callback, *args, context=context)
        handle = _Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_at(self, when: float, callback: Callable[..., object], *args: Any, context=None):
        self._check_closed()
        if self._debug:
            timer = asyncio.TimerHandle(when, callback, args, self, context)
        else:
            timer = _TimerHandle(when, callback, args, self, context)
        # Heap entries are (when, sequence, timer): ties go first-set first-fired, and the
        # heap compares floats and ints in C instead of calling TimerHandle.__lt__.
        heapq.heappush(self._scheduled, (when, next(self._sequence), timer))
        timer._scheduled = True
        return timer

    def _run_once(self) -> None:
        """Run what is ready; if nothing is, first move the clock to the next timer."""
        scheduled, ready = self._scheduled, self._ready
        if len(scheduled) > _SWEEP_AT and 2 * self._timer_cancelled_count > len(scheduled):
            self._sweep_cancelled()
            scheduled = self._scheduled
        while scheduled:  # drop what will never fire, so the clock never moves for it
            head = scheduled[0][2]
            if type(head) is _Future:  # a sleep, done only if its task was cancelled
                if not head.done():
                    break
            elif head._cancelled:
                self._timer_cancelled_count -= 1
                head._scheduled = False
            else:
                break
            heapq.heappop(scheduled)
        if not ready and not self._stopping:
            if not scheduled:
                raise SimulationDeadlock(
                    f"at virtual time {self._now:.6f} s every task waits and no timer is set"
                )
            self._now = max(self._now, scheduled[0][0])
        now = self._now
        while scheduled and scheduled[0][0] <= now:
            timer = heapq.heappop(scheduled)[2]
            if type(timer) is _Future:  # a sleep: its task's wakeup takes the timer's turn
                if not timer.done():  # else its task was cancelled
                    timer.set_result(None)
            else:
                timer._scheduled = False
                ready.append(timer)
        # Only what is ready now runs in this pass; what it schedules runs in the next.
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                self.events += 1
                handle._run()

    def sleep_until(self, when: float, future: asyncio.Future[None]) -> None:
        """Resolve `future` at virtual time `when` (a sleep): no timer handle, and a future
        cancelled meanwhile is skipped when it falls due."""
        heapq.heappush(self._scheduled, (when, next(self._sequence), future))

    def _sweep_cancelled(self) -> None:
        kept = []
        for entry in self._scheduled:
            if type(entry[2]) is _Future:
                if not entry[2].done():
                    kept.append(entry)
            elif entry[2]._cancelled:
                entry[2]._scheduled = False
            else:
                kept.append(entry)
        heapq.heapify(kept)
        self._scheduled = kept
        self._timer_cancelled_count = 0

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any):
        raise RuntimeError(
            f"the simulator runs no threads; call {getattr(func, '__name__', func)!r} "
            "inline (a simulated run_io does) instead of in an executor"
        )

    def _write_to_self(self) -> None:
        pass  # the loop never blocks, so there is nobody to wake


class _Handle(asyncio.Handle):
    """A `Handle` built without asking the loop whether it is in debug mode (it is not)."""

    __slots__ = ()

    def __init__(self, callback, args, loop, context=None) -> None:  # noqa: ANN001
        self._context = contextvars.copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


class _TimerHandle(asyncio.TimerHandle):
    """A `TimerHandle` built as `_Handle` is."""

    __slots__ = ()

    def __init__(self, when, callback, args, loop, context=None) -> None:  # noqa: ANN001
        _Handle.__init__(self, callback, args, loop, context)  # type: ignore[arg-type]
        self._when = when
        self._scheduled = False


class VirtualClock:
    """The `Clock` of a simulation: epoch-like `now()` and sleeps on the virtual loop.

    `now()` is `epoch + loop.time()`, so it can be read outside the loop too (reports,
    tests); `sleep()` is `virtual_sleep` and must be awaited on that loop.
    """

    def __init__(self, loop: VirtualTimeLoop, epoch: float = DEFAULT_EPOCH) -> None:
        self.loop = loop
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch + self.loop._now  # the loop's `time()`, asked once per file stored

    def elapsed(self) -> float:
        """Virtual seconds since the loop started."""
        return self.loop.time()

    async def sleep(self, seconds: float) -> None:
        await virtual_sleep(seconds)


async def virtual_sleep(seconds: float) -> None:
    """`asyncio.sleep` on the virtual loop, the same timer at the same instant, without
    its helper calls: most events of a simulation are sleeps (network and I/O delays)."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    if isinstance(loop, VirtualTimeLoop):
        loop.sleep_until(loop._now + seconds, future)
    else:  # a loop of another kind (a test's): its own timer
        loop.call_at(loop.time() + seconds, _wake, future)
    await future  # a cancelled task cancels its future, and the loop then skips it


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_Future = asyncio.Future  # what `create_future` makes: the C class, exactly


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
    "virtual_sleep",
]
