"""User patterns: RE2, linear in the name, and a 400 for what RE2 cannot match."""

from __future__ import annotations

import time

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.policies.patterns import MAX_PATTERN_LENGTH, compile_user_pattern
from ringcache.cluster.policies.rules import FilterRule


def test_a_backtracking_pattern_is_linear() -> None:
    pattern = compile_user_pattern("(a+)+$")
    started = time.perf_counter()
    assert not pattern.fullmatch("a" * 100_000 + "b")
    # Python's re takes longer than the age of the universe here; RE2 a few ms.
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("bad", ["(a)\\1", "(?=x)", "(", "", "x" * (MAX_PATTERN_LENGTH + 1)])
def test_unsupported_or_invalid_patterns_are_400(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        compile_user_pattern(bad)


def test_search_and_fullmatch_as_re_does() -> None:
    pattern = compile_user_pattern(r".*\.csv")
    assert pattern.fullmatch("s3://b/x.csv") and not pattern.fullmatch("s3://b/x.csv.gz")
    assert compile_user_pattern(r"\.csv").search("file:///a.csv.gz")


def test_names_that_are_not_unicode_match_without_raising() -> None:
    assert compile_user_pattern(".*bin").fullmatch("file:///\udcff.bin")
    assert not compile_user_pattern("x").search("\ud800")


def test_cache_filter_rules_use_the_same_engine() -> None:
    with pytest.raises(InvalidArgument):
        FilterRule.parse("(a)\\1", "skipCache")
    assert FilterRule.parse(".*/tmp/.*", "skipCache").matches("file:///d/tmp/x")
