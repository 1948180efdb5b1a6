"""Allowed local roots hold for every protocol that reaches the local disk, symlinks too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ringcache.local import LocalCluster
from tests.api.jobs_helpers import api_for


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
