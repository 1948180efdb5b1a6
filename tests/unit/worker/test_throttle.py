"""The byte-rate throttle, on a clock the test controls."""

from __future__ import annotations

from ringcache.cluster.worker.throttle import Throttle


def test_waits_in_proportion_to_the_bytes_beyond_the_burst() -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    throttle = Throttle(1000, now=lambda: clock[0], sleep=sleep)
    throttle.consume(1000)  # one second's burst passes at once
    assert waits == []
    for _ in range(5):
        throttle.consume(500)
    assert abs(sum(waits) - 2.5) < 1e-9  # 2,500 bytes more at 1,000 bytes/s
    assert abs(clock[0] - 2.5) < 1e-9
