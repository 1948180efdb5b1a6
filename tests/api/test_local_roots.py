"""Allowed local roots hold for every protocol that reaches the local disk, symlinks too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ringcache.client.client import connect
from ringcache.cluster.ufs.local_roots import OutsideLocalRoots
from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for
from tests.api.policy_helpers import cached, load


@pytest.mark.parametrize(
    ("ufs", "options"),
    [
        ("file:///etc", {}),
        ("local:///etc", {}),
        ("simplecache:///etc", {"target_protocol": "file"}),
        ("filecache:///etc", {"target_protocol": "local"}),
        ("dir:///", {"target_protocol": "file", "path": "/etc"}),
    ],
)
def test_a_local_root_outside_the_allowed_ones_is_refused(
    cluster_factory: Callable[..., LocalCluster], ufs: str, options: dict
) -> None:
    api = api_for(cluster_factory(workers=1))
    answer = api.post("/mount", json={"path": "/etc", "ufs": ufs, "options": options})
    assert answer.status_code == 400, answer.text
    assert "allowed local root" in answer.json()["status"]
    assert api.get("/mount").json()["results"] == []


def test_a_symlink_out_of_an_allowed_root_is_refused(
    cluster_factory: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    (tmp_path / "escape").symlink_to("/etc")
    api = api_for(cluster_factory(workers=1))
    for ufs in (f"file://{tmp_path}/escape", f"local://{tmp_path}/escape"):
        answer = api.post("/mount", json={"path": "/etc", "ufs": ufs})
        assert answer.status_code == 400, answer.text


def test_a_local_protocol_inside_an_allowed_root_mounts(
    cluster_factory: Callable[..., LocalCluster], data_dir: Path
) -> None:
    api = api_for(cluster_factory(workers=1))
    answer = api.post("/mount", json={"path": "/data", "ufs": f"local://{data_dir}"})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def escapes(
    cluster_factory: Callable[..., LocalCluster],
    data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[LocalCluster, TestClient]:
    """/data mounted, then symlinks made in it: a file and a directory leading out of the
    allowed roots, and a file and a directory that stay inside."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(b"not for the cache")
    cluster = cluster_factory(workers=2)
    api = api_for(cluster)
    answer = api.post("/mount", json={"path": "/data", "ufs": f"file://{data_dir}"})
    assert answer.status_code == 200, answer.text
    (data_dir / "escape.txt").symlink_to(outside / "secret.txt")
    (data_dir / "door").symlink_to(outside)
    (data_dir / "alias.txt").symlink_to(data_dir / "small.txt")
    (data_dir / "hall").symlink_to(data_dir / "nested")
    return cluster, api


def test_a_load_fails_symlinks_out_of_the_roots_and_caches_nothing_of_them(
    escapes: tuple[LocalCluster, TestClient], data_dir: Path
) -> None:
    cluster, api = escapes
    paths = ["/data/escape.txt", "/data/door/secret.txt", "/data/alias.txt", "/data/hall"]
    job = load(api, "symlinks", *paths)
    reasons = {failure["path"]: failure["reason"] for failure in job["failures"]}
    assert reasons == {
        f"file://{data_dir}/escape.txt": "OUTSIDE_LOCAL_ROOTS",
        f"file://{data_dir}/door/secret.txt": "OUTSIDE_LOCAL_ROOTS",
    }, job
    assert job["loadedBytes"] == len(b"hello ringcache\n") + 300_000  # alias, hall/deep/b.bin
    held = cached(cluster)
    assert f"file://{data_dir}/alias.txt" in held
    assert not any("escape" in path or "door" in path for path in held)


def test_a_read_of_a_symlink_out_of_the_roots_is_forbidden(
    escapes: tuple[LocalCluster, TestClient], data_dir: Path
) -> None:
    cluster, _ = escapes
    client = connect(cluster=cluster)
    for path in ("/data/escape.txt", "/data/door/secret.txt"):
        with pytest.raises(OutsideLocalRoots) as caught:
            client.read(path)
        assert caught.value.status_code == 403
    assert not any("escape" in path or "door" in path for path in cached(cluster))
    assert client.read("/data/alias.txt") == b"hello ringcache\n"
    deep = (data_dir / "nested/deep/b.bin").read_bytes()
    assert client.read("/data/hall/deep/b.bin", 10, 20) == deep[10:30]
