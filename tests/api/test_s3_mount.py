"""S3 mounts over the in-process runtime against a real S3 server (moto): load, read,
IF_CHANGED, maxAge, free and rebalance; credentials redacted; bad mounts answered 400."""

from __future__ import annotations

import json
import os
import time

import pytest

from ringcache.client.client import connect
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for, holders, wait_job
from tests.api.policy_helpers import post, wait_rules
from tests.api.test_cli import api_url, run  # noqa: F401 (api_url is a fixture)
from tests.api.test_rebalance_api import join, owners_now
from tests.s3_fixture import S3Server, ThrottlingProxy

pytestmark = pytest.mark.timeout(180)

FILES = {f"train/part{i:02d}.bin": os.urandom(700 * i + 1) for i in range(24)}
FILES |= {"train/sub/deep.bin": os.urandom(200_000), "eval/e.csv": b"a,b\n1,2\n"}


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = s3_server.new_bucket()
    client = s3_server.client()
    for key, data in FILES.items():
        client.put_object(Bucket=name, Key=f"prefix/{key}", Body=data)
    return name


@pytest.fixture
def mounted(cluster: LocalCluster, s3_server: S3Server, bucket: str):
    api = api_for(cluster)
    body = {"path": "/s3", "ufs": f"s3://{bucket}/prefix", "options": s3_server.options()}
    answer = api.post("/mount", json=body)
    assert answer.status_code == 200, answer.text
    return cluster, api, f"s3://{bucket}/prefix"


def under(root: str, folder: str) -> dict[str, bytes]:
    return {f"{root}/{k}": v for k, v in FILES.items() if k.startswith(folder + "/")}


def test_a_load_of_a_bucket_prefix_caches_it_on_its_owners_byte_exact(mounted) -> None:
    cluster, api, root = mounted
    assert api.post("/load", json={"paths": ["/s3/train"], "alias": "t"}).status_code == 200
    job = wait_job(api, "load", alias="t", timeout=60)
    expected = under(root, "train")
    assert job["state"] == "SUCCEEDED", job
    assert job["scannedFiles"] == len(expected) == 25
    assert job["loadedBytes"] == job["totalBytes"] == sum(map(len, expected.values()))
    assert job["failedFiles"] == 0
    client = connect(cluster=cluster)
    held = holders(cluster)
    assert set(held) == set(expected)
    for uri in expected:
        assert held[uri] == set(client.owners(uri, 1)), uri
    misses = sum(w.counters["misses"] for w in cluster.workers.values())
    for uri, data in expected.items():
        assert client.read(uri) == data
    deep = f"{root}/train/sub/deep.bin"
    assert client.read("/s3/train/sub/deep.bin", 70_000, 1000) == expected[deep][70_000:71_000]
    assert sum(w.counters["misses"] for w in cluster.workers.values()) == misses


def test_if_changed_reloads_an_object_whose_etag_changed(mounted, s3_server, bucket) -> None:
    cluster, api, root = mounted

    def load_if_changed(alias: str) -> dict:
        options = {"loadPolicy": "IF_CHANGED"}
        body = {"paths": ["/s3/eval"], "alias": alias, "options": options}
        assert api.post("/load", json=body).status_code == 200
        return wait_job(api, "load", alias=alias)

    assert load_if_changed("first")["loadedBytes"] == 8
    unchanged = load_if_changed("same")
    assert (unchanged["skippedFiles"], unchanged["loadedBytes"]) == (1, 0)  # same ETag
    # Same size, other bytes: a new ETag (LastModified may fall in the same second).
    s3_server.client().put_object(Bucket=bucket, Key="prefix/eval/e.csv", Body=b"a,b\n3,4\n")
    changed = load_if_changed("changed")
    assert (changed["loadedBytes"], changed["skippedFiles"]) == (8, 0)
    client = connect(cluster=cluster)
    assert client.read("/s3/eval/e.csv") == b"a,b\n3,4\n"


def test_max_age_revalidates_against_the_etag(mounted, s3_server, bucket) -> None:
    cluster, api, root = mounted
    post(api, "/cache-filter", {"pattern": r".*\.csv", "rule": "maxAge", "time": "1s"})
    wait_rules(cluster, lambda p: p.cache_rule_for(f"{root}/eval/e.csv")[0] == "maxAge", "rule")
    client = connect(cluster=cluster)
    assert client.read("/s3/eval/e.csv") == b"a,b\n1,2\n"
    cached_at = time.monotonic()
    s3_server.client().put_object(Bucket=bucket, Key="prefix/eval/e.csv", Body=b"a,b\n5,6\n")
    assert client.read("/s3/eval/e.csv") == b"a,b\n1,2\n"  # within maxAge: the cache
    assert time.monotonic() - cached_at < 1
    time.sleep(1.1)
    assert client.read("/s3/eval/e.csv") == b"a,b\n5,6\n"  # revalidated: reloaded


def test_free_and_rebalance_over_s3(mounted) -> None:
    cluster, api, root = mounted
    assert api.post("/load", json={"paths": ["/s3"], "alias": "all"}).status_code == 200
    assert wait_job(api, "load", alias="all", timeout=60)["state"] == "SUCCEEDED"
    everything = {f"{root}/{k}": v for k, v in FILES.items()}
    before = owners_now(cluster, everything)
    added = join(cluster)
    after = owners_now(cluster, everything)
    moved = {uri for uri in everything if after[uri] != before[uri]}
    assert moved
    assert api.post("/rebalance", json={"target": "ALL"}).status_code == 200
    job = wait_job(api, "rebalance", target="ALL", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    assert job["loadedFiles"] == len(moved) and job["prunedFiles"] == len(moved)
    assert holders(cluster) == after and any(added in owners for owners in after.values())

    assert api.post("/free", json={"paths": ["/s3/train"], "alias": "f"}).status_code == 200
    job = wait_job(api, "free", alias="f", timeout=60)
    assert job["state"] == "SUCCEEDED" and job["freedFiles"] == 25, job
    assert set(holders(cluster)) == {f"{root}/eval/e.csv"}


def test_credentials_are_redacted_in_get_mount_and_status(
    cluster: LocalCluster,
    s3_server: S3Server,
    bucket: str,
    api_url: str,  # noqa: F811 (the fixture imported above)
    capsys,
) -> None:
    api = api_for(cluster)
    # The secret goes inside `client_kwargs` (as botocore's own argument), the key on top.
    nested = {"aws_secret_access_key": s3_server.secret, "region_name": "us-east-1"}
    options = {
        "endpoint_url": s3_server.endpoint_url,
        "key": s3_server.key,
        "client_kwargs": json.dumps(nested),
    }
    body = {"path": "/s3", "ufs": f"s3://{bucket}/prefix", "options": options}
    posted = api.post("/mount", json=body)
    assert posted.status_code == 200, posted.text
    secrets = (s3_server.key, s3_server.secret)
    listed = api.get("/mount").json()["results"]
    one = api.get("/mount", params={"path": "/s3"}).json()
    code, status, err = run(capsys, "status", "--json", "--api", api_url)
    assert code == 0, err
    shown = [posted.text, json.dumps(listed), json.dumps(one), status]
    for text in shown:
        assert not any(secret in text for secret in secrets), text
    (mount,) = json.loads(status)["mounts"]
    assert mount["options"]["key"] == "***"
    assert mount["options"]["endpoint_url"] == s3_server.endpoint_url
    shown_nested = json.loads(mount["options"]["client_kwargs"])
    assert shown_nested == {"aws_secret_access_key": "***", "region_name": "us-east-1"}
    # The stored options keep the credentials: the cluster still reads the bucket.
    assert api.post("/load", json={"paths": ["/s3/eval"], "alias": "e"}).status_code == 200
    assert wait_job(api, "load", alias="e")["loadedBytes"] == 8


def test_bad_credentials_and_a_missing_bucket_are_400_at_mount(
    cluster: LocalCluster, s3_server: S3Server, bucket: str
) -> None:
    api = api_for(cluster)
    bad = s3_server.options(key="AKIANOSUCHKEY", secret="not-the-secret")
    answer = api.post("/mount", json={"path": "/s3", "ufs": f"s3://{bucket}", "options": bad})
    assert answer.status_code == 400, answer.text
    assert "denied" in answer.json()["status"] and "not-the-secret" not in answer.text
    missing = {"path": "/s3", "ufs": "s3://rc-no-such-bucket/x", "options": s3_server.options()}
    answer = api.post("/mount", json=missing)
    assert answer.status_code == 400, answer.text
    assert "does not exist (no bucket 'rc-no-such-bucket')" in answer.json()["status"]
    # A bucket that is there, a prefix that is not: no word about buckets.
    absent = {**missing, "ufs": f"s3://{bucket}/no/such/prefix"}
    answer = api.post("/mount", json=absent)
    assert answer.status_code == 400 and answer.json()["status"].endswith("does not exist")
    assert api.get("/mount").json()["results"] == []


def test_throttled_reads_are_retried_then_counted_as_failures_with_a_reason(
    cluster: LocalCluster, s3_server: S3Server, bucket: str
) -> None:
    api = api_for(cluster)
    with ThrottlingProxy(s3_server, throttle=1_000_000) as proxy:
        # One botocore attempt per s3fs try keeps the test short; s3fs still retries.
        options = proxy.server.options(config_kwargs='{"retries": {"max_attempts": 1}}')
        body = {"path": "/s3", "ufs": f"s3://{bucket}/prefix", "options": options}
        assert api.post("/mount", json=body).status_code == 200  # listings pass through
        assert api.post("/load", json={"paths": ["/s3/eval"], "alias": "slow"}).status_code == 200
        job = wait_job(api, "load", alias="slow", timeout=150)
    assert job["state"] == "FAILED" and job["failedFiles"] == 1, job
    (failure,) = job["failures"]
    assert failure["reason"] == "UFS_READ_FAILED" and "throttled" in json.dumps(failure)
    assert proxy.object_reads > 4  # s3fs's retries, and the job's own, each went out
