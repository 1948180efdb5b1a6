"""Mount options: checked as strings, turned into an fsspec constructor's arguments.

Mount options travel as strings (the REST body, the registry record), while fsspec
constructors take booleans, integers and nested dictionaries (s3fs's `client_kwargs`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgument

# S3 through s3fs: throttling (SlowDown, 503) and timeouts are retried by botocore's
# standard mode, each attempt again by s3fs's own backoff (5 tries); a call that still
# fails is a UfsError, which a job retries and then counts as a failure with its reason.
S3_DEFAULT_CONFIG: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 3},
    "connect_timeout": 10,
    "read_timeout": 60,
}


def check_options(options: object) -> dict[str, str]:
    """A copy of `options` if it maps strings to strings; InvalidArgument otherwise."""
    if not isinstance(options, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in options.items()
    ):
        raise InvalidArgument(f"UFS options must map strings to strings, not {options!r}")
    return dict(options)


def constructor_kwargs(cls: type, scheme: str, options: Mapping[str, str]) -> dict[str, Any]:
    """The keyword arguments for `cls(**...)` that `options` stand for.

    "true"/"false" are booleans (in any case); a `*_kwargs` option is a JSON object; a
    value is an integer where the constructor's default for it is one. For `s3://`,
    `region` becomes `client_kwargs.region_name` and botocore's retry and timeout settings
    default to `S3_DEFAULT_CONFIG`.
    """
    defaults = _int_parameters(cls)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key.endswith("_kwargs"):
            kwargs[key] = _json_object(key, value)
        elif value.lower() in ("true", "false"):
            kwargs[key] = value.lower() == "true"
        elif key in defaults:
            kwargs[key] = _integer(key, value)
        else:
            kwargs[key] = value
    if scheme in ("s3", "s3a"):
        _s3_kwargs(kwargs)
    return kwargs


def _s3_kwargs(kwargs: dict[str, Any]) -> None:
    region = kwargs.pop("region", None)
    if region is not None:
        kwargs["client_kwargs"] = {"region_name": region, **kwargs.get("client_kwargs", {})}
    kwargs["config_kwargs"] = {**S3_DEFAULT_CONFIG, **kwargs.get("config_kwargs", {})}


def _int_parameters(cls: type) -> frozenset[str]:
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(
        p.name
        for p in parameters
        if type(p.default) is int  # bool is not an int here
    )


def _json_object(key: str, value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"UFS option {key!r} must be a JSON object, like '{{\"a\": 1}}'")
    return parsed


def _integer(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"UFS option {key!r} must be an integer, not {value!r}") from None
