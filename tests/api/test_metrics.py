"""`GET /metrics`: a real REST server over an in-process cluster and real files, scraped
and parsed as Prometheus parses it; the counters move by what reads and jobs did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ringcache.client.client import connect
from ringcache.cluster.config import ApiConfig
from ringcache.local import LocalCluster
from tests.api.rest_server import free_port, serving_rest
from tests.conftest import wait_for, write_tree

PAGE = 64 * 1024  # the test clusters' page size
Samples = dict[tuple[str, frozenset], float]


def scrape(address: str, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{address}/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name{labels}`; the test fails if the scrape has no such series."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no {name}{labels} in {sorted(k for k, _ in samples)}"
    return samples[key]


def summed(samples: Samples, name: str) -> float:
    return sum(v for (sample, _), v in samples.items() if sample == name)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (sample, labels), _ in samples.items() if sample == name}


def submit(address: str, kind: str, body: dict) -> dict:
    answer = httpx.post(f"{address}/api/v1/{kind}", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = httpx.get(f"{address}/api/v1/{kind}", params={"alias": body["alias"]}).json()
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"{kind} job {body} did not finish: {job}")


def test_reads_and_jobs_move_their_counters(
    cluster_factory: Callable[..., LocalCluster],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cluster = cluster_factory(workers=2)
    size = 3 * PAGE + 100  # four pages, the last short
    job_files = {"job/x.bin": os.urandom(2 * PAGE), "job/y.bin": os.urandom(5000)}
    tree = write_tree(tmp_path / "ufs", {"read/a.bin": os.urandom(size), **job_files})
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(b"not for the cache")
    (tree / "job" / "escape.txt").symlink_to(outside / "secret.txt")  # fails its load
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    with serving_rest(cluster) as address:
        before = scrape(address)
        assert labelled(before, "ringcache_cache_hits_total", "worker") == set(cluster.workers)
        assert value(before, "ringcache_workers", state="ONLINE") == 2
        assert value(before, "ringcache_cache_capacity_bytes", worker=min(cluster.workers)) == (
            64 * 1024**2
        )

        client = connect(address, short_circuit=False, ufs_fallback=False, remember=False)
        whole = (tree / "read/a.bin").read_bytes()
        assert client.read("/data/read/a.bin") == whole  # four pages missed
        assert client.read("/data/read/a.bin", PAGE, PAGE) == whole[PAGE : 2 * PAGE]  # one hit
        reads = scrape(address)
        moved = {
            name: summed(reads, name) - summed(before, name)
            for name in (
                "ringcache_cache_misses_total",
                "ringcache_cache_miss_bytes_total",
                "ringcache_ufs_read_bytes_total",
                "ringcache_cache_hits_total",
                "ringcache_cache_hit_bytes_total",
                "ringcache_served_bytes_total",
            )
        }
        assert moved == {
            "ringcache_cache_misses_total": 4,
            "ringcache_cache_miss_bytes_total": size,
            "ringcache_ufs_read_bytes_total": size,
            "ringcache_cache_hits_total": 1,
            "ringcache_cache_hit_bytes_total": PAGE,
            "ringcache_served_bytes_total": size + PAGE,
        }
        assert summed(reads, "ringcache_cache_used_bytes") == size
        assert summed(reads, "ringcache_cached_files") == 1

        load = submit(address, "load", {"paths": ["/data/job"], "alias": "job"})
        assert load["state"] == "FAILED" and load["failedFiles"] == 1, load  # the escape
        loaded = scrape(address)
        job_bytes = sum(len(data) for data in job_files.values())
        assert value(loaded, "ringcache_jobs", kind="load", state="FAILED") == 1
        outcomes = ("scanned", "loaded_non_empty", "skipped", "failed")
        load_files = {
            state: value(loaded, "ringcache_job_files_total", kind="load", state=state)
            for state in outcomes
        }
        assert load_files == {"scanned": 3, "loaded_non_empty": 2, "skipped": 0, "failed": 1}
        assert value(loaded, "ringcache_job_bytes_total", kind="load", state="loaded") == job_bytes
        assert (
            value(loaded, "ringcache_job_failures_total", kind="load", reason="OUTSIDE_LOCAL_ROOTS")
            == 1
        )
        assert summed(loaded, "ringcache_cache_used_bytes") == size + job_bytes

        free = submit(address, "free", {"paths": ["/data/job"], "alias": "unjob"})
        assert free["state"] == "SUCCEEDED", free
        freed = scrape(address)
        assert value(freed, "ringcache_job_files_total", kind="free", state="freed") == 2
        assert value(freed, "ringcache_job_bytes_total", kind="free", state="freed") == job_bytes
        assert value(freed, "ringcache_jobs", kind="free", state="SUCCEEDED") == 1
        assert summed(freed, "ringcache_cache_used_bytes") == size
        # the load's numbers stay as they were
        assert value(freed, "ringcache_job_bytes_total", kind="load", state="loaded") == job_bytes


def test_rest_calls_are_counted_and_timed_by_route_template(
    cluster_factory: Callable[..., LocalCluster],
) -> None:
    cluster = cluster_factory(workers=1)
    worker = next(iter(cluster.workers))
    route, get = {"route": "/api/v1/nodes", "method": "GET"}, "GET"
    with serving_rest(cluster) as address:
        before = scrape(address)
        for _ in range(3):
            assert httpx.get(f"{address}/api/v1/nodes").status_code == 200
        # a query names one worker: still the route's template, not the raw path
        assert httpx.get(f"{address}/api/v1/nodes", params={"id": worker}).status_code == 200
        assert httpx.get(f"{address}/api/v1/nodes", params={"id": "worker-x"}).status_code == 404
        assert httpx.get(f"{address}/no/such/{worker}").status_code == 404
        after = scrape(address)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - before.get((name, frozenset(labels.items())), 0)

    assert grew("ringcache_http_requests_total", **route, code="200") == 4
    assert grew("ringcache_http_requests_total", **route, code="404") == 1
    assert grew("ringcache_http_requests_total", route="unmatched", method=get, code="404") == 1
    assert grew("ringcache_http_request_duration_seconds_count", **route) == 5
    assert grew("ringcache_http_request_duration_seconds_sum", **route) > 0
    infinite = value(after, "ringcache_http_request_duration_seconds_bucket", **route, le="+Inf")
    assert infinite == value(after, "ringcache_http_request_duration_seconds_count", **route)
    # the first scrape is counted by the second, under its own route
    assert value(after, "ringcache_http_requests_total", route="/metrics", method=get, code="200")
    assert not any(worker in dict(labels).get("route", "") for _, labels in after)


def test_a_small_worker_counts_the_pages_it_evicts(
    cluster_factory: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(workers=1, capacity=4 * PAGE)
    worker = next(iter(cluster.workers))
    files = {"one.bin": os.urandom(3 * PAGE), "two.bin": os.urandom(3 * PAGE)}
    tree = write_tree(tmp_path / "ufs", files)
    cluster.run(cluster.coordinator_ref.call("add_mount", "/data", f"file://{tree}", {}))
    with serving_rest(cluster) as address:
        client = connect(address, short_circuit=False, ufs_fallback=False, remember=False)
        assert client.read("/data/one.bin") == files["one.bin"]
        start = scrape(address)
        assert value(start, "ringcache_pages_evicted_total", worker=worker) == 0
        assert client.read("/data/two.bin") == files["two.bin"]  # room for one page more
        after = scrape(address)
        node = httpx.get(f"{address}/api/v1/nodes", params={"id": worker}).json()
    assert value(after, "ringcache_pages_evicted_total", worker=worker) == 2
    assert node["pagesEvicted"] == 2
    assert value(after, "ringcache_cache_used_bytes", worker=worker) == 4 * PAGE


def test_metrics_need_the_token_when_the_api_has_one(
    cluster_factory: Callable[..., LocalCluster],
) -> None:
    cluster = cluster_factory(workers=1)
    with serving_rest(cluster, ApiConfig(token="s3cret")) as address:
        refused = httpx.get(f"{address}/metrics")
        wrong = httpx.get(f"{address}/metrics", headers={"Authorization": "Bearer nope"})
        samples = scrape(address, token="s3cret")
    assert refused.status_code == wrong.status_code == 401
    assert "status" in refused.json()
    assert "ringcache_cache_hits" not in refused.text
    refusals = value(
        samples, "ringcache_http_requests_total", route="/metrics", method="GET", code="401"
    )
    assert refusals == 2
    assert value(samples, "ringcache_workers", state="ONLINE") == 1


def test_several_apps_in_one_process_count_apart(
    cluster_factory: Callable[..., LocalCluster],
) -> None:
    cluster = cluster_factory(workers=1)
    with serving_rest(cluster) as first, serving_rest(cluster) as second:
        for _ in range(2):
            httpx.get(f"{first}/api/v1/nodes")
        in_first, in_second = scrape(first), scrape(second)
    nodes = {"route": "/api/v1/nodes", "method": "GET", "code": "200"}
    assert value(in_first, "ringcache_http_requests_total", **nodes) == 2
    assert ("ringcache_http_requests_total", frozenset(nodes.items())) not in in_second


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus server (apt prometheus)")
def test_a_prometheus_server_scrapes_it_with_the_token(
    cluster_factory: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    cluster = cluster_factory(workers=1)
    (tmp_path / "token").write_text("s3cret\n")
    with serving_rest(cluster, ApiConfig(token="s3cret")) as address:
        port = free_port()
        config = {
            "scrape_configs": [
                {
                    "job_name": "ringcache",
                    "scrape_interval": "1s",
                    "static_configs": [{"targets": [address.removeprefix("http://")]}],
                    "authorization": {"credentials_file": str(tmp_path / "token")},
                }
            ]
        }
        (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # YAML reads JSON
        server = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        try:
            query = f"http://127.0.0.1:{port}/api/v1/query"
            online = 'ringcache_workers{job="ringcache",state="ONLINE"}'

            def scraped() -> list:
                try:
                    answer = httpx.get(query, params={"query": online}, timeout=5)
                except httpx.TransportError:
                    return []  # not listening yet
                return answer.json()["data"]["result"] if answer.status_code == 200 else []

            result = wait_for(scraped, timeout=60, what="a scrape by prometheus")
            targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets").json()
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert result[0]["value"][1] == "1"
    (target,) = targets["data"]["activeTargets"]
    assert target["health"] == "up" and target["lastError"] == "", target
