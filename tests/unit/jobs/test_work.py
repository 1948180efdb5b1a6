"""How load and free merge their workers' answers per file and count them."""

from __future__ import annotations

from ringcache.cluster.jobs.work import FreeWork, LoadWork, failure_entry
from ringcache.cluster.results import (
    FailureReason,
    FileOutcome,
    failure,
    filtered,
    freed,
    loaded,
    not_cached,
    skipped,
)
from ringcache.cluster.ufs.filesystem import FileStatus

FILE = FileStatus("file:///srv/data/a", 100, 2.0, "e1")
QUOTA = {"path": "/data", "totalBytes": 50, "remaining": 0}


def load_counters() -> dict[str, int]:
    names = ("loadedBytes", "loadedNonEmptyFiles", "skippedFiles", "skippedBytes", "failedFiles")
    return dict.fromkeys(names, 0)


def test_a_load_is_loaded_if_any_owner_loaded_it_else_skipped() -> None:
    work = LoadWork({"replicas": 2}, "j1")
    both = work.merge([skipped(FILE.path, 100), loaded(FILE.path, 100)])
    assert (both.status, both.bytes) == (FileOutcome.LOADED, 100)
    assert work.merge([skipped(FILE.path, 100), filtered(FILE.path, 100)]).status == "SKIPPED"
    counters = load_counters()
    work.count(counters, FILE, both)
    work.count(counters, FILE, work.merge([filtered(FILE.path, 100)]))
    assert counters == {
        "loadedBytes": 100,
        "loadedNonEmptyFiles": 1,
        "skippedFiles": 1,
        "skippedBytes": 100,
        "failedFiles": 0,
    }


def test_any_failure_fails_a_load_and_keeps_the_quota_that_refused_it() -> None:
    work = LoadWork({}, "j1")
    refused = failure(FILE.path, FailureReason.QUOTA_EXCEEDED, "over", QUOTA)
    outcome = work.merge([loaded(FILE.path, 100), refused])
    assert outcome.failed and outcome.reason == "QUOTA_EXCEEDED"
    assert failure_entry(FILE, outcome) == {
        "path": FILE.path,
        "reason": "QUOTA_EXCEEDED",
        "message": "over",
        "size": 100,
        "mtime": 2.0,
        "etag": "e1",
        "quota": QUOTA,
    }
    counters = load_counters()
    work.count(counters, FILE, outcome)
    assert counters["failedFiles"] == 1 and counters["loadedBytes"] == 0


def test_a_load_asks_its_owners_with_the_jobs_worker_options() -> None:
    work = LoadWork({"loadPolicy": "IF_CHANGED", "bandwidth": 10}, "j1")
    files, options = work.arguments([FILE])
    assert files == [FILE] and options == {
        "jobId": "j1",
        "skipIfExists": False,
        "ifChanged": True,
        "bandwidth": 10,
    }


def test_a_free_sums_what_every_worker_freed() -> None:
    work = FreeWork({}, "j1")
    outcome = work.merge([freed(FILE.path, 60), not_cached(FILE.path), freed(FILE.path, 40)])
    assert (outcome.status, outcome.bytes) == (FileOutcome.FREED, 100)
    assert work.merge([not_cached(FILE.path)]).status is FileOutcome.NOT_CACHED
    assert work.merge([]).status is FileOutcome.NOT_CACHED  # no worker asked
    gone = work.merge([freed(FILE.path, 60), failure(FILE.path, "", "down")])
    assert gone.failed and gone.reason == FailureReason.WORKER_FAILED
    assert work.plan([FILE, FILE], None, {"w2", "w1"}) == {"w1": [0, 1], "w2": [0, 1]}
