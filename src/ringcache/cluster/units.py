"""Durations and sizes as API.md writes them: `"500ms" "10s" "5m" "1h" "2d"`, `"512KB" "10GiB"`."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from .errors import InvalidArgument

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}

# Bounds that keep every size and duration storable (a signed 64-bit integer, a finite
# float) and meaningful: 1 EiB is more than any cache holds, 100 years longer than any TTL.
MAX_SIZE = 1 << 60
MAX_DURATION = 100 * 365.25 * 86400


def parse_duration(value: object) -> float:
    """Seconds from an integer number of seconds or a string like `"500ms"` or `"2d"`."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{value!r} is not a duration; use seconds or a string like '10s'")
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) <= MAX_DURATION else math.inf
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_SECONDS[(match.group(2) or "s").lower()]
    else:
        raise InvalidArgument(
            f"{value!r} is not a duration; use seconds or a string like '500ms', '10s', '5m', "
            "'1h', '2d'"
        )
    if seconds < 0:
        raise InvalidArgument(f"duration {_short(value)} is negative")
    if not seconds <= MAX_DURATION:  # also NaN
        raise InvalidArgument(f"duration {_short(value)} is longer than 100 years")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an integer or a string like `"512KB"` (1000-based) or `"10GiB"` (1024-based)."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{value!r} is not a size; use bytes or a string like '10GB'")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        unit = (match.group(2) or "").lower()
        base = 1024 if "i" in unit else 1000
        scaled = float(match.group(1)) * base ** _SIZE_POWERS[unit[:1] if unit[:1] != "b" else ""]
        size = int(scaled) if scaled <= MAX_SIZE else MAX_SIZE + 1
    else:
        raise InvalidArgument(
            f"{value!r} is not a size; use bytes or a string like '512KB', '10GB', '10GiB'"
        )
    if size < 0:
        raise InvalidArgument(f"size {_short(value)} is negative")
    if size > MAX_SIZE:
        raise InvalidArgument(f"size {_short(value)} is larger than 1EiB")
    return size


def _short(value: object, keep: int = 40) -> str:
    """`value` as a message quotes it: a number of hundreds of digits, cut short."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**keep else "a number"
    return text if len(text) <= keep else text[:keep] + "..."


def format_time(epoch_seconds: float) -> str:
    """ISO 8601 with milliseconds and offset, as the REST answers carry times."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds")
