"""`ringcache start` stops its actors on exit, but never waits on Ray for ever."""

from __future__ import annotations

import threading
import time

from ringcache.cli.lifecycle import stop_within


def test_a_stop_that_returns_is_no_problem() -> None:
    calls = []
    assert stop_within(lambda: calls.append("stopped"), 5) is None
    assert calls == ["stopped"]


def test_a_stop_that_never_returns_is_given_up_on_in_time() -> None:
    release = threading.Event()
    started = time.monotonic()
    try:
        problem = stop_within(release.wait, 0.2)
    finally:
        release.set()  # let the abandoned thread end
    assert time.monotonic() - started < 5
    assert problem == "no answer from Ray within 0.2 s"


def test_a_stop_that_fails_says_why() -> None:
    def stop() -> None:
        raise ConnectionError("the raylet is gone")

    assert stop_within(stop, 5) == "ConnectionError: the raylet is gone"
