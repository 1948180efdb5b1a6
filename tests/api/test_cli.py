"""The `ringcache` command against a real HTTP server over the in-process runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringcache.cli.main import main
from ringcache.local import LocalCluster
from tests.api.rest_server import serving_rest
from tests.conftest import write_tree


@pytest.fixture
def api_url(cluster: LocalCluster) -> Iterator[str]:
    with serving_rest(cluster) as address:
        yield f"{address}/api/v1"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return code, captured.out, captured.err + str(exc.code)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_mount_load_watch_jobs_and_free(api_url: str, tmp_path: Path, capsys) -> None:
    tree = write_tree(tmp_path / "ufs", {f"f{i}.bin": b"x" * (100 * i) for i in range(30)})
    code, out, _ = run(capsys, "mount", "add", "/data", f"file://{tree}", "--api", api_url)
    assert code == 0 and json.loads(out)["path"] == "/data"

    code, out, err = run(capsys, "load", "/data", "--alias", "train", "--watch", "--api", api_url)
    job = json.loads(out)
    assert code == 0, err
    assert job["state"] == "SUCCEEDED" and job["scannedFiles"] == 30
    assert job["loadedBytes"] == sum(100 * i for i in range(30))
    assert "30/30 files" in err  # the progress bar's last frame

    code, out, _ = run(capsys, "load", "/data", "--alias", "train", "--api", api_url)
    assert "runs again" in out  # the 409 sentence, then the job

    code, out, _ = run(capsys, "jobs", "load", "--json", "--api", api_url)
    assert [j["alias"] for j in json.loads(out)] == ["train"]

    code, out, _ = run(capsys, "free", "/data", "--alias", "f", "--watch", "--api", api_url)
    assert code == 0 and json.loads(out)["freedFiles"] == 30

    code, out, _ = run(capsys, "load", "--alias", "train", "--stop", "--api", api_url)
    assert code != 0  # already finished: 410, said as such


def test_errors_are_sentences_not_tracebacks(api_url: str, capsys) -> None:
    code, _, err = run(capsys, "load", "/nowhere", "--alias", "x", "--api", api_url)
    assert code != 0 and "400" in err and "/nowhere" in err
    code, _, err = run(capsys, "load", "/data", "--api", api_url)
    assert code != 0 and "--alias" in err
    code, _, err = run(capsys, "status", "--api", "http://127.0.0.1:9/api/v1")
    assert code != 0 and "cannot reach" in err
