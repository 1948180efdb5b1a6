"""A few blocking reads in flight at once, their answers in order."""

from __future__ import annotations

import threading
import time

import pytest

from ringcache.cluster.ufs.read_ahead import ThreadedReadAhead


@pytest.fixture
def ahead():
    reader = ThreadedReadAhead(threads=8)
    yield reader
    reader.close()


def test_answers_come_in_order_with_at_most_in_flight_calls_running(ahead) -> None:
    lock = threading.Lock()
    meet = threading.Barrier(3, timeout=10)  # the first three run together: `most` is 3
    running, most = 0, 0

    def call(item: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if item < 3:
            meet.wait()
        time.sleep(0.01 * (item % 3))  # later items may finish first
        with lock:
            running -= 1
        return item * 10

    assert list(ahead(call, list(range(20)), 3)) == [item * 10 for item in range(20)]
    assert most == 3  # never a fourth while three were in flight


def test_calls_in_flight_run_together(ahead) -> None:
    meet = threading.Barrier(4, timeout=10)  # broken unless four calls wait at once

    def call(item: int) -> int:
        if item < 4:
            meet.wait()
        return item

    assert list(ahead(call, list(range(6)), 4)) == list(range(6))


def test_an_error_is_raised_in_its_turn_and_later_calls_are_not_started(ahead) -> None:
    started: list[int] = []

    def call(item: int) -> int:
        started.append(item)
        if item == 2:
            raise OSError("range 2 failed")
        return item

    answers = ahead(call, list(range(50)), 2)
    assert next(answers) == 0 and next(answers) == 1
    with pytest.raises(OSError, match="range 2"):
        next(answers)
    time.sleep(0.05)  # a call already submitted may still finish
    assert len(started) <= 5  # no more than were in flight around the error


def test_one_in_flight_calls_in_the_caller_s_thread(ahead) -> None:
    threads = list(ahead(lambda _: threading.get_ident(), [1, 2, 3], 1))
    assert threads == [threading.get_ident()] * 3
