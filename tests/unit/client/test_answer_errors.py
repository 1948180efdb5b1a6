"""A data server's error answer becomes the domain error it names, as the caller catches it."""

from __future__ import annotations

import pytest

from ringcache.client.data import Unauthorized, answer_error
from ringcache.cluster.errors import (
    Conflict,
    FailureReason,
    Gone,
    InvalidArgument,
    NotFound,
    NotSupported,
    RingcacheError,
    UfsError,
    UfsNotFound,
    Unavailable,
)
from ringcache.cluster.ufs.local_roots import OutsideLocalRoots


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (404, FailureReason.UFS_NOT_FOUND, UfsNotFound),
        (403, FailureReason.OUTSIDE_LOCAL_ROOTS, OutsideLocalRoots),
        (500, FailureReason.UFS_READ_FAILED, UfsError),
        (400, None, InvalidArgument),
        (401, None, Unauthorized),
        (404, None, NotFound),
        (409, None, Conflict),
        (410, None, Gone),
        (501, None, NotSupported),
        (503, None, Unavailable),
    ],
)
def test_each_answer_is_the_error_it_names(status: int, reason: str | None, expected) -> None:
    error = answer_error(status, "said", reason)
    assert type(error) is expected
    assert error.status_code == status
    if reason is not None:
        assert error.reason == reason


def test_an_unknown_status_keeps_its_code() -> None:
    error = answer_error(418, "teapot", None)
    assert type(error) is RingcacheError and error.status_code == 418 and "418" in str(error)
