"""Credentials in mount options: kept in the registry, shown to nobody.

`redact_options` is what every listing of a mount (REST, CLI, logs, reprs) shows in
place of the options: credential-like values become `"***"`, including those inside a
JSON-valued option such as s3fs's `client_kwargs`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"

# Words that make an option name credential-like, matched against its words
# (`aws_secret_access_key` -> aws, secret, access, key; `sessionToken` -> session, token).
_SECRET_WORDS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "passwd",
        "pwd",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "signature",
        "sas",
        "private",
        "cookie",
        "session",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# `scheme://user:password@host`: the password part of a URL-valued option.
_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):([^/@\s]+)@")


# Names whose words say nothing of a secret, yet whose values hold one (Azure's
# `connection_string` carries the account key).
_SECRET_NAMES = frozenset({"connection_string", "conn_str", "connectionstring"})


def is_secret_name(name: str) -> bool:
    """True if an option called `name` holds a credential."""
    if name.lower() in _SECRET_NAMES:
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def redact_options(options: Mapping[str, str]) -> dict[str, str]:
    """A copy of `options` fit to show: credentials `"***"`, nested ones too."""
    return {key: _redact_value(key, value) for key, value in options.items()}


def _redact_value(key: str, value: Any) -> Any:
    if is_secret_name(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, str):
        if value.lstrip().startswith(("{", "[")):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                return json.dumps(_redact_value(key, parsed), sort_keys=True)
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
    return value
