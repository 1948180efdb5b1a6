from __future__ import annotations

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ufs.options import S3_DEFAULT_CONFIG, constructor_kwargs


class Takes:
    def __init__(self, flag: bool = False, count: int = 10, name: str = "", **kwargs) -> None:
        pass


def test_words_flags_integers_and_json_objects() -> None:
    kwargs = constructor_kwargs(
        Takes,
        "x",
        {"flag": "TRUE", "count": "32", "name": "7", "client_kwargs": '{"a": 1}'},
    )
    assert kwargs == {"flag": True, "count": 32, "name": "7", "client_kwargs": {"a": 1}}


@pytest.mark.parametrize(("key", "value"), [("count", "many"), ("client_kwargs", "[1]")])
def test_mistyped_values_are_invalid_arguments(key: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        constructor_kwargs(Takes, "x", {key: value})
    assert key in caught.value.message


def test_s3_region_and_retry_defaults() -> None:
    kwargs = constructor_kwargs(
        Takes,
        "s3",
        {
            "region": "eu-west-1",
            "client_kwargs": '{"verify": false}',
            "config_kwargs": '{"read_timeout": 5}',
        },
    )
    assert kwargs["client_kwargs"] == {"region_name": "eu-west-1", "verify": False}
    assert kwargs["config_kwargs"] == {**S3_DEFAULT_CONFIG, "read_timeout": 5}
    assert "region" not in kwargs
