"""The CLI's token: sent on every REST call; `start` refuses an open non-loopback API."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ringcache.cli import main, rest
from ringcache.cli.settings import exposure_refusal, with_env_token
from ringcache.config import ClusterConfig


def test_start_refuses_a_non_loopback_host_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("RINGCACHE_TOKEN", raising=False)
    code = main(["start", "--host", "0.0.0.0", "--state-dir", str(tmp_path)])
    assert code == 2
    assert "--insecure" in capsys.readouterr().err


def test_exposure_rules() -> None:
    def refusal(host: str, insecure: bool = False, **api: object) -> str | None:
        config = ClusterConfig(host=host, api=api)
        return exposure_refusal(config, insecure)

    assert refusal("127.0.0.1") is None
    assert refusal("::1") is None
    assert refusal("0.0.0.0") is not None
    assert refusal("0.0.0.0", insecure=True) is None
    assert refusal("10.0.0.5", token="t") is None


def test_the_environment_token_is_read_by_the_command_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RINGCACHE_TOKEN", "from-env")
    assert ClusterConfig().api.token is None  # the configuration never reads it
    assert with_env_token(ClusterConfig()).api.token == "from-env"
    given = ClusterConfig(api={"token": "own"})
    assert with_env_token(given).api.token == "own"


def test_rest_calls_send_the_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sent: list[dict] = []

    class Answer:
        status_code = 200

        def json(self) -> dict:
            return {"results": []}

    def fake_request(method: str, url: str, **kwargs: object) -> Answer:
        sent.append(kwargs["headers"])
        return Answer()

    monkeypatch.setattr(rest.httpx, "request", fake_request)
    monkeypatch.setenv("RINGCACHE_TOKEN", "from-env")
    args = argparse.Namespace(api=None, host=None, port=None, token_file=None)
    rest.request(args, "GET", "/mount")
    (tmp_path / "t").write_text("from-file\n")
    rest.request(
        argparse.Namespace(api=None, host=None, port=None, token_file=tmp_path / "t"),
        "GET",
        "/mount",
    )
    monkeypatch.delenv("RINGCACHE_TOKEN")
    rest.request(args, "GET", "/mount")
    assert sent == [
        {"Authorization": "Bearer from-env"},
        {"Authorization": "Bearer from-file"},
        {},
    ]


def test_allow_root_adds_to_the_config_files_roots(tmp_path: Path) -> None:
    from ringcache.cli.main import build_parser
    from ringcache.cli.settings import config_from

    toml = tmp_path / "c.toml"
    toml.write_text('allowed_local_roots = ["/srv/a"]\n')
    args = build_parser().parse_args(
        ["start", "--config", str(toml), "--allow-root", "/srv/b", "--allow-root", "/srv/c"]
    )
    assert config_from(args).allowed_local_roots == ["/srv/a", "/srv/b", "/srv/c"]
    args = build_parser().parse_args(["start", "--allow-root", "/srv/b"])
    assert config_from(args).allowed_local_roots == ["/srv/b"]  # not all of / besides
