"""Where `ringcache start` has its workers serve data: loopback on a Ray instance of its
own, the Ray node's address on a cluster it joins, whatever the configuration says."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringcache.cli.lifecycle import data_on_loopback_when_alone
from tests.conftest import make_config


def config(tmp_path: Path, data_host: str | None, **overrides: object):
    base = make_config(tmp_path, **overrides)
    return base.model_copy(
        update={"worker": base.worker.model_copy(update={"data_host": data_host})}
    )


@pytest.mark.parametrize(
    ("ray_address", "env", "configured", "expected"),
    [
        (None, None, None, "127.0.0.1"),
        ("local", None, None, "127.0.0.1"),
        (None, "10.0.0.5:6379", None, None),  # RAY_ADDRESS: a cluster it joins
        ("10.0.0.5:6379", None, None, None),
        (None, None, "10.1.2.3", "10.1.2.3"),  # configured: kept
    ],
)
def test_data_host(tmp_path: Path, monkeypatch, ray_address, env, configured, expected) -> None:
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    given = config(tmp_path, configured, ray_address=ray_address)
    assert data_on_loopback_when_alone(given).worker.data_host == expected
