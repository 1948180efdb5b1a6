"""A miss: answered before it is stored, one UFS read shared by readers missing the same
pages at once, a local UFS file's range handed over as a span, a bounded backlog."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from ringcache.cluster.cache.model import PageSpan
from ringcache.cluster.policies import CacheRule, FilterRule
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.ufs.local_file import LocalFile
from ringcache.cluster.worker.fills import (
    BATCH_BYTES,
    BATCH_FILLS,
    QUIET_SECONDS,
    YIELD_SECONDS,
    DeferredFills,
    Fill,
    SharedFetches,
)
from ringcache.cluster.worker.reads import UfsSpan

from .fakes import PAGE, Parts, inline_io


def test_a_miss_is_answered_then_stored_whole(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(5 * PAGE + 7)
    uri = parts.write("a.bin", data)

    async def scenario() -> None:
        await parts.mounts.refresh()
        assert await parts.reads.read("/data/a.bin") == data
        await parts.reads.settled()
        info = parts.store.file_info(uri)
        assert info is not None and info.complete and info.cached_bytes == len(data)
        assert parts.reads.fills.waiting == 0 and len(parts.reads.shared) == 0
        assert await parts.reads.read("/data/a.bin", PAGE, 2 * PAGE) == data[PAGE : 3 * PAGE]

    run(scenario())
    assert parts.counters["misses"] == 6 and parts.counters["hits"] == 2


def test_a_local_ufs_file_not_cached_is_located_as_a_span_of_it(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(3 * PAGE)
    uri = parts.write("a.bin", data)

    async def scenario() -> PageSpan | bytes:
        await parts.mounts.refresh()
        found = await parts.reads.locate("/data/a.bin", 10, PAGE)
        await parts.reads.settled()
        return found

    found = run(scenario())
    assert isinstance(found, UfsSpan)
    assert os.path.samestat(os.fstat(found.file.fd), os.stat(parts.ufs_root / "a.bin"))
    assert found.file.read(found.offset, found.length) == data[10 : 10 + PAGE]
    # The two pages it needs were copied into the store after the answer: now a hit.
    assert parts.store.file_info(uri).cached_bytes == 2 * PAGE
    assert run(parts.reads.read("/data/a.bin", 10, PAGE)) == data[10 : 10 + PAGE]
    assert parts.counters["hits"] == 2 and parts.counters["bytesServed"] == 2 * PAGE


def test_readers_missing_the_same_pages_at_once_share_one_ufs_read(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path, run_io=asyncio.to_thread)
    data = os.urandom(4 * PAGE + 1)
    parts.write("a.bin", data)
    fetcher = parts.reads.fetcher
    real_read, calls = fetcher.read, []
    entered = threading.Event()

    def slow_read(*args):
        calls.append(args[3:])
        entered.set()
        time.sleep(0.3)  # a slow UFS: the other readers arrive meanwhile
        return real_read(*args)

    fetcher.read = slow_read  # type: ignore[method-assign]

    async def scenario() -> list[bytes]:
        await parts.mounts.refresh()
        first = asyncio.create_task(parts.reads.read("/data/a.bin"))
        await asyncio.to_thread(entered.wait, 5)
        others = [parts.reads.read("/data/a.bin", PAGE, 2 * PAGE) for _ in range(3)]
        answers = await asyncio.gather(first, *others)
        await parts.reads.settled()
        return answers

    answers = run(scenario())
    assert answers == [data] + [data[PAGE : 3 * PAGE]] * 3
    assert calls == [(0, 5)]  # one ranged read of the five pages, for all four readers
    assert (parts.counters["misses"], parts.counters["hits"]) == (5, 6)
    assert parts.counters["bytesFromUfs"] == len(data)


def test_a_failed_fetch_is_forgotten_so_the_next_reader_fetches_again() -> None:
    shared = SharedFetches()
    version = FileVersion(10, None, None)
    mine, theirs = shared.claim("u", version, [0, 1])
    assert mine == [0, 1] and not theirs
    waiting = shared.claim("u", version, [1, 2])
    assert waiting[0] == [2] and set(waiting[1]) == {1}
    shared.fail("u", mine, OSError("the UFS went away"))
    with pytest.raises(OSError, match="went away"):
        waiting[1][1].result(0)
    assert shared.claim("u", version, [0, 1])[0] == [0, 1]  # fetched afresh
    # Another version of the file shares nothing with this one.
    assert shared.claim("u", FileVersion(11, None, None), [0])[0] == [0]


def test_the_backlog_is_bounded_and_given_back(run) -> None:
    fills = DeferredFills(inline_io, backlog_bytes=10)
    assert fills.reserve(8)
    assert not fills.reserve(8)  # over the bound: the reader stores its own
    stored = []

    async def scenario() -> None:
        fills.start("a", Fill(lambda: stored.append("a"), 8))
        await fills.wait("a")

    run(scenario())
    assert stored == ["a"] and fills.waiting == 0
    assert fills.reserve(20)  # an empty backlog takes any one fill


def test_each_file_is_told_stored_once_its_last_fill_is_done(run, caplog) -> None:
    fills = DeferredFills(inline_io)
    stored: list[str] = []
    told: list[tuple[str, list[str]]] = []

    def on_stored(key: str) -> None:
        told.append((key, list(stored)))
        if key == "b":
            raise RuntimeError("a listener that fails")

    fills.on_stored = on_stored

    async def scenario() -> None:
        for key in ("a", "b", "a"):
            fills.start(key, Fill(lambda key=key: stored.append(key), 0))
        await fills.settled()
        fills.start("c", Fill(lambda: stored.append("c"), 0))  # after a failed listener
        await fills.settled()

    with caplog.at_level(logging.ERROR):
        run(scenario())
    # "a" once both its fills are done, "b" once its one is; each after its pages.
    assert told == [("b", ["a", "b"]), ("a", ["a", "b", "a"]), ("c", ["a", "b", "a", "c"])]
    assert "telling that b was stored failed" in caplog.text


def test_no_descriptor_of_a_ufs_file_is_left_open(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each is closed by its holder, not only when collected (which would hide a leak here).
    collected_open: list[str] = []

    def collected(self: LocalFile) -> None:
        if self.fd >= 0:
            collected_open.append(self.status.path)
            self.close()

    monkeypatch.setattr(LocalFile, "__del__", collected)
    parts = Parts(tmp_path)
    for name in ("a.bin", "b.bin", "c.bin"):
        parts.write(name, os.urandom(4 * PAGE))

    async def scenario() -> None:
        await parts.mounts.refresh()
        reads = parts.reads
        for offset, length in [(0, PAGE), (2 * PAGE, PAGE), (PAGE, 2 * PAGE), (0, None)]:
            found = await reads.locate("/data/a.bin", offset, length)  # cold, partly, hit
            if isinstance(found, UfsSpan):
                found.file.close()
            await reads.read("/data/b.bin", offset, length)
            await reads.settled()
        parts.replace("c.bin", os.urandom(2 * PAGE))
        found = await reads.locate("/data/c.bin", 0, PAGE)
        parts.replace("c.bin", os.urandom(3 * PAGE))  # changed before its fill runs
        found.file.close()
        await reads.settled()

    run(scenario())
    gc.collect()
    assert ufs_files_open(parts.ufs_root) == [] and collected_open == []


def ufs_files_open(root: Path) -> list[str]:
    """The files under `root` this process holds a descriptor of."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
        if target.startswith(f"{root}/"):
            found.append(target)
    return found


def test_without_cached_spans_a_hit_is_bytes_and_a_cold_local_range_still_a_span(
    tmp_path: Path, run
) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(2 * PAGE)
    parts.write("a.bin", data)
    parts.write("b.bin", data)

    async def scenario() -> tuple[PageSpan | bytes, PageSpan | bytes, PageSpan | bytes]:
        await parts.mounts.refresh()
        await parts.reads.read("/data/a.bin")
        await parts.reads.settled()
        hit = await parts.reads.locate("/data/a.bin", 1, 10, cached_spans=False)
        cold = await parts.reads.locate("/data/b.bin", 1, 10, cached_spans=False)
        spanned = await parts.reads.locate("/data/a.bin", 1, 10)
        return hit, cold, spanned

    hit, cold, spanned = run(scenario())
    assert hit == data[1:11]  # cached: copied, as no cache file may be handed out
    assert isinstance(cold, UfsSpan) and (cold.offset, cold.length) == (1, 10)
    assert isinstance(spanned, PageSpan) and not isinstance(spanned, UfsSpan)


def test_fills_dropped_when_the_loop_stops_let_their_pages_go(tmp_path: Path) -> None:
    parts = Parts(tmp_path, run_io=asyncio.to_thread)
    data = os.urandom(3 * PAGE)
    uri = parts.write("a.bin", data)
    fetcher = parts.reads.fetcher

    def slow_keep(*args, **kwargs):
        time.sleep(0.5)  # still storing the first file when the loop stops

    fetcher.keep = slow_keep  # type: ignore[method-assign]

    async def scenario() -> None:
        await parts.mounts.refresh()
        parts.write("b.bin", data)
        assert await parts.reads.read("/data/a.bin") == data  # its fill starts, and sleeps
        assert await parts.reads.read("/data/b.bin") == data  # its fill waits behind
        assert len(parts.reads.shared) == 6

    asyncio.run(scenario())  # stops the loop: the waiting fill is dropped
    time.sleep(0.6)
    assert len(parts.reads.shared) == 0 and parts.reads.fills.waiting == 0
    assert parts.store.file_info(uri) is not None  # recorded on the miss, pages never stored


def test_a_file_freed_while_its_pages_wait_to_be_stored_is_not_cached_again(
    tmp_path: Path, run
) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(2 * PAGE)
    uri = parts.write("a.bin", data)

    async def scenario() -> None:
        await parts.mounts.refresh()
        assert await parts.reads.read("/data/a.bin") == data
        assert parts.reads.fills.waiting == len(data)  # its fill waits its turn
        parts.store.remove_file(uri)  # freed meanwhile
        await parts.reads.settled()

    run(scenario())
    assert parts.store.file_info(uri) is None
    assert len(parts.reads.shared) == 0 and parts.reads.fills.waiting == 0


def test_a_local_miss_is_handed_over_before_its_pages_are_copied(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    data = os.urandom(3 * PAGE)
    uri = parts.write("a.bin", data)

    async def scenario() -> tuple[int, int]:
        await parts.mounts.refresh()
        found = await parts.reads.locate("/data/a.bin")
        assert isinstance(found, UfsSpan)
        before = parts.store.file_info(uri).cached_bytes  # answered: nothing copied yet
        await parts.reads.settled()
        return before, parts.store.file_info(uri).cached_bytes

    assert run(scenario()) == (0, 3 * PAGE)
    assert run(parts.reads.read("/data/a.bin")) == data and parts.counters["hits"] == 3


@pytest.mark.parametrize("renamed", [False, True], ids=["written-in-place", "renamed-over"])
def test_a_local_file_changed_before_its_pages_are_copied_is_not_kept(
    tmp_path: Path, run, renamed: bool
) -> None:
    # Changed after the answer, before the copy: the old version's record is dropped and
    # the next read is the new file. The span handed over is the file opened when it was
    # located (its real path checked then): a new file renamed over its path is not what
    # it reads; a write in place to that same file is.
    parts = Parts(tmp_path)
    old, new = os.urandom(3 * PAGE), os.urandom(3 * PAGE)
    uri = parts.write("a.bin", old)

    async def scenario() -> tuple[bytes, bytes]:
        await parts.mounts.refresh()
        found = await parts.reads.locate("/data/a.bin")
        assert isinstance(found, UfsSpan)
        parts.replace("a.bin", new, renamed=renamed)  # after the answer, before the copy
        await parts.reads.settled()
        assert parts.store.file_info(uri) is None  # the old version's record is dropped
        with found.file:
            sent = found.file.read(found.offset, found.length)
        return sent, await parts.read("/data/a.bin")

    sent, after = run(scenario())
    assert sent == (old if renamed else new)
    assert after == new and parts.store.file_info(uri).complete


def test_a_cold_local_range_is_located_without_an_io_thread_and_others_with_one(
    tmp_path: Path, run
) -> None:
    hops: list[str] = []

    async def counting_io(function, *args, **kwargs):
        hops.append(getattr(function, "__name__", type(function).__name__))
        return function(*args, **kwargs)

    parts = Parts(tmp_path, run_io=counting_io)
    data = os.urandom(4 * PAGE)
    parts.write("a.bin", data)

    async def scenario() -> list[list[str]]:
        await parts.mounts.refresh()
        seen = []
        # Metadata only, on the loop: a file not cached; then, of the file partly cached,
        # a range none of whose pages is (a block-by-block reader's next block).
        for offset, length in [(0, PAGE), (2 * PAGE, 2 * PAGE)]:
            hops.clear()
            found = await parts.reads.locate("/data/a.bin", offset, length)
            assert isinstance(found, UfsSpan)
            found.file.close()
            seen.append(list(hops))
            hops.clear()
            await parts.reads.settled()  # the copy into the store runs on an I/O thread
            seen.append(list(hops))
        hops.clear()
        # A range with a page cached and one not (bytes read and joined): on a thread.
        assert await parts.reads.locate("/data/a.bin", PAGE // 2, PAGE) == data[PAGE // 2 :][:PAGE]
        seen.append(list(hops))
        return seen

    assert run(scenario()) == [[], ["_run_each"], [], ["_run_each"], ["_read"]]


def test_a_noted_range_stores_and_counts_only_its_pages_not_cached(tmp_path: Path, run) -> None:
    # What a same-host reader read itself from a held UFS file: stored as misses it was.
    parts = Parts(tmp_path)
    data = os.urandom(6 * PAGE)
    uri = parts.write("a.bin", data)
    parts.write("scratch/b.bin", data)
    parts.set_policies(filters=[FilterRule.parse(".*/scratch/.*", CacheRule.SKIP_CACHE.value)])

    async def scenario() -> None:
        await parts.mounts.refresh()
        assert await parts.read("/data/a.bin", PAGE, 10) == data[PAGE : PAGE + 10]
        # Pages 0, 2 to 5 missing; the ranges in page 0 and those read twice count once.
        noted = [(2 * PAGE, 4 * PAGE - 5), (5, 10), (20, PAGE - 20), (3 * PAGE, 100), (0, -1)]
        await parts.told.noted("/data/a.bin", noted)
        await parts.told.noted("/data/scratch/b.bin", [(0, PAGE)])  # not cached by the rules
        await parts.reads.settled()

    run(scenario())
    info = parts.store.file_info(uri)
    assert info is not None and info.complete
    assert parts.store.file_info(parts.uri("scratch/b.bin")) is None
    assert parts.counters["misses"] == 6 and parts.counters["hits"] == 0
    assert parts.counters["bytesServed"] == 10 + 6 * PAGE - 10 - PAGE  # page 1 not again
    assert run(parts.reads.read("/data/a.bin")) == data


def test_served_ranges_count_as_hits_only_over_pages_still_cached(tmp_path: Path, run) -> None:
    # What a same-host reader read itself from cached files without asking: counted as hits.
    parts = Parts(tmp_path, capacity=5 * PAGE)
    data = os.urandom(4 * PAGE + 7)
    uri = parts.write("a.bin", data)
    parts.write("b.bin", os.urandom(PAGE))
    # One range per page of a.bin (the last clamped to its 7 bytes), a bad one, one past the end.
    served = [(0, 10), (PAGE + 1, 2), (2 * PAGE + 5, 10), (3 * PAGE, 100), (4 * PAGE, 100)]

    async def scenario() -> tuple[dict[str, int], list[int]]:
        await parts.mounts.refresh()
        assert await parts.read("/data/a.bin") == data
        await parts.reads.settled()
        assert await parts.read("/data/b.bin")  # evicts a page of a.bin
        await parts.reads.settled()
        missing = parts.store.missing_pages(uri)
        before = dict(parts.counters)
        await parts.told.served("/data/a.bin", [*served, (-5, 10), (9 * PAGE, 10)])
        await parts.told.served("/data/missing.bin", [(0, 10)])  # not cached: nothing
        return {key: parts.counters[key] - before[key] for key in before}, missing

    changed, missing = run(scenario())
    assert len(missing) == 1
    kept = [(offset, min(length, len(data) - offset)) for offset, length in served]
    kept = [(offset, length) for offset, length in kept if offset // PAGE not in missing]
    assert changed["hits"] == len(kept) == 4 and changed["misses"] == 0
    assert changed["bytesServed"] == changed["bytesFromCache"] == sum(n for _, n in kept)


class StillClock:
    """Time moves only when the test moves it; a sleep only lets the loop go round."""

    def __init__(self) -> None:
        self.time = 1000.0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def go_round(times: int = 30) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


def queued(fills: DeferredFills, stored: list[str], key: str = "a", size: int = 1) -> None:
    assert fills.reserve(size)
    fills.start(key, Fill(lambda: stored.append(key), size))


def test_a_fill_waits_while_reads_keep_coming_and_runs_in_their_pause(run) -> None:
    clock = StillClock()
    fills = DeferredFills(inline_io, backlog_bytes=100, clock=clock)
    stored: list[str] = []

    async def scenario() -> None:
        fills.note_read()
        queued(fills, stored)
        for _ in range(5):  # a read every half pause
            await go_round()
            assert stored == []
            clock.time += QUIET_SECONDS / 2
            fills.note_read()
        clock.time += QUIET_SECONDS  # then none for a pause's length
        await go_round()
        assert stored == ["a"] and fills.waiting == 0

    run(scenario())


def test_a_fill_yields_to_reads_for_a_bounded_time_only(run) -> None:
    clock = StillClock()
    fills = DeferredFills(inline_io, backlog_bytes=100, clock=clock)
    stored: list[str] = []

    async def scenario() -> float:
        began = clock.now()
        fills.note_read()
        queued(fills, stored, "a")
        queued(fills, stored, "b")
        while len(stored) < 2:  # reads never pause
            await go_round()
            clock.time += QUIET_SECONDS / 2
            fills.note_read()
        return clock.now() - began

    # Both within the bound of their queueing: the second did not wait its own turn's worth.
    waited = run(scenario())
    assert stored == ["a", "b"]
    assert YIELD_SECONDS <= waited <= YIELD_SECONDS + QUIET_SECONDS


def test_a_fill_does_not_wait_when_waited_for_or_past_half_the_backlog(run) -> None:
    clock = StillClock()
    fills = DeferredFills(inline_io, backlog_bytes=100, clock=clock)
    stored: list[str] = []

    async def scenario() -> None:
        fills.note_read()
        queued(fills, stored, "a")
        queued(fills, stored, "b")
        await go_round()
        assert stored == []
        await asyncio.wait_for(fills.wait("a"), 5)  # a reader of `a` waits: stored now
        assert stored == ["a"]
        await go_round()
        assert stored == ["a"]  # then `b` yields to reads again
        queued(fills, stored, "c", 60)  # more than half the backlog waits to be stored
        await go_round()
        assert stored == ["a", "b", "c"]
        assert clock.now() == 1000.0  # no time passed: nothing waited for a pause

    run(scenario())


def test_local_copies_hold_no_backlog_and_keep_yielding_to_reads(tmp_path: Path, run) -> None:
    # Fills of local files of more than the whole backlog: none is stored before its read
    # answers, and none hurries (it holds no bytes in memory) while reads keep coming.
    clock = StillClock()
    parts = Parts(tmp_path)
    parts.reads.fills = DeferredFills(inline_io, backlog_bytes=4 * PAGE, clock=clock)
    names = [f"f{i}.bin" for i in range(4)]
    for name in names:
        parts.write(name, os.urandom(3 * PAGE))

    async def scenario() -> list[int]:
        await parts.mounts.refresh()
        for name in names:
            assert isinstance(await parts.reads.locate(f"/data/{name}"), UfsSpan)
            await go_round()
            clock.time += QUIET_SECONDS / 2  # the next read comes before a pause
        stored_meanwhile = sum(parts.store.file_info(u).cached_bytes for u in uris)
        assert parts.reads.fills.waiting == 0
        await parts.reads.settled()
        return [stored_meanwhile] + [parts.store.file_info(u).cached_bytes for u in uris]

    uris = [f"file://{parts.ufs_root}/{name}" for name in names]
    assert run(scenario()) == [0] + [3 * PAGE] * len(names)


def test_fills_queued_together_run_in_few_calls_and_one_failing_stops_no_other(run, caplog) -> None:
    calls: list[int] = []

    async def counting_io(function, fills):
        calls.append(len(fills))
        return function(fills)

    fills = DeferredFills(counting_io, backlog_bytes=1 << 40)
    stored: list[str] = []

    def broken() -> None:
        raise OSError("the cache disk is full")

    async def scenario() -> None:
        for n in range(BATCH_FILLS + 8):  # small files' fills, queued in one go
            if n == 3:
                assert fills.reserve(1)
                fills.start("bad", Fill(broken, 1))
            else:
                queued(fills, stored, f"f{n}")
        big = BATCH_BYTES // 2 + 1  # two of these are more than a batch's bytes
        queued(fills, stored, "big1", big)
        queued(fills, stored, "big2", big)
        await asyncio.wait_for(fills.settled(), 5)

    run(scenario())
    assert stored == [f"f{n}" for n in range(BATCH_FILLS + 8) if n != 3] + ["big1", "big2"]
    # BATCH_FILLS fills; then the other 8 with the first big one; the second big one alone.
    assert calls == [BATCH_FILLS, 9, 1] and fills.waiting == 0
    assert "the cache disk is full" in caplog.text


def test_a_miss_waits_only_for_the_fills_of_its_own_pages(tmp_path: Path, run) -> None:
    # A reader reading a file a block at a time (fsspec reads ahead so) misses each block
    # in turn: a block's miss does not wait for the copy of the block before it; a read of
    # pages a queued fill stores waits for that fill alone, and finds them stored.
    clock = StillClock()
    parts = Parts(tmp_path)
    parts.reads.fills = DeferredFills(inline_io, clock=clock)
    data = os.urandom(8 * PAGE)
    parts.write("a.bin", data)
    uri = f"file://{parts.ufs_root}/a.bin"

    async def scenario() -> tuple[int, bytes, int]:
        await parts.mounts.refresh()
        fills = parts.reads.fills
        fills.note_read()
        assert isinstance(await parts.reads.locate("/data/a.bin", 0, 4 * PAGE), UfsSpan)
        clock.time += QUIET_SECONDS / 2  # the next read comes before a pause
        second = await parts.reads.locate("/data/a.bin", 4 * PAGE, 4 * PAGE)
        assert isinstance(second, UfsSpan)  # from the UFS file, none of it stored yet
        before = parts.store.file_info(uri).cached_bytes
        again = await parts.reads.read("/data/a.bin", PAGE, PAGE)  # the first fill's pages
        return before, again, parts.store.file_info(uri).cached_bytes

    before, again, after = run(scenario())
    assert before == 0 and again == data[PAGE : 2 * PAGE]
    assert after == 4 * PAGE  # the first block's fill ran; the second's still yields
    assert parts.reads.counters["hits"] == 1


def test_waiting_for_a_files_pages_hurries_only_the_fills_that_store_them(run) -> None:
    clock = StillClock()
    fills = DeferredFills(inline_io, backlog_bytes=100, clock=clock)
    stored: list[str] = []

    def start(name: str, pages: tuple[int, int] | None) -> None:
        assert fills.reserve(1)
        fills.start("f", Fill(lambda: stored.append(name), 1, pages=pages))

    async def scenario() -> None:
        fills.note_read()
        start("low", (0, 3))
        start("high", (8, 11))
        await go_round()
        await asyncio.wait_for(fills.wait("f", 4, 7), 5)  # no fill stores those
        assert stored == []
        await asyncio.wait_for(fills.wait("f", 3, 5), 5)
        assert stored == ["low"]
        await go_round()
        assert stored == ["low"]  # `high` yields to reads again
        start("any", None)  # a fill that may store any page of the file
        await asyncio.wait_for(fills.wait("f", 20, None), 5)
        assert stored == ["low", "high", "any"]

    run(scenario())


def test_a_range_none_of_whose_pages_is_cached_is_a_span_of_the_local_file_it_partly_is(
    tmp_path: Path, run
) -> None:
    # A file read a block at a time: each block's miss is handed over from the UFS file,
    # though the blocks before it are cached by then; a range with a page cached is not.
    parts = Parts(tmp_path)
    data = os.urandom(8 * PAGE + 3)
    uri = parts.write("a.bin", data)
    path = str(parts.ufs_root / "a.bin")

    async def scenario() -> tuple[PageSpan | bytes, PageSpan | bytes, int]:
        await parts.mounts.refresh()
        assert isinstance(await parts.reads.locate("/data/a.bin", 0, 4 * PAGE), UfsSpan)
        await parts.reads.settled()
        assert parts.store.file_info(uri).cached_bytes == 4 * PAGE
        second = await parts.reads.locate("/data/a.bin", 4 * PAGE + 1, None)
        straddling = await parts.reads.locate("/data/a.bin", 3 * PAGE, 2 * PAGE)
        await parts.reads.settled()
        return second, straddling, parts.store.file_info(uri).cached_bytes

    second, straddling, stored = run(scenario())
    assert isinstance(second, UfsSpan)
    assert os.path.samestat(os.fstat(second.file.fd), os.stat(path))
    assert (second.offset, second.length) == (4 * PAGE + 1, 4 * PAGE + 2)
    assert second.file.read(second.offset, second.length) == data[4 * PAGE + 1 :]
    assert not isinstance(straddling, UfsSpan)  # page 3 is cached: not from the UFS file
    assert bytes(straddling) == data[3 * PAGE : 5 * PAGE]
    assert stored == len(data)  # the second block's pages were copied after its answer
    assert parts.counters["misses"] == 9 and parts.counters["hits"] == 2


@pytest.mark.parametrize("spans", [True, False], ids=["located", "read"])
def test_a_partly_cached_file_changed_on_the_ufs_is_read_afresh_never_half_of_each(
    tmp_path: Path, run, spans: bool
) -> None:
    # Its cached pages are of the old version: a miss of its other pages drops them and
    # is answered from the new file (handed over where spans are wanted), and the pages
    # cached before are read afresh too.
    parts = Parts(tmp_path)
    old, new = os.urandom(4 * PAGE), os.urandom(4 * PAGE)
    uri = parts.write("a.bin", old)

    async def scenario() -> tuple[PageSpan | bytes, bytes]:
        await parts.mounts.refresh()
        assert await parts.reads.read("/data/a.bin", 0, 2 * PAGE) == old[: 2 * PAGE]
        await parts.reads.settled()
        assert parts.store.file_info(uri).cached_bytes == 2 * PAGE
        parts.replace("a.bin", new)
        reads = parts.reads
        second = await (reads.locate if spans else reads.read)("/data/a.bin", 2 * PAGE, 2 * PAGE)
        await reads.settled()
        return second, await reads.read("/data/a.bin")

    second, whole = run(scenario())
    if spans:
        assert isinstance(second, UfsSpan)
        assert second.file.read(second.offset, second.length) == new[2 * PAGE :]
    else:
        assert second == new[2 * PAGE :]
    assert whole == new  # not the old version's first half beside the new second half
