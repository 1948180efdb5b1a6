"""`ringcache <kind>`: the subcommands and their flags come from the kind registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringcache.cli import rest
from ringcache.cli.main import main
from ringcache.cluster.jobs.catalog import JobKind
from tests.unit.jobs.warm_kind import register_warm


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> JobKind:
    return register_warm(monkeypatch)


def test_each_kind_with_a_verb_is_a_cli_subcommand_with_its_flags(
    warm: JobKind, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    asked: list[tuple] = []

    def request(args: Any, method: str, path: str, **kwargs: Any) -> dict:
        asked.append((method, path, kwargs.get("json")))
        return {"id": "j1", "state": "SUCCEEDED"}

    monkeypatch.setattr(rest, "request", request)
    assert main(["warm", "/data/a", "--alias", "a", "--batch-size", "0", "--hot"]) == 0
    body = {"alias": "a", "paths": ["/data/a"], "options": {"batchSize": 0, "temperature": "HOT"}}
    assert asked == [("POST", "/warm", body)]
    assert json.loads(capsys.readouterr().out)["id"] == "j1"
    assert main(["load", "/data/a", "--alias", "a"]) == 0  # the flags a kind has not: none
    assert asked[-1] == ("POST", "/load", {"alias": "a", "paths": ["/data/a"], "options": {}})
    with pytest.raises(SystemExit):
        main(["rebalance", "ALL"])  # a kind without a verb is no subcommand
