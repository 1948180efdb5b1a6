"""User regexes (`fileFilterRegex`, cache-filter patterns) compiled by a linear-time engine.

Patterns come from users and are matched on the coordinator's event loop and in workers,
against every file name a job lists. Python's `re` backtracks: `(a+)+$` against a long
name runs for seconds or forever. RE2 matches in time linear in the input and refuses
what it cannot match that way (backreferences, lookaround), which is a 400 at submit.
"""

from __future__ import annotations

from typing import Protocol

import re2

from ..errors import InvalidArgument

MAX_PATTERN_LENGTH = 4096
# RE2 bounds the memory of one compiled program; a pattern past it is refused, not slow.
MAX_PROGRAM_BYTES = 8 << 20


class _Compiled(Protocol):
    def search(self, text: str) -> object | None: ...

    def fullmatch(self, text: str) -> object | None: ...


class UserPattern:
    """A user's regex, compiled once. Guarantees: matching takes time linear in the name
    and never raises, whatever the name holds (a file name undecodable as UTF-8 is matched
    with its bad bytes replaced)."""

    __slots__ = ("pattern", "_regex")

    def __init__(self, pattern: str, regex: _Compiled) -> None:
        self.pattern = pattern
        self._regex = regex

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text` (`re.search`)."""
        return self._regex.search(_encodable(text)) is not None

    def fullmatch(self, text: str) -> bool:
        """Whether the pattern matches all of `text` (`re.fullmatch`)."""
        return self._regex.fullmatch(_encodable(text)) is not None

    def __repr__(self) -> str:
        return f"UserPattern({self.pattern!r})"


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the caller's 400, not a line on stderr
    options.max_mem = MAX_PROGRAM_BYTES
    return options


_OPTIONS = _options()


def compile_user_pattern(pattern: object, what: str = "pattern") -> UserPattern:
    """`pattern` compiled by RE2; InvalidArgument naming `what` if it cannot be used."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidArgument(f"a {what} is a non-empty regex, not {pattern!r}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidArgument(f"a {what} is at most {MAX_PATTERN_LENGTH} characters long")
    try:
        return UserPattern(pattern, re2.compile(pattern, _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidArgument(f"{what} {pattern!r} is not a supported regex: {reason}") from None
    except (UnicodeError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"{what} {ascii(pattern)} is not a valid regex: {exc}") from None
