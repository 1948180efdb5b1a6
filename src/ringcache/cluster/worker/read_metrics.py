"""What a worker counts of its reads, and how it is reported (`stats`, `GET /api/v1/nodes`)."""

from __future__ import annotations

from collections.abc import Mapping

READ_COUNTERS = {"hits": 0, "misses": 0, "bytesFromCache": 0, "bytesFromUfs": 0, "bytesServed": 0}


def read_metrics(counters: Mapping[str, int]) -> dict[str, float]:
    """A worker's read counters, and its hit ratio (pages hit of pages read; 0 before any)."""
    metrics: dict[str, float] = {name: counters.get(name, 0) for name in READ_COUNTERS}
    pages = metrics["hits"] + metrics["misses"]
    metrics["hitRatio"] = round(metrics["hits"] / pages, 4) if pages else 0.0
    return metrics
