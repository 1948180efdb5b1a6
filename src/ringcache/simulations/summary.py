"""Pieces of a scenario summary: the spread of per-worker bytes, a job's reproducible view,
and the canonical JSON text.

A summary holds only what the spec and the seed decide; bulky per-worker and per-sample
data goes under `details`, which `summary_json` leaves out unless asked (reports use it).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..cluster.jobs.catalog import JOB_KINDS


def summary_json(summary: dict[str, Any], *, details: bool = False) -> str:
    """The canonical text of a summary: sorted keys, so equal runs give equal bytes."""
    shown = summary if details else {k: v for k, v in summary.items() if k != "details"}
    return json.dumps(shown, sort_keys=True, indent=2)


def job_view(job: dict[str, Any], started: float, finished: float) -> dict[str, Any]:
    """A finished job as the summary shows it: state, counters, virtual seconds from submit
    to seen finished, and failures by reason. No id or wall times: those do not replay."""
    reasons = Counter(str(f.get("reason", "UNKNOWN")) for f in job.get("failures", []))
    view: dict[str, Any] = {
        "state": job["state"],
        "virtualSeconds": round(finished - started, 6),
        "_reasons": dict(sorted(reasons.items())),
    }
    kind = JOB_KINDS.get(job.get("type", ""))
    for name in kind.counters if kind is not None else ():
        view[name] = job.get(name, 0)
    if job.get("errorMessage"):
        view["error"] = job["errorMessage"].get("message", "")
    return view


def spread(values: Iterable[int]) -> dict[str, float]:
    """max, mean, min, max/mean and coefficient of variation (population) of `values`."""
    values = list(values)
    if not values:
        return {"max": 0, "mean": 0.0, "min": 0, "maxOverMean": 0.0, "cv": 0.0}
    mean = statistics.fmean(values)
    cv = statistics.pstdev(values) / mean if mean else 0.0
    return {
        "max": max(values),
        "mean": round(mean, 3),
        "min": min(values),
        "maxOverMean": round(max(values) / mean, 6) if mean else 0.0,
        "cv": round(cv, 6),
    }
