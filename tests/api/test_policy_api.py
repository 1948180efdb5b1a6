"""`/api/v1/quota`, `/ttl`, `/priority`, `/cache-filter` and `/file_index` over the in-process
runtime: every status code of API.md, malformed bodies, and the configuration switches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from ringcache.cluster.index.file_index import FileIndex
from ringcache.cluster.policies import PolicyCalls, PolicyConfig, PolicyService
from ringcache.cluster.refs import LocalRef
from ringcache.http import cache_filter, file_index, priority, quota, ttl
from ringcache.http.errors import EXCEPTION_HANDLERS
from ringcache.local import LocalCluster

Api = Callable[..., TestClient]
PATH_RULES = {  # endpoint -> (value field, a valid value, the answer fields it adds)
    "quota": ("size", "10GB", {"size": "10GB", "sizeBytes": 10**10, "action": "DEFAULT"}),
    "ttl": ("time", "1h", {"time": "1h", "seconds": 3600}),
    "priority": ("priority", "HIGH", {"priority": "HIGH"}),
}
MALFORMED_BODIES = [None, "", "not json", "[1, 2]", '"text"', "{}"]


class CoordinatorStandIn(PolicyCalls):
    """What the coordinator becomes for these calls: a `PolicyCalls` over a service."""

    def __init__(self, policies: PolicyService) -> None:
        self.policies = policies


@pytest.fixture
def mounted(cluster_factory: Callable[..., LocalCluster], data_dir: Path) -> LocalCluster:
    cluster = cluster_factory(workers=1)
    cluster.run(cluster.coordinator.add_mount("/data", f"file://{data_dir}", {}))
    return cluster


@pytest.fixture
def make_api(mounted: LocalCluster) -> Api:
    """A TestClient over the policy routes, calling the coordinator's `PolicyCalls`."""

    def make(**switches: bool) -> TestClient:
        config = PolicyConfig.model_validate({k: {"enabled": v} for k, v in switches.items()})
        service = PolicyService(
            mounted.registry_ref, None, FileIndex(":memory:"), config, env=mounted.env
        )
        ref = LocalRef(CoordinatorStandIn(service), mounted.loop)
        routes = [m.route(ref) for m in (quota, ttl, priority, cache_filter, file_index)]
        app = Starlette(
            routes=[Mount("/api/v1", routes=routes)], exception_handlers=EXCEPTION_HANDLERS
        )
        return TestClient(app, base_url="http://test/api/v1")

    return make


@pytest.fixture
def api(make_api: Api) -> TestClient:
    return make_api()


def send(api: TestClient, method: str, endpoint: str, body: str | None):
    return api.request(method, endpoint, content=body, headers={"content-type": "application/json"})


def assert_status(answer, code: int, *words: str) -> None:
    assert answer.status_code == code, answer.text
    message = answer.json()["status"]
    assert isinstance(message, str) and message
    for word in words:
        assert word in message, message


# -- quota, TTL, priority: the shared shape ------------------------------------------------


@pytest.mark.parametrize("endpoint", PATH_RULES)
def test_path_rules_add_list_get_update_and_delete(api: TestClient, endpoint: str) -> None:
    field, value, shown = PATH_RULES[endpoint]
    assert api.get(f"/{endpoint}").json() == {"results": []}
    added = api.post(f"/{endpoint}", json={"path": "/data/train/", field: value})
    assert added.status_code == 200, added.text
    expected = {"path": "/data/train", **shown}
    if endpoint == "quota":
        expected["usedBytes"] = 0
    assert added.json() == expected
    assert api.get(f"/{endpoint}").json() == {"results": [expected]}
    assert api.get(f"/{endpoint}", params={"path": "/data/train"}).json() == expected

    other = {"quota": "1GiB", "ttl": 30, "priority": "LOW"}[endpoint]
    updated = api.post(f"/{endpoint}", json={"path": "/data/train", field: other})
    assert updated.status_code == 200, updated.text
    assert len(api.get(f"/{endpoint}").json()["results"]) == 1

    removed = api.request("DELETE", f"/{endpoint}", json={"path": "/data/train"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["path"] == "/data/train"
    assert api.get(f"/{endpoint}").json() == {"results": []}


@pytest.mark.parametrize("endpoint", PATH_RULES)
def test_path_rules_accept_ufs_uris(api: TestClient, data_dir: Path, endpoint: str) -> None:
    field, value, _ = PATH_RULES[endpoint]
    added = api.post(f"/{endpoint}", json={"path": f"file://{data_dir}/nested", field: value})
    assert added.status_code == 200, added.text
    assert added.json()["path"] == "/data/nested"
    by_uri = api.get(f"/{endpoint}", params={"path": f"file://{data_dir}/nested"})
    assert by_uri.status_code == 200 and by_uri.json()["path"] == "/data/nested"
    removed = api.request("DELETE", f"/{endpoint}", json={"path": f"file://{data_dir}/nested"})
    assert removed.status_code == 200, removed.text


@pytest.mark.parametrize("endpoint", PATH_RULES)
def test_path_rule_get_missing_is_404_delete_missing_is_400(api: TestClient, endpoint: str):
    assert_status(api.get(f"/{endpoint}", params={"path": "/data/none"}), 404, "/data/none")
    gone = api.request("DELETE", f"/{endpoint}", json={"path": "/data/none"})
    assert_status(gone, 400, "/data/none")


@pytest.mark.parametrize("endpoint", PATH_RULES)
@pytest.mark.parametrize("path", ["/elsewhere/x", "/", "relative/x", "/data/../..", "file:///etc"])
def test_path_rules_off_every_mount_are_400_naming_the_path(
    api: TestClient, endpoint: str, path: str
) -> None:
    field, value, _ = PATH_RULES[endpoint]
    assert_status(api.post(f"/{endpoint}", json={"path": path, field: value}), 400, path)
    assert_status(api.get(f"/{endpoint}", params={"path": path}), 400, path)
    assert_status(api.request("DELETE", f"/{endpoint}", json={"path": path}), 400, path)


@pytest.mark.parametrize("endpoint", PATH_RULES)
@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_path_rule_malformed_bodies_are_400(api: TestClient, endpoint: str, body) -> None:
    assert_status(send(api, "POST", f"/{endpoint}", body), 400)
    assert_status(send(api, "DELETE", f"/{endpoint}", body), 400)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("quota", {"path": "/data"}),
        ("quota", {"path": "/data", "size": -1}),
        ("quota", {"path": "/data", "size": "-1GB"}),
        ("quota", {"path": "/data", "size": "ten gigabytes"}),
        ("quota", {"path": "/data", "size": 1.5}),
        ("quota", {"path": "/data", "size": True}),
        ("quota", {"path": "/data", "size": "1GB", "action": "evict"}),
        ("quota", {"path": "/data", "size": "1GB", "action": 2}),
        ("quota", {"path": 7, "size": "1GB"}),
        ("quota", {"path": "/data", "size": "1GB", "extra": 1}),
        ("ttl", {"path": "/data"}),
        ("ttl", {"path": "/data", "time": 0}),
        ("ttl", {"path": "/data", "time": "0s"}),
        ("ttl", {"path": "/data", "time": "-5s"}),
        ("ttl", {"path": "/data", "time": "soon"}),
        ("ttl", {"path": "/data", "time": 1.5}),
        ("ttl", {"path": "/data", "time": None}),
        ("priority", {"path": "/data", "priority": "high"}),
        ("priority", {"path": "/data", "priority": "URGENT"}),
        ("priority", {"path": "/data", "priority": 1}),
        ("priority", {"path": ["/data"], "priority": "LOW"}),
    ],
)
def test_bad_rule_values_are_400(api: TestClient, endpoint: str, body: dict) -> None:
    assert_status(api.post(f"/{endpoint}", json=body), 400)
    assert api.get(f"/{endpoint}").json() == {"results": []}


def test_quota_action_evict_is_kept(api: TestClient) -> None:
    answer = api.post("/quota", json={"path": "/data", "size": 1000, "action": "EVICT"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "path": "/data",
        "size": "1000B",
        "sizeBytes": 1000,
        "action": "EVICT",
        "usedBytes": 0,
    }


# -- cache filter --------------------------------------------------------------------------


def test_cache_filter_rules_in_order_and_the_default(api: TestClient) -> None:
    assert api.get("/cache-filter").json() == {"results": [], "default": {"rule": "immutable"}}
    first = api.post("/cache-filter", json={"pattern": ".*/tmp/.*", "rule": "skipCache"})
    assert first.status_code == 200, first.text
    assert first.json() == {"pattern": ".*/tmp/.*", "rule": "skipCache"}
    second = {"pattern": ".*/tables/.*", "rule": "maxAge", "time": "10s"}
    assert api.post("/cache-filter", json=second).json() == second
    default = api.post("/cache-filter", json={"updateDefault": True, "rule": "maxAge", "time": 60})
    assert default.status_code == 200, default.text
    assert api.get("/cache-filter").json() == {
        "results": [{"pattern": ".*/tmp/.*", "rule": "skipCache"}, second],
        "default": {"rule": "maxAge", "time": "60s"},
    }
    removed = api.request(
        "DELETE", "/cache-filter", json={"pattern": ".*/tmp/.*", "rule": "skipCache"}
    )
    assert removed.status_code == 200, removed.text
    with_time = api.request("DELETE", "/cache-filter", json={**second, "time": "99s"})
    assert with_time.status_code == 200, with_time.text  # time is not needed, nor compared
    assert api.get("/cache-filter").json()["results"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"pattern": "(", "rule": "skipCache"},
        {"pattern": "[a-", "rule": "immutable"},
        {"pattern": "", "rule": "skipCache"},
        {"pattern": ".*", "rule": "neverCache"},
        {"pattern": ".*", "rule": "maxAge"},
        {"pattern": ".*", "rule": "maxAge", "time": "soon"},
        {"pattern": ".*", "rule": "maxAge", "time": 1.5},
        {"pattern": ".*", "rule": "skipCache", "time": "10s"},
        {"pattern": 5, "rule": "skipCache"},
        {"rule": "skipCache"},
        {"pattern": ".*"},
        {"updateDefault": True, "rule": "maxAge"},
        {"updateDefault": True, "rule": "bogus"},
        {"updateDefault": "yes", "rule": "immutable"},
        {"updateDefault": True, "pattern": ".*", "rule": "immutable"},
        {"pattern": ".*", "rule": "skipCache", "extra": 1},
    ],
)
def test_bad_cache_filter_posts_are_400(api: TestClient, body: dict) -> None:
    assert_status(api.post("/cache-filter", json=body), 400)
    assert api.get("/cache-filter").json() == {"results": [], "default": {"rule": "immutable"}}


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_cache_filter_malformed_bodies_are_400(api: TestClient, body: str | None) -> None:
    assert_status(send(api, "POST", "/cache-filter", body), 400)
    assert_status(send(api, "DELETE", "/cache-filter", body), 400)


def test_cache_filter_delete_missing_wrong_or_default_is_400(api: TestClient) -> None:
    api.post("/cache-filter", json={"pattern": ".*/tmp/.*", "rule": "skipCache"})
    missing = api.request("DELETE", "/cache-filter", json={"pattern": "x", "rule": "skipCache"})
    assert_status(missing, 400, "'x'")
    wrong = api.request("DELETE", "/cache-filter", json={"pattern": ".*/tmp/.*", "rule": "maxAge"})
    assert_status(wrong, 400, "skipCache")
    default = api.request(
        "DELETE", "/cache-filter", json={"updateDefault": True, "rule": "immutable"}
    )
    assert_status(default, 400, "default")
    no_pattern = api.request("DELETE", "/cache-filter", json={"rule": "immutable"})
    assert_status(no_pattern, 400, "default")
    assert len(api.get("/cache-filter").json()["results"]) == 1


# -- file index ----------------------------------------------------------------------------


def test_file_index_add_list_page_and_remove(api: TestClient, data_dir: Path) -> None:
    assert api.get("/file_index").json() == {"results": []}
    paths = ["/data/a.bin", f"file://{data_dir}/small.txt", "/data/nested/deep/b.bin"]
    added = api.post("/file_index", json={"paths": paths})
    assert added.status_code == 200, added.text
    assert added.json() == {"added": 3}
    listing = api.get("/file_index").json()["results"]
    assert listing == sorted(
        [
            {"path": f"file://{data_dir}/a.bin", "length": 100_000, "workers": []},
            {"path": f"file://{data_dir}/small.txt", "length": 16, "workers": []},
            {"path": f"file://{data_dir}/nested/deep/b.bin", "length": 300_000, "workers": []},
        ],
        key=lambda entry: entry["path"],
    )
    page = api.get("/file_index", params={"count": 1, "lastKey": listing[0]["path"]}).json()
    assert page["results"] == listing[1:2]
    (data_dir / "nestedness.txt").write_bytes(b"a sibling that shares the prefix text")
    assert api.post("/file_index", json={"paths": ["/data/nestedness.txt"]}).status_code == 200
    nested = api.get("/file_index", params={"prefix": "/data/nested/"}).json()["results"]
    assert [e["path"] for e in nested] == [f"file://{data_dir}/nested/deep/b.bin"]
    texts = api.get("/file_index", params={"prefix": "/data/nested"}).json()["results"]
    assert len(texts) == 2  # without the slash, a plain string prefix
    assert api.request(
        "DELETE", "/file_index", json={"paths": ["/data/nestedness.txt"]}
    ).json() == {"removed": 1}
    by_uri = api.get("/file_index", params={"prefix": f"file://{data_dir}/s"}).json()["results"]
    assert [e["length"] for e in by_uri] == [16]

    removed = api.request("DELETE", "/file_index", json={"paths": paths[:2] + ["/data/none"]})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"removed": 2}
    assert len(api.get("/file_index").json()["results"]) == 1


@pytest.mark.parametrize(
    "paths", [["/data/no-such-file"], ["/data/nested"], ["/elsewhere/a"], ["/data/a.bin", "x"]]
)
def test_file_index_post_of_bad_paths_is_400_and_adds_nothing(api: TestClient, paths) -> None:
    assert_status(api.post("/file_index", json={"paths": paths}), 400)
    assert api.get("/file_index").json() == {"results": []}


@pytest.mark.parametrize(
    "body", [*MALFORMED_BODIES, '{"paths": "/data/a.bin"}', '{"paths": [1]}', '{"path": []}']
)
def test_file_index_malformed_bodies_are_400(api: TestClient, body: str | None) -> None:
    assert_status(send(api, "POST", "/file_index", body), 400)
    assert_status(send(api, "DELETE", "/file_index", body), 400)


@pytest.mark.parametrize("count", ["0", "-3", "abc", "1.5", "100000"])
def test_file_index_bad_counts_are_400(api: TestClient, count: str) -> None:
    assert_status(api.get("/file_index", params={"count": count}), 400, "count")


# -- switches and methods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "endpoint", "good_post"),
    [
        ("quota", "/quota", {"path": "/data", "size": "1GB"}),
        ("ttl", "/ttl", {"path": "/data", "time": "1h"}),
        ("priority", "/priority", {"path": "/data", "priority": "LOW"}),
        ("cache_filter", "/cache-filter", {"pattern": ".*", "rule": "skipCache"}),
    ],
)
def test_disabled_policies_answer_501_to_every_call(
    make_api: Api, feature: str, endpoint: str, good_post: dict
) -> None:
    api = make_api(**{feature: False})
    assert_status(api.get(endpoint), 501, "disabled")
    assert_status(api.get(endpoint, params={"path": "/data"}), 501)
    assert_status(api.post(endpoint, json=good_post), 501)
    assert_status(api.request("DELETE", endpoint, json=good_post), 501)
    assert_status(send(api, "POST", endpoint, "not json"), 501)
    assert_status(send(api, "DELETE", endpoint, None), 501)
    assert_status(api.post(endpoint, json={**good_post, "extra": 1}), 501)
    enabled = make_api()  # the other features of the same cluster are unaffected
    assert enabled.get(endpoint).status_code == 200


def test_disabled_file_index_answers_404_to_every_call(make_api: Api) -> None:
    api = make_api(file_index=False)
    assert_status(api.get("/file_index"), 404, "disabled")
    assert_status(api.get("/file_index", params={"count": "abc"}), 404)
    assert_status(api.post("/file_index", json={"paths": ["/data/a.bin"]}), 404)
    assert_status(api.request("DELETE", "/file_index", json={"paths": ["/data/a.bin"]}), 404)
    assert_status(send(api, "POST", "/file_index", "not json"), 404)
    assert make_api(quota=False).get("/file_index").status_code == 200


@pytest.mark.parametrize(
    "endpoint", ["/quota", "/ttl", "/priority", "/cache-filter", "/file_index"]
)
def test_other_methods_are_405_with_a_status(api: TestClient, endpoint: str) -> None:
    assert_status(api.put(endpoint, json={}), 405, "PUT")
