"""Durations and sizes as API.md writes them: `"500ms" "10s" "5m" "1h" "2d"`, `"512KB" "10GiB"`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import InvalidArgument

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_duration(value: object) -> float:
    """Seconds from an integer number of seconds or a string like `"500ms"` or `"2d"`."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{value!r} is not a duration; use seconds or a string like '10s'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_SECONDS[(match.group(2) or "s").lower()]
    else:
        raise InvalidArgument(
            f"{value!r} is not a duration; use seconds or a string like '500ms', '10s', '5m', "
            "'1h', '2d'"
        )
    if seconds < 0:
        raise InvalidArgument(f"duration {value!r} is negative")
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
        size = int(
            float(match.group(1)) * base ** _SIZE_POWERS[unit[:1] if unit[:1] != "b" else ""]
        )
    else:
        raise InvalidArgument(
            f"{value!r} is not a size; use bytes or a string like '512KB', '10GB', '10GiB'"
        )
    if size < 0:
        raise InvalidArgument(f"size {value!r} is negative")
    return size


def format_time(epoch_seconds: float) -> str:
    """ISO 8601 with milliseconds and offset, as the REST answers carry times."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds")
