"""`GET /metrics`: the cluster in the Prometheus text format, read at scrape time.

Nothing is counted twice: each scrape asks the coordinator what `GET /api/v1/nodes` and the
job routes show (every worker's read counters and usage, every job's counters and latest
failures) and turns it into metric families; only the REST calls themselves are counted
here, by `RequestMetrics` on the app's own registry. Names follow Prometheus conventions:
`ringcache_` first, counters end in `_total`, sizes in bytes.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..cluster.jobs.catalog import JOB_KINDS, JobKind
from ..cluster.jobs.model import JobState
from ..cluster.refs import ActorRef
from ..cluster.ring.membership import NodeState
from .errors import status_response
from .openapi import text_operation
from .resource import ALL_METHODS

PATH = "/metrics"
JOBS_PAGE = 1000  # jobs asked for per call while a scrape lists them

# A worker's read counters (`reads` of a node) as counters: (name, help, counter).
# Every missed page is read from the UFS, so miss bytes and UFS bytes are one count today.
READS = (
    ("ringcache_cache_hits", "Pages read from the cache.", "hits"),
    ("ringcache_cache_misses", "Pages not in the cache when read.", "misses"),
    ("ringcache_cache_hit_bytes", "Bytes of pages read from the cache.", "bytesFromCache"),
    ("ringcache_cache_miss_bytes", "Bytes of the pages missed.", "bytesFromUfs"),
    ("ringcache_ufs_read_bytes", "Bytes read from the UFS for reads.", "bytesFromUfs"),
    ("ringcache_served_bytes", "Bytes answered to readers.", "bytesServed"),
)


def metrics_route(coordinator: ActorRef, registry: CollectorRegistry) -> Route:
    """`GET /metrics`: the app's `registry` and the cluster as the coordinator sees it."""

    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return status_response(405, f"{request.method} is not allowed here; use GET")
        families = await cluster_families(coordinator)
        body = generate_latest(_Scrape(registry, families))  # type: ignore[arg-type]
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route(PATH, endpoint, methods=ALL_METHODS)


METRICS_DOC = {
    PATH: {
        "get": text_operation(
            "get_metrics", "The cluster's metrics in the Prometheus text format", (401, 503)
        )
    }
}


class _Scrape:
    """One scrape's families: the app's own, then the cluster's just read."""

    def __init__(self, registry: CollectorRegistry, cluster: list[Metric]) -> None:
        self.registry = registry
        self.cluster = cluster

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.cluster


async def cluster_families(coordinator: ActorRef) -> list[Metric]:
    """Every worker's and every job's metrics, read from the coordinator now."""
    nodes, *jobs = await asyncio.gather(
        coordinator.call("list_nodes"),
        *(_all_jobs(coordinator, kind) for kind in JOB_KINDS.values()),
    )
    return [*worker_families(nodes), *job_families(zip(JOB_KINDS.values(), jobs, strict=True))]


async def _all_jobs(coordinator: ActorRef, kind: JobKind) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    while True:
        last = jobs[-1]["id"] if jobs else None
        page = await coordinator.call("list_jobs", kind.name, last, JOBS_PAGE)
        jobs += page
        if len(page) < JOBS_PAGE:
            return jobs


def worker_families(nodes: list[dict[str, Any]]) -> list[Metric]:
    """Per worker: reads, usage and evictions (of the workers that answered their stats
    this time: an offline worker's series end), and the workers by state."""
    states = GaugeMetricFamily("ringcache_workers", "Workers known, by state.", labels=["state"])
    by_state = Tally(node["state"] for node in nodes)
    for state in NodeState:
        states.add_metric([state.value], by_state[state.value])
    families: list[Metric] = [states]
    reporting = [node for node in nodes if "reads" in node]
    for name, text, key in READS:
        family = CounterMetricFamily(name, text, labels=["worker"])
        for node in reporting:
            family.add_metric([node["id"]], node["reads"][key])
        families.append(family)
    usage = (
        (GaugeMetricFamily, "ringcache_cache_used_bytes", "Page bytes held.", "usedBytes"),
        (GaugeMetricFamily, "ringcache_cache_capacity_bytes", "Cache capacity.", "capacityBytes"),
        (GaugeMetricFamily, "ringcache_cached_files", "Files with pages cached.", "cachedFiles"),
        (
            CounterMetricFamily,
            "ringcache_pages_evicted",
            "Pages evicted to make room, since the worker's store opened.",
            "pagesEvicted",
        ),
    )
    for kind, name, text, key in usage:
        family = kind(name, text, labels=["worker"])
        for node in reporting:
            family.add_metric([node["id"]], node[key])
        families.append(family)
    return families


def job_families(jobs_by_kind: Iterable[tuple[JobKind, list[dict[str, Any]]]]) -> list[Metric]:
    """Jobs by kind and state; the files and bytes their counters count, summed over the
    jobs the cluster keeps, with the counter's outcome as `state` (`loaded`, `skipped`,
    `failed`...); and their failures by reason, among the latest each job shows."""
    jobs = GaugeMetricFamily("ringcache_jobs", "Jobs, by kind and state.", labels=["kind", "state"])
    files = CounterMetricFamily(
        "ringcache_job_files", "Files counted by jobs, by outcome.", labels=["kind", "state"]
    )
    moved = CounterMetricFamily(
        "ringcache_job_bytes", "Bytes counted by jobs, by outcome.", labels=["kind", "state"]
    )
    failures = CounterMetricFamily(
        "ringcache_job_failures",
        "Failed files among the latest failures each job shows, by reason.",
        labels=["kind", "reason"],
    )
    for kind, views in jobs_by_kind:
        by_state = Tally(view["state"] for view in views)
        for state in JobState:
            jobs.add_metric([kind.name, state.value], by_state[state.value])
        for counter in kind.counters:
            for suffix, family in (("Files", files), ("Bytes", moved)):
                if counter.endswith(suffix):
                    total = sum(view.get(counter, 0) for view in views)
                    family.add_metric([kind.name, _snake(counter.removesuffix(suffix))], total)
        reasons = Tally(f.get("reason", "") for view in views for f in view.get("failures", []))
        for reason, count in sorted(reasons.items()):
            failures.add_metric([kind.name, reason], count)
    return [jobs, files, moved, failures]


def _snake(name: str) -> str:
    """`loadedNonEmpty` -> `loaded_non_empty`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
