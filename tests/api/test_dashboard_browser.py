"""The dashboard in a real headless browser (Debian's chromium): what it renders is what
the REST API answers, for the workers, a running job, a stopped one, mounts and policies."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from ringcache.client.client import connect
from ringcache.cluster.config import ApiConfig
from ringcache.cluster.policies.config import FeatureSwitch, PolicyConfig
from ringcache.local import LocalCluster
from tests.api.rest_server import serving_rest
from tests.conftest import wait_for, write_tree

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "dashboard-test-token"
# What the page shows of a worker and of a job, as data- attributes (camelCase in the API).
WORKER_FIELDS = ("usedBytes", "capacityBytes", "cachedFiles", "hits", "misses", "hitRatio")
ALIAS_WITH_MARKUP = '<b id="injected">ghost</b>'

pytestmark = pytest.mark.slow


def chromium_or_skip() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"chromium not found at {CHROMIUM}: install Debian's chromium "
            "(`apt-get install chromium`; CI's .ci/run does) to run the dashboard's browser test"
        )
    return CHROMIUM


def rendered_dom(url: str, budget_ms: int = 2500) -> str:
    """The page's DOM after `budget_ms` of (virtual) time in headless chromium."""
    with tempfile.TemporaryDirectory(prefix="ringcache-chromium-") as profile:
        command = [
            str(chromium_or_skip()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def camel(attribute: str) -> str:
    """`data-used-bytes` -> `usedBytes`, as `dataset` names it."""
    return re.sub(r"-([a-z])", lambda m: m.group(1).upper(), attribute.removeprefix("data-"))


class Page(HTMLParser):
    """Every element of a dumped DOM with its id, its data- attributes and its text."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self.open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        element["data"] = {camel(k): v for k, v in attrs if k.startswith("data-")}
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] += data

    def having(self, key: str) -> list[dict]:
        return [e["data"] for e in self.elements if key in e["data"]]

    def by_id(self, element_id: str) -> dict | None:
        return next((e for e in self.elements if e["attrs"].get("id") == element_id), None)


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
        for path, body in (
            ("/mount", mount),
            ("/ttl", {"path": "/data/warm", "time": "2d"}),
            ("/quota", {"path": "/data/warm", "size": "1GB"}),
            ("/cache-filter", {"pattern": ".*/scratch/.*", "rule": "skipCache"}),
            ("/load", {"paths": ["/data/ghost"], "alias": ALIAS_WITH_MARKUP}),
        ):
            assert api.post(path, json=body).status_code == 200, (path, api.post(path, json=body))
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


def test_the_dashboard_shows_a_running_job_and_the_workers_as_the_api_does(site) -> None:
    chromium_or_skip()
    cluster, api, base = site
    start_slow_load(api)

    before_job, before_nodes = job(api, "slow"), nodes(api)
    page = Page(rendered_dom(f"{base}/#token={TOKEN}"))
    after_job, after_nodes = job(api, "slow"), nodes(api)

    status = page.by_id("status")
    assert status["data"]["state"] == "ok" and int(status["data"]["polls"]) >= 1, status
    assert before_job["state"] == after_job["state"] == "RUNNING"
    shown = rendered_jobs(page)[before_job["id"]]
    assert shown["state"] == "RUNNING" and shown["jobType"] == "load"
    for counter in ("scannedFiles", "loadedNonEmptyFiles", "loadedBytes", "totalBytes"):
        assert before_job[counter] <= float(shown[counter]) <= after_job[counter], counter
    assert 0 < float(shown["bytesDone"]) == float(shown["loadedBytes"])
    assert float(shown["bytesDone"]) < float(shown["bytesTotal"]) == 60 * 100_000
    assert float(shown["filesDone"]) == float(shown["loadedNonEmptyFiles"])
    check_the_bar(page, before_job["id"], float(shown["bytesDone"]), float(shown["bytesTotal"]))
    # the workers: the same ones, each number between what the API said before and after
    workers = rendered_workers(page)
    assert set(workers) == set(before_nodes) == set(cluster.workers)
    for worker_id, drawn in workers.items():
        low, high = worker_view(before_nodes[worker_id]), worker_view(after_nodes[worker_id])
        for field in ("usedBytes", "cachedFiles", "hits", "misses"):
            assert low[field] <= drawn[field] <= high[field], (worker_id, field)
        assert drawn["capacityBytes"] == low["capacityBytes"]


def test_once_the_job_stops_every_number_equals_the_api(site) -> None:
    chromium_or_skip()
    cluster, api, base = site
    start_slow_load(api)
    assert api.request("DELETE", "/load", json={"alias": "slow"}).json()["state"] == "STOPPED"
    quiet = settled(api)

    page = Page(rendered_dom(f"{base}/#token={TOKEN}"))
    expected = {i: worker_view(n) for i, n in nodes(api).items()}
    assert expected == quiet, "the cluster moved while the page rendered"
    assert rendered_workers(page) == expected
    assert page.by_id("worker-count")["text"] == f"({len(cluster.workers)})"
    assert (
        sum(w["hits"] for w in expected.values()) > 0 < sum(w["misses"] for w in expected.values())
    )

    jobs = {j["id"]: j for j in api.get("/load").json()["results"]}
    shown = rendered_jobs(page)
    assert set(shown) == set(jobs) and len(jobs) == 2
    for job_id, answer in jobs.items():
        drawn = shown[job_id]
        assert drawn["state"] == answer["state"]
        for counter in ("scannedFiles", "totalBytes", "loadedBytes", "failedFiles"):
            assert float(drawn.get(counter, "0")) == answer.get(counter, 0), counter
        assert int(drawn["failureCount"]) == len(answer.get("failures", []))
    ghost = job(api, ALIAS_WITH_MARKUP)
    assert shown[ghost["id"]]["state"] == "FAILED"
    failures = [e["data"] for e in page.elements if e["data"].get("reason")]
    assert [f["reason"] for f in failures] == [f["reason"] for f in ghost["failures"]]
    # the alias went in as text: no element was made of it
    assert page.by_id("injected") is None
    assert any(ALIAS_WITH_MARKUP in e["text"] for e in page.elements if e["tag"] == "span")

    mounts = page.having("ufs")
    assert [(m["path"], m["ufs"]) for m in mounts] == [
        (m["path"], m["ufs"]) for m in api.get("/mount").json()["results"]
    ]
    ttl, quota = page.by_id("policy-ttl")["text"], page.by_id("policy-quota")["text"]
    assert "/data/warm" in ttl and "2d" in ttl and "1GB" in quota
    assert api.get("/priority").status_code == 501
    assert "disabled" in page.by_id("policy-priority")["text"]
    assert "skipCache" in page.by_id("policy-cache-filter")["text"]


def test_without_the_token_the_page_asks_for_it_and_shows_no_data(site) -> None:
    chromium_or_skip()
    _, _, base = site
    page = Page(rendered_dom(f"{base}/", budget_ms=1500))
    assert page.by_id("status")["data"]["state"] == "token"
    assert "hidden" not in page.by_id("token-form")["attrs"]
    assert page.having("workerId") == [] and page.having("jobId") == []
    wrong = Page(rendered_dom(f"{base}/#token=wrong", budget_ms=1500))
    assert wrong.by_id("status")["data"]["state"] == "token"
    assert "refused" in wrong.by_id("token-error")["text"]
