"""The page store's JSON text is exactly what `json.dumps` gives (file keys name data files
on disk, so a different text would orphan every cached file)."""

from __future__ import annotations

import hashlib
import json

import pytest

from ringcache.cluster.cache.json_text import compact_json, dumps_json
from ringcache.cluster.cache.layout import _line, file_key

VALUES = [
    ["file:///srv/data/a.bin", 4096, 1764265163.123456, None],
    ['file:///x/\u00e9\u2603 "quoted" \\ \n\t', 0, None, "etag-\u00e9"],
    ["s3://bucket/\udc80surrogate", 10**20, 5, ""],
    ["p", True, float("nan"), None],
    ["p", -1, float("inf"), "e"],
    ["p", 2, -0.0, None],
]


@pytest.mark.parametrize("value", VALUES)
def test_the_encoders_give_json_dumps_text(value: list) -> None:
    assert dumps_json(value) == json.dumps(value)
    assert compact_json(value) == json.dumps(value, separators=(",", ":"))
    record = {"path": value[0], "size": value[1], "pages": [[0, 1], [3, 5]], "x": value[2:]}
    assert compact_json(record) == json.dumps(record, separators=(",", ":"))


@pytest.mark.parametrize("value", VALUES)
def test_file_key_is_the_sha1_of_the_json_identity(value: list) -> None:
    identity = json.dumps(value).encode("utf-8", "surrogatepass")
    assert file_key(*value) == hashlib.sha1(identity).hexdigest()


def test_a_journal_line_is_one_compact_json_line() -> None:
    record = {"path": "file:///a", "size": 3, "mtime": 1.5, "etag": None, "pages": [[0, 1]]}
    assert _line(record) == json.dumps(record, separators=(",", ":")).encode() + b"\n"


def test_what_json_cannot_encode_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"path": object()})
