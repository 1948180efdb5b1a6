"""The dashboard in a real headless browser (Debian's chromium): what it shows is what the
REST API answers, for the workers, a running job as it goes, a stopped one, mounts and
policies; without the token it shows nothing but the token field."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ringcache.client.client import connect
from ringcache.cluster.config import ApiConfig
from ringcache.cluster.policies.config import FeatureSwitch, PolicyConfig
from ringcache.local import LocalCluster
from tests.api.dashboard_browser import Browser, Page, Tab, chromium_or_skip
from tests.api.rest_server import serving_rest
from tests.conftest import wait_for, write_tree

TOKEN = "dashboard-test-token"
# What the page shows of a worker, as data- attributes (the API's names).
WORKER_FIELDS = ("usedBytes", "capacityBytes", "cachedFiles", "hits", "misses", "hitRatio")
ALIAS_WITH_MARKUP = '<b id="injected">ghost</b>'
STATUS = "document.getElementById('status').dataset"

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium_or_skip()
    with Browser() as running:
        yield running


@pytest.fixture
def site(cluster_factory: Callable[..., LocalCluster], tmp_path: Path):
    """A cluster with warm and cold data, reads done (hits and misses), a failed job,
    policies, and its REST API behind a token."""
    write_tree(tmp_path / "ufs", {f"warm/w{i}.bin": os.urandom(150_000) for i in range(4)})
    write_tree(tmp_path / "ufs", {f"cold/c{i:02d}.bin": os.urandom(100_000) for i in range(60)})
    policies = PolicyConfig(priority=FeatureSwitch(enabled=False))
    cluster = cluster_factory(policies=policies)
    with serving_rest(cluster, ApiConfig(token=TOKEN)) as base:
        api = httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {TOKEN}"})
        mount = {"path": "/data", "ufs": f"file://{tmp_path / 'ufs'}"}
        (tmp_path / "other").mkdir()
        secret = {"secret": "hunter2-secret", "region": "eu"}
        other = {"path": "/other", "ufs": f"file://{tmp_path / 'other'}", "options": secret}
        for path, body in (
            ("/mount", mount),
            ("/mount", other),
            ("/ttl", {"path": "/data/warm", "time": "2d"}),
            ("/quota", {"path": "/data/warm", "size": "1GB"}),
            ("/cache-filter", {"pattern": ".*/scratch/.*", "rule": "skipCache"}),
            ("/load", {"paths": ["/data/ghost"], "alias": ALIAS_WITH_MARKUP}),
        ):
            answer = api.post(path, json=body)
            assert answer.status_code == 200, (path, answer.text)
        client = connect(cluster=cluster)
        for i in range(4):  # misses, then hits, on the warm files
            for _ in range(1 + i):
                client.read(f"/data/warm/w{i}.bin")
        wait_for(lambda: job(api, ALIAS_WITH_MARKUP)["state"] == "FAILED", what="ghost job")
        yield cluster, api, base
        api.close()


def job(api: httpx.Client, alias: str) -> dict:
    return api.get("/load", params={"alias": alias}).json()


def nodes(api: httpx.Client) -> dict[str, dict]:
    return {node["id"]: node for node in api.get("/nodes").json()["results"]}


def worker_view(node: dict) -> dict:
    values = {**node, **node.get("reads", {})}
    return {field: values[field] for field in WORKER_FIELDS}


def rendered_workers(page: Page) -> dict[str, dict]:
    return {
        w["workerId"]: {field: float(w[field]) for field in WORKER_FIELDS}
        for w in page.having("workerId")
    }


def rendered_jobs(page: Page) -> dict[str, dict]:
    return {j["jobId"]: j for j in page.having("jobId")}


def settled(api: httpx.Client, quiet_for: float = 3.0, timeout: float = 30) -> dict:
    """The workers' numbers once they stayed the same for `quiet_for` seconds (a stopped
    load's last files, already on their way to the workers, land first)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = {worker_id: worker_view(node) for worker_id, node in nodes(api).items()}
        if now == last:
            return now
        last = now
        time.sleep(quiet_for)
    pytest.fail(f"the workers did not settle within {timeout} s")


def start_slow_load(api: httpx.Client) -> None:
    """A load of the cold files at 40 KB/s per worker (minutes), once it has loaded some."""
    options = {"batchSize": 1, "bandwidth": "40KB"}
    body = {"paths": ["/data/cold"], "alias": "slow", "options": options}
    assert api.post("/load", json=body).status_code == 200
    wait_for(lambda: job(api, "slow").get("loadedBytes", 0) > 0, timeout=20, what="progress")


def check_the_bar(page: Page, job_id: str, done: float, total: float) -> None:
    """The job's byte bar says done of total, and is filled that far."""
    job_div = next(e for e in page.elements if e["data"].get("jobId") == job_id)
    start = page.elements.index(job_div)
    bars = [e for e in page.elements[start:] if e["attrs"].get("role") == "progressbar"]
    byte_bar = next(b for b in bars if float(b["attrs"]["aria-valuemax"]) == total)
    assert float(byte_bar["attrs"]["aria-valuenow"]) == done
    fill = page.elements[page.elements.index(byte_bar) + 1]
    width = re.search(r"width: ([0-9.]+)%", fill["attrs"]["style"])
    assert width and float(width.group(1)) == round(done / total * 100, 1)


def drawn(tab: Tab) -> Page:
    """The page once it has drawn answers that the API gave after this call."""
    seen = tab.polls()
    # a poll under way now may have asked before this call: wait for the one after it
    tab.wait_until(f"+{STATUS}.polls >= {seen + 2}")
    return tab.dom()


def test_the_dashboard_follows_a_running_job_as_the_api_reports_it(browser, site) -> None:
    cluster, api, base = site
    start_slow_load(api)
    tab = browser.open(f"{base}/#token={TOKEN}")
    tab.wait_until(f"{STATUS}.state === 'ok'")
    assert tab.evaluate("location.hash") == ""  # the token left the address bar

    shown_bytes = []
    for _ in range(2):  # the same page, a few seconds apart: it follows the job by itself
        before_job, before_nodes = job(api, "slow"), nodes(api)
        page = drawn(tab)
        after_job, after_nodes = job(api, "slow"), nodes(api)

        assert before_job["state"] == after_job["state"] == "RUNNING"
        shown = rendered_jobs(page)[before_job["id"]]
        assert shown["state"] == "RUNNING" and shown["jobType"] == "load"
        for counter in ("scannedFiles", "loadedNonEmptyFiles", "loadedBytes", "totalBytes"):
            assert before_job[counter] <= float(shown[counter]) <= after_job[counter], counter
        done, total = float(shown["bytesDone"]), float(shown["bytesTotal"])
        assert 0 < done == float(shown["loadedBytes"]) < total == 60 * 100_000
        assert float(shown["filesDone"]) == float(shown["loadedNonEmptyFiles"])
        check_the_bar(page, before_job["id"], done, total)
        # the workers: the same ones, each number between what the API said before and after
        workers = rendered_workers(page)
        assert set(workers) == set(before_nodes) == set(cluster.workers)
        for worker_id, numbers in workers.items():
            low, high = worker_view(before_nodes[worker_id]), worker_view(after_nodes[worker_id])
            for field in ("usedBytes", "cachedFiles", "hits", "misses"):
                assert low[field] <= numbers[field] <= high[field], (worker_id, field)
            assert numbers["capacityBytes"] == low["capacityBytes"]
        shown_bytes.append(done)
        so_far = after_job["loadedBytes"]
        wait_for(lambda: job(api, "slow")["loadedBytes"] > so_far, 20, "more")  # noqa: B023
    assert shown_bytes[0] < shown_bytes[1]


def test_once_the_job_stops_every_number_equals_the_api(browser, site) -> None:
    cluster, api, base = site
    start_slow_load(api)
    assert api.request("DELETE", "/load", json={"alias": "slow"}).json()["state"] == "STOPPED"
    quiet = settled(api)

    page = drawn(browser.open(f"{base}/#token={TOKEN}"))
    expected = {i: worker_view(n) for i, n in nodes(api).items()}
    assert expected == quiet, "the cluster moved while the page was drawn"
    assert rendered_workers(page) == expected
    assert page.by_id("worker-count")["text"] == f"({len(cluster.workers)})"
    assert all(sum(w[field] for w in expected.values()) > 0 for field in ("hits", "misses"))

    jobs = {j["id"]: j for j in api.get("/load").json()["results"]}
    shown = rendered_jobs(page)
    assert set(shown) == set(jobs) and len(jobs) == 2
    for job_id, answer in jobs.items():
        assert shown[job_id]["state"] == answer["state"]
        for counter in ("scannedFiles", "totalBytes", "loadedBytes", "failedFiles"):
            assert float(shown[job_id][counter]) == answer[counter], counter
        assert int(shown[job_id]["failureCount"]) == len(answer.get("failures", []))
    ghost = job(api, ALIAS_WITH_MARKUP)
    assert shown[ghost["id"]]["state"] == "FAILED"
    failures = page.having("reason")
    assert [(f["reason"], f["path"]) for f in failures] == [
        (f["reason"], f["path"]) for f in ghost["failures"]
    ]
    # the alias went in as text: no element was made of it
    assert page.by_id("injected") is None
    assert any(ALIAS_WITH_MARKUP in e["text"] for e in page.elements if e["tag"] == "span")

    mounts = {m["path"]: m for m in api.get("/mount").json()["results"]}
    assert [m["path"] for m in page.having("ufs")] == list(mounts) == ["/data", "/other"]
    options = next(e for e in page.elements if e["data"].get("path") == "/other")["text"]
    assert mounts["/other"]["options"]["secret"] != "hunter2-secret"  # redacted by the API
    assert "region=eu" in options and f"secret={mounts['/other']['options']['secret']}" in options
    assert not any("hunter2" in e["text"] for e in page.elements)
    ttl, quota = page.by_id("policy-ttl")["text"], page.by_id("policy-quota")["text"]
    assert "/data/warm" in ttl and "2d" in ttl and "1GB" in quota
    assert api.get("/priority").status_code == 501
    assert "disabled" in page.by_id("policy-priority")["text"]
    assert "skipCache" in page.by_id("policy-cache-filter")["text"]


def test_without_the_token_the_page_asks_for_it_and_shows_no_data(browser, site) -> None:
    cluster, _, base = site
    for url, refused in ((f"{base}/", False), (f"{base}/#token=wrong", True)):
        tab = browser.open(url)
        tab.wait_until(f"{STATUS}.state === 'token'")
        page = tab.dom()
        assert "hidden" not in page.by_id("token-form")["attrs"]
        assert page.having("workerId") == [] and page.having("jobId") == []
        assert ("refused" in page.by_id("token-error")["text"]) is refused
    # the token typed into the field is used from then on
    tab.evaluate(
        f"document.getElementById('token-input').value = '{TOKEN}';"
        "document.querySelector('#token-form button').click()"
    )
    tab.wait_until(f"{STATUS}.state === 'ok'")
    page = tab.dom()
    assert "hidden" in page.by_id("token-form")["attrs"]
    assert {w["workerId"] for w in page.having("workerId")} == set(cluster.workers)
