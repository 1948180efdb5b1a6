"""Per-file results: built in one place, typed, cheap to pickle and to read."""

from __future__ import annotations

import pickle

from ringcache.cluster.results import (
    FailureReason,
    FileOutcome,
    FileResult,
    all_failed,
    failure,
    filtered,
    freed,
    loaded,
    not_cached,
    skipped,
)


def test_each_builder_makes_its_outcome() -> None:
    built = [
        loaded("a", 5, "peer"),
        skipped("a", 5),
        filtered("a", 5),
        freed("a", 5),
        not_cached("a"),
        failure("a", FailureReason.UFS_NOT_FOUND, "gone"),
    ]
    assert [r.status for r in built] == [
        FileOutcome.LOADED,
        FileOutcome.SKIPPED,
        FileOutcome.FILTERED,
        FileOutcome.FREED,
        FileOutcome.NOT_CACHED,
        FileOutcome.FAILED,
    ]
    assert [r.bytes for r in built] == [5, 5, 5, 5, 0, 0]
    assert built[0].source == "peer" and not built[0].failed
    assert built[-1].failed and (built[-1].reason, built[-1].message) == ("UFS_NOT_FOUND", "gone")
    assert all(type(r) is FileResult and r.path == "a" for r in built)


def test_a_result_crosses_a_pickle_with_its_outcome_the_same_member() -> None:
    result = failure("a", FailureReason.QUOTA_EXCEEDED, "over", {"path": "/data"})
    back = pickle.loads(pickle.dumps(result))
    assert back == result and back.status is FileOutcome.FAILED
    assert back.quota == {"path": "/data"} and back.reason == "QUOTA_EXCEEDED"


def test_a_batch_that_failed_as_a_whole_answers_each_file() -> None:
    answers = all_failed(["a", "b"], FailureReason.WORKER_FAILED, "w1 down")
    assert [(r.path, r.reason, r.message) for r in answers] == [
        ("a", "WORKER_FAILED", "w1 down"),
        ("b", "WORKER_FAILED", "w1 down"),
    ]
