"""A generator of malformed requests, by class, for every operation the API documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Malformed:
    """One request: its method, path (under /api/v1), raw body and query, and its class."""

    kind: str
    method: str
    path: str
    body: bytes | None = None
    query: str = ""


HUGE = "9" * 400
# Each value is a JSON text, put where a valid request has a string, number or object.
BAD_VALUES = {
    "lone surrogate": '"\\ud800"',
    "lone surrogate in a path": '"/data/\\udfff.bin"',
    "huge integer": HUGE,
    "huge negative": "-" + HUGE,
    "past int64": str(2**63),
    "huge float": "1e400",
    "huge size string": f'"{HUGE}GB"',
    "huge duration string": f'"{HUGE}s"',
    "negative": "-1",
    "zero": "0",
    "long string": json.dumps("x" * 20_000),
    "nested": "[" * 50 + "]" * 50,
    "bool": "true",
    "null": "null",
    "object": '{"a": 1}',
    "backtracking regex": '"(a+)+$"',
    "unsupported regex": '"(a)\\\\1"',
}
BAD_BODIES = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "deep object nesting": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "not UTF-8": b'{"path": "\xff\xfe"}',
    "NaN": b'{"path": NaN}',
    "Infinity": b'{"size": Infinity}',
    "truncated": b'{"path": "/data',
    "array": b"[1, 2]",
    "empty": b"",
}
VALID = {  # a good value for each field, to keep the rest of a body valid
    "path": '"/data"',
    "ufs": '"file:///tmp"',
    "alias": '"malformed"',
    "paths": '["/data/a.bin"]',
    "rule": '"maxAge"',
    "time": '"1h"',
    "size": '"1MB"',
    "priority": '"HIGH"',
    "pattern": '".*x"',
    "target": '"ALL"',
    "op": '"clearStale"',
}
OPTIONS = ("batchSize", "replicas", "bandwidth", "fileFilterRegex", "loadBandwidth")
QUERY = ("path", "id", "alias", "index", "count", "lastKey", "prefix", "target")


def requests(document: dict) -> Iterator[Malformed]:
    """Malformed requests for every operation of an OpenAPI `document`: every bad body,
    every bad value in each field of its body (the other fields valid), bad options and
    bad query parameters."""
    for path, methods in document["paths"].items():
        path = path.removeprefix("/api/v1")
        for method, operation in methods.items():
            method = method.upper()
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                for kind, text in (
                    ("surrogate", "%ED%A0%80"),
                    ("huge", HUGE),
                    ("long", "x" * 9000),
                ):
                    yield Malformed(f"query {name}: {kind}", method, path, query=f"{name}={text}")
            if "requestBody" not in operation:
                continue
            for kind, body in BAD_BODIES.items():
                yield Malformed(kind, method, path, body)
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            fields = _properties(schema, document)
            for field in fields:
                for kind, text in BAD_VALUES.items():
                    yield Malformed(f"{field}: {kind}", method, path, _body(fields, field, text))
            if "options" in fields:
                for option in OPTIONS:
                    for kind, text in BAD_VALUES.items():
                        options = f'{{"{option}": {text}}}'
                        body = _body(fields, "options", options)
                        yield Malformed(f"options.{option}: {kind}", method, path, body)


def _properties(schema: dict, document: dict) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return sorted(schema.get("properties", {}))


def _body(fields: list[str], field: str, text: str) -> bytes:
    """A body that is valid but for `field` (the index selector left out: it excludes
    paths and alias)."""
    others = [f'"{k}": {VALID[k]}' for k in fields if k != field and k in VALID]
    return ("{" + ", ".join([*others, f'"{field}": {text}']) + "}").encode()
