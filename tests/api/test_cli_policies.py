"""`ringcache quota|ttl|priority|filter` against a real HTTP server over the in-process runtime."""

from __future__ import annotations

import json
from pathlib import Path

from ringcache.local import LocalCluster
from tests.api.test_cli import api_url, run  # noqa: F401  (a served cluster; `ringcache ...`)
from tests.conftest import wait_for, write_tree


def test_path_rules_add_list_and_remove(
    api_url: str,  # noqa: F811
    cluster: LocalCluster,
    tmp_path: Path,
    capsys,
) -> None:
    tree = write_tree(tmp_path / "ufs", {"train/a.bin": b"x" * 100})
    cluster.run(cluster.coordinator.add_mount("/data", f"file://{tree}", {}))
    api = ("--api", api_url)
    code, out, err = run(capsys, "quota", "add", "/data/train", "10KB", "--action", "EVICT", *api)
    assert code == 0, err
    assert json.loads(out) == {
        "path": "/data/train",
        "size": "10KB",
        "sizeBytes": 10_000,
        "action": "EVICT",
        "usedBytes": 0,
    }
    code, out, _ = run(capsys, "ttl", "add", "/data/train", "90", *api)
    assert code == 0 and json.loads(out)["seconds"] == 90
    code, out, _ = run(capsys, "priority", "add", "/data/train", "LOW", *api)
    assert code == 0 and json.loads(out)["priority"] == "LOW"

    code, out, _ = run(capsys, "quota", "list", "--json", *api)
    assert [q["path"] for q in json.loads(out)] == ["/data/train"]
    code, out, _ = run(capsys, "quota", "list", *api)
    assert code == 0 and "/data/train" in out and "EVICT" in out and "quota rules" in out
    code, out, _ = run(capsys, "ttl", "list", "/data/train", "--json", *api)
    assert json.loads(out) == [{"path": "/data/train", "time": "90s", "seconds": 90}]
    # The rule reaches the workers, as one set over REST would.
    wait_for(
        lambda: all(
            w.policy_watch.policies.priority_for("/data/train/a.bin") == "LOW"
            for w in cluster.workers.values()
        ),
        what="the priority rule on the workers",
    )

    for command in ("quota", "ttl", "priority"):
        code, _, err = run(capsys, command, "remove", "/data/train", *api)
        assert code == 0, err
    code, out, _ = run(capsys, "priority", "list", "--json", *api)
    assert json.loads(out) == []


def test_filter_rules_and_the_default(api_url: str, capsys) -> None:  # noqa: F811
    api = ("--api", api_url)
    code, out, err = run(capsys, "filter", "add", ".*/tmp/.*", "skipCache", *api)
    assert code == 0, err
    assert json.loads(out) == {"pattern": ".*/tmp/.*", "rule": "skipCache"}
    code, out, _ = run(capsys, "filter", "add", r".*\.csv", "maxAge", "--time", "10s", *api)
    assert json.loads(out)["time"] == "10s"
    code, out, _ = run(capsys, "filter", "default", "maxAge", "--time", "1h", *api)
    assert json.loads(out) == {"default": {"rule": "maxAge", "time": "1h"}}
    code, out, _ = run(capsys, "filter", "list", "--json", *api)
    listed = json.loads(out)
    assert [r["pattern"] for r in listed["results"]] == [".*/tmp/.*", r".*\.csv"]
    assert listed["default"] == {"rule": "maxAge", "time": "1h"}
    code, out, _ = run(capsys, "filter", "list", *api)
    assert "(default)" in out and "skipCache" in out
    code, _, _ = run(capsys, "filter", "remove", ".*/tmp/.*", "skipCache", *api)
    assert code == 0


def test_errors_are_the_servers_sentences(api_url: str, capsys) -> None:  # noqa: F811
    api = ("--api", api_url)
    code, _, err = run(capsys, "quota", "add", "/nowhere", "10GB", *api)
    assert code != 0 and "400" in err and "/nowhere" in err
    code, _, err = run(capsys, "priority", "add", "/nowhere", "URGENT", *api)
    assert code != 0 and "400" in err
    code, _, err = run(capsys, "filter", "remove", "nothing", "skipCache", *api)
    assert code != 0 and "400" in err and "nothing" in err
    code, _, err = run(capsys, "filter", "add", "x", "sometimes", *api)
    assert code != 0 and "invalid choice" in err
