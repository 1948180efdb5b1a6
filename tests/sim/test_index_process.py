"""The simulator's file index in a helper process answers as the one in this process does."""

from __future__ import annotations

import inspect
import random
import signal
import threading
from multiprocessing import Pipe

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.index.file_index import FileIndex, FileRecord
from ringcache.simulations.costs import IoMeter, NetworkModel, NodeModel
from ringcache.simulations.index import (
    FORWARDED,
    IndexProcess,
    KeptFileIndex,
    _encoded,
    serve_index,
)

ROOT = "sim://data"
WORKERS = [f"worker-{n}" for n in range(4)]


@pytest.fixture(scope="module")
def helper():
    index = IndexProcess()
    yield index
    index.discard()


def _random_reports(rng: random.Random, paths: list[str]) -> list:
    reports = []
    for _ in range(rng.randrange(1, 4)):
        held = [
            (FileRecord(path, rng.randrange(1, 4) * 100, 1.0, rng.choice([None, "e1", "e2"])), 50)
            for path in rng.sample(paths, rng.randrange(0, 6))
        ]
        dropped = rng.sample(paths, rng.randrange(0, 3))
        reports.append((rng.choice(WORKERS), held, dropped, rng.random() < 0.1))
    return reports


def _as_sent(held: list, dropped: list) -> list[list]:
    """A report's files as a worker's `drain_index_reports` sends them."""
    files = [[r.path, r.length, r.mtime, r.etag, cached] for r, cached in held]
    return files + [[path] for path in dropped]


def test_the_helper_answers_every_call_as_the_index_here_does(helper) -> None:
    here = KeptFileIndex()
    rng = random.Random(5)
    paths = [f"{ROOT}/d{n % 3}/f{n:03d}" for n in range(40)]

    def both(name: str, *args):
        expected, got = getattr(here, name)(*args), getattr(helper, name)(*args)
        assert got == expected, name
        return got

    both("track_usage", [f"{ROOT}/d1"])
    for step in range(60):
        reports = _random_reports(rng, paths)
        if step % 2:
            here.apply_reports(reports)
            helper.apply_reports(reports)
        else:  # as workers send them
            drained = [(w, _as_sent(held, dropped), full) for w, held, dropped, full in reports]
            here.apply_worker_reports(drained)
            helper.apply_worker_reports(drained)
        if step % 5 == 0:
            worker, path = rng.choice(WORKERS), rng.choice(paths)
            both("record_cached", path, 300, 1.0, "e1", worker)
            both("record_dropped", rng.choice(paths), worker)
            both("apply_report", worker, [(FileRecord(path, 300, 1.0, "e1"), 7)], [])
            both("add_stat_only", [FileRecord(rng.choice(paths), 200, 2.0, None)])
        if step % 7 == 0:
            both("remove", rng.sample(paths, 2))
        if step == 30:
            both("forget_worker", WORKERS[0])
            both("remove_under", f"{ROOT}/d2")
        both("list", None, None, 100)
        both("list", f"{ROOT}/d1/", rng.choice(paths), 5)
        both("get", rng.choice(paths))
        both("holders", rng.choice(paths))
        both("count")
        both("cached_bytes", f"{ROOT}/d0")
        both("holding_workers")
        assert set(both("holding_workers")) <= both("reported_workers")
        both("held_by", set(WORKERS[1:3]), None, 50)
        both("held_bytes", rng.choice(WORKERS), paths[:10])
        both("usage_and_holdings", {f"{ROOT}/d1": paths[:5]})
        both("usage")
    assert both("count") > 0


def test_a_bad_report_raises_here_writes_nothing_and_costs_what_it_would_here(helper) -> None:
    before = helper.count()
    good = (FileRecord(f"{ROOT}/good", 1, None, None), 1)
    bad = (FileRecord(f"{ROOT}/bad", -1, None, None), 1)
    here = KeptFileIndex()
    delays = []
    for index in (here, helper):
        index.meter = IoMeter(NodeModel(index_rows_per_second=1.0), NetworkModel(), None)
        with pytest.raises(InvalidArgument):
            index.apply_reports([("worker-0", [good, bad], [f"{ROOT}/gone"], False)])
        delays.append(index.meter.settle(0.0))
        index.meter = None
    assert delays == [3.0, 3.0]  # three rows, charged in both places
    with pytest.raises(InvalidArgument):  # a bad call is the index's answer too
        helper.list(None, None, 0)
    assert helper.count() == before


@pytest.mark.parametrize(
    "bad",
    [
        [f"{ROOT}/bad", -1, None, None, 1],
        [f"{ROOT}/bad", True, None, None, 1],
        ["", 1, None, None, 1],
        [f"{ROOT}/bad", 1, "yesterday", None, 1],
        [f"{ROOT}/bad", 1, None, 7, 1],
        [f"{ROOT}/bad", 1, None, None, None],
        [f"{ROOT}/bad", 1, None],
    ],
)
def test_a_bad_worker_report_raises_here_and_writes_and_costs_nothing(helper, bad) -> None:
    before = helper.count()
    here = KeptFileIndex()
    for index in (here, helper):
        index.meter = IoMeter(NodeModel(index_rows_per_second=1.0), NetworkModel(), None)
        report = ("worker-0", [[f"{ROOT}/good", 1, 2.0, "e", 1], bad, [f"{ROOT}/gone"]], False)
        with pytest.raises(InvalidArgument):
            index.apply_worker_reports([report])
        assert index.meter.settle(0.0) == 0.0
        index.meter = None
    assert helper.count() == before and here.count() == 0


def test_a_write_the_helper_fails_fails_every_later_call() -> None:
    index = IndexProcess()
    try:
        unbindable = FileRecord(f"{ROOT}/x", 1, [1.0], None)  # type: ignore[arg-type]
        index.apply_reports([("worker-0", [(unbindable, 1)], [], False)])  # sent unchecked
        with pytest.raises(RuntimeError, match="failed a report write"):
            index.count()
        with pytest.raises(RuntimeError, match="failed a report write"):
            index.apply_reports([])
    finally:
        index.discard()
    assert index._process.poll() is not None  # stopped


def test_the_helper_stops_when_its_caller_goes_away() -> None:
    index = IndexProcess()
    index.apply_reports([("worker-0", [(FileRecord(f"{ROOT}/a", 1, None, None), 1)], [], False)])
    index._requests.close()  # as when this process dies: the helper reads an end of file
    assert index._process.wait(timeout=30) == 0
    index._replies.close()


def test_the_helper_leaves_a_ctrl_c_to_the_simulation() -> None:
    index = IndexProcess()
    try:
        assert index.count() == 0  # serving, so past setting what a SIGINT does to it
        index._process.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C reaches it too
        assert index.count() == 0  # still answering
    finally:
        index.discard()


def test_every_public_call_of_the_index_reaches_the_helper() -> None:
    public = {
        name
        for name, member in inspect.getmembers(FileIndex, inspect.isfunction)
        if not name.startswith("_")
    }
    handled = FORWARDED | {name for name in vars(IndexProcess) if not name.startswith("_")}
    assert public - {"open"} <= handled
    assert FORWARDED <= public


def test_the_helper_answers_an_unpicklable_answer_with_an_error_and_serves_on(monkeypatch) -> None:
    """`serve_index` itself, over a pipe in this process: requests queued ahead of the
    index are served in order, an answer that does not pickle comes back as an error,
    and the calls after it are still answered."""
    monkeypatch.setattr(FileIndex, "usage", lambda self: lambda: None)  # no pickle for it
    requests_in, requests_out = Pipe(duplex=False)
    replies_in, replies_out = Pipe(duplex=False)
    server = threading.Thread(target=serve_index, args=(requests_in, replies_out), daemon=True)
    server.start()
    record = (f"{ROOT}/a", 7, 1.0, None, 7)
    requests_out.send_bytes(
        _encoded((1, "apply_plain", ([("worker-0", [record], [], False)],), {}))
    )
    requests_out.send_bytes(_encoded((2, "usage", (), {})))
    requests_out.send_bytes(_encoded((3, "holders", (f"{ROOT}/a",), {})))
    ticket, ok, error = replies_in.recv()
    assert (ticket, ok) == (2, False)
    assert "unpicklable answer to usage" in str(error)
    assert replies_in.recv() == (3, True, ["worker-0"])
    requests_out.close()
    server.join(timeout=10)
    assert not server.is_alive()  # it stops once the other end goes away
