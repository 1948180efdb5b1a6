"""Small formatting helpers for the command line."""

from __future__ import annotations


def human_bytes(value: float | None) -> str:
    """`1.5 MiB`-style sizes (1024-based), empty for None."""
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)
