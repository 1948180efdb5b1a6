"""`RuleAnnouncer` with fakes: a rule write waits for the live workers, not for laggards."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ringcache.cluster.policies import announce
from ringcache.cluster.policies.announce import RuleAnnouncer


class Registry:
    async def call(self, method: str) -> int:
        assert method == "revision"
        return 42


class Worker:
    """Takes `delay` seconds to catch up (forever if None); records the revision."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.revision: int | None = None

    async def call(self, method: str, revision: int) -> int:
        assert method == "catch_up_policies"
        await (asyncio.sleep(self.delay) if self.delay is not None else asyncio.Event().wait())
        self.revision = revision
        return revision


class Peers:
    def __init__(self, workers: dict[str, Worker]) -> None:
        self.workers = workers

    def worker(self, worker_id: str) -> Any:
        return self.workers[worker_id]


def test_every_live_worker_holds_the_revision_when_announce_returns() -> None:
    workers = {"w1": Worker(0.0), "w2": Worker(0.05), "gone": Worker(0.0)}
    announcer = RuleAnnouncer(Registry(), Peers(workers), lambda: {"w1", "w2"}, timeout=5)
    assert asyncio.run(announcer.announce()) == []
    assert (workers["w1"].revision, workers["w2"].revision) == (42, 42)
    assert workers["gone"].revision is None  # not live: not asked


def test_a_worker_that_does_not_answer_in_time_is_named(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = {"fast": Worker(0.0), "stuck": Worker(None)}
    announcer = RuleAnnouncer(Registry(), Peers(workers), lambda: set(workers), timeout=0.1)
    # Its own handler, enabled: a logging.config call elsewhere in the suite may have
    # disabled the module's logger or stopped its propagation.
    log = logging.getLogger(announce.__name__)
    monkeypatch.setattr(log, "disabled", False)
    caplog.set_level(logging.INFO, logger=announce.__name__)
    log.addHandler(caplog.handler)
    try:
        assert asyncio.run(announcer.announce()) == ["stuck"]
    finally:
        log.removeHandler(caplog.handler)
    assert workers["fast"].revision == 42
    assert "stuck" in caplog.text and "revision 42" in caplog.text


def test_no_live_worker_asks_nothing() -> None:
    class Untouchable:
        async def call(self, *args: Any) -> Any:
            raise AssertionError("the registry need not be read")

    announcer = RuleAnnouncer(Untouchable(), Peers({}), set, timeout=0.1)
    assert asyncio.run(announcer.announce()) == []
