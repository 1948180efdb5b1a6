"""Request bodies read within limits: size, JSON nesting, numbers, string lengths, Unicode.

Every body a route reads passes through `read_json`, so no handler and no record in the
registry ever sees what these limits refuse: anything out of bounds is a 400 naming the
limit (the body's size is limited before, by `guard.BodySizeLimit`: 413).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..cluster.errors import InvalidArgument, RingcacheError


class BodyTooLarge(RingcacheError):
    """The request body is larger than the API accepts (413)."""

    status_code = 413


@dataclass(frozen=True)
class BodyLimits:
    """What a JSON body may hold. Integers fit a signed 64-bit column (SQLite's); a string
    longer than a path may be (4096 bytes on Linux) names nothing ringcache can hold."""

    max_depth: int = 16
    max_string: int = 4096
    max_items: int = 10_000
    max_int: int = 2**63 - 1


def parse_json(raw: bytes, limits: BodyLimits) -> Any:
    """The JSON value in `raw`; InvalidArgument for invalid JSON or anything past `limits`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"the body is not UTF-8: {exc}") from None
    _check_depth(text, limits.max_depth)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc}") from None
    check_value(data, limits)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse deep nesting before parsing: json.loads recurses once per level."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # the common case, without a walk in Python over every character
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidArgument(f"the body nests deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def check_value(data: Any, limits: BodyLimits) -> None:
    """Walk a parsed value (iteratively) and refuse what no field of the API may hold."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            check_text(value, limits.max_string)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > limits.max_int:
                raise InvalidArgument(f"the number {_short(str(value))} is out of range")
        elif isinstance(value, float):
            if not math.isfinite(value) or abs(value) > limits.max_int:
                raise InvalidArgument(f"the number {_short(repr(value))} is out of range")
        elif isinstance(value, dict):
            if len(value) > limits.max_items:
                raise InvalidArgument(f"an object has more than {limits.max_items} fields")
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            if len(value) > limits.max_items:
                raise InvalidArgument(f"a list has more than {limits.max_items} items")
            stack.extend(value)


def check_text(value: str, max_length: int = BodyLimits.max_string) -> str:
    """`value` if it is valid Unicode no longer than `max_length`; InvalidArgument if not."""
    if len(value) > max_length:
        raise InvalidArgument(f"a string is longer than {max_length} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{_short(ascii(value))} is not valid Unicode") from None
    return value


def _short(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[:keep] + "..."
