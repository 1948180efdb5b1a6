from __future__ import annotations

import json

import pytest

from ringcache.cluster.ufs.mounts import MountPoint
from ringcache.cluster.ufs.redaction import REDACTED, is_secret_name, redact_options


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "secret",
        "token",
        "password",
        "aws_secret_access_key",
        "sessionToken",
        "sas_token",
        "connection_string",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["endpoint_url", "region", "anon", "client_kwargs", "use_ssl", "connect_timeout"]
)
def test_other_names_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_redaction_hides_credentials_at_every_depth_and_keeps_the_rest() -> None:
    options = {
        "endpoint_url": "http://user:hunter2@127.0.0.1:9000",
        "key": "AKIA123",
        "secret": "s3cr3t",
        "region": "eu-west-1",
        "client_kwargs": json.dumps({"aws_secret_access_key": "deep", "region_name": "x"}),
    }
    shown = redact_options(options)
    assert shown["key"] == shown["secret"] == REDACTED
    assert shown["region"] == "eu-west-1"
    assert shown["endpoint_url"] == "http://user:***@127.0.0.1:9000"
    nested = json.loads(shown["client_kwargs"])
    assert nested == {"aws_secret_access_key": REDACTED, "region_name": "x"}
    assert options["secret"] == "s3cr3t"  # the given options are left alone
    assert not any(s in json.dumps(shown) for s in ("AKIA123", "s3cr3t", "deep", "hunter2"))


def test_a_mount_point_shows_redacted_options_and_stores_them_whole() -> None:
    mount = MountPoint("/s3", "s3://bucket/p", {"secret": "s3cr3t", "region": "r"})
    assert mount.to_dict()["options"] == {"secret": REDACTED, "region": "r"}
    assert "s3cr3t" not in repr(mount)
    record = mount.to_record()
    assert record["options"] == {"secret": "s3cr3t", "region": "r"}
    assert MountPoint.from_dict(record) == mount
