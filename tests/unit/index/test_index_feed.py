"""IndexFeed: jobs note workers and go on; the index catches up behind them, in order."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ringcache.cluster.index.feed import IndexFeed


class SlowSync:
    """Records each sync's workers; each takes until `release` is set."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail_first = fail_first

    async def __call__(self, worker_ids: list[str]) -> None:
        self.calls.append(worker_ids)
        await self.release.wait()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("index write failed")


def test_a_note_returns_at_once_and_notes_made_meanwhile_share_the_next_sync():
    async def run() -> list[list[str]]:
        sync = SlowSync()
        feed = IndexFeed(sync)
        await feed.note(["w1", "w2"])  # would hang here if it waited for the sync
        await asyncio.sleep(0)
        await feed.note(["w3"])
        await feed.note(["w1", "w4"])
        assert feed.backlog == 3  # w1, w3, w4: taken by one sync after the running one
        sync.release.set()
        await asyncio.wait_for(feed.caught_up(), 1)
        assert feed.backlog == 0
        return sync.calls

    assert asyncio.run(run()) == [["w1", "w2"], ["w1", "w3", "w4"]]


def test_caught_up_waits_for_every_note_made_before_it_and_no_later_one():
    async def run() -> None:
        sync = SlowSync()
        feed = IndexFeed(sync)
        await feed.note(["w1"])
        waiter = asyncio.create_task(feed.caught_up())
        await asyncio.sleep(0.01)
        assert not waiter.done()  # w1's sync is still running
        sync.release.set()
        await asyncio.wait_for(waiter, 1)
        sync.release.clear()
        await feed.note(["w2"])  # after the waiter returned: another caught_up waits for it
        second = asyncio.create_task(feed.caught_up())
        await asyncio.sleep(0.01)
        assert not second.done()
        sync.release.set()
        await asyncio.wait_for(second, 1)

    asyncio.run(run())


def test_a_failed_sync_is_logged_and_the_feed_goes_on(caplog: pytest.LogCaptureFixture):
    async def run() -> list[list[str]]:
        sync = SlowSync(fail_first=True)
        sync.release.set()
        feed = IndexFeed(sync)
        await feed.note(["w1"])
        await asyncio.wait_for(feed.caught_up(), 1)
        await feed.note(["w2"])
        await asyncio.wait_for(feed.caught_up(), 1)
        return sync.calls

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(run()) == [["w1"], ["w2"]]
    assert "file index sync of 1 worker(s) failed" in caplog.text


def test_stop_ends_the_sync_and_releases_whoever_waits():
    async def run() -> None:
        sync = SlowSync()
        feed = IndexFeed(sync)
        await feed.note(["w1"])
        waiter = asyncio.create_task(feed.caught_up())
        await asyncio.sleep(0.01)
        await feed.stop()
        await asyncio.wait_for(waiter, 1)
        await feed.note(["w2"])  # a stopped feed takes no more notes
        assert feed.backlog == 0 and sync.calls == [["w1"]]

    asyncio.run(run())
