"""JSON text for the page store's file keys and journal lines, with encoders built once.

`json.dumps` builds an encoder on every call, which costs more than encoding one small
record; the store encodes one or two per file it caches. These call the same C encoder
with the same settings, so they give the same text as `json.dumps` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_encode_basestring_ascii, c_make_encoder


def _encoder(separators: tuple[str, str]) -> Callable[[object], str]:
    """`json.dumps(value, separators=separators)` for values without nested cycles."""
    item_separator, key_separator = separators
    fallback = json.JSONEncoder(separators=separators)
    if c_make_encoder is None:
        return fallback.encode
    flags = (False, False, True)  # sort_keys, skipkeys, allow_nan: json.dumps' defaults
    encode = c_make_encoder(
        None, fallback.default, c_encode_basestring_ascii, None, key_separator, item_separator,
        *flags,
    )  # fmt: skip
    return lambda value: "".join(encode(value, 0))


dumps_json = _encoder((", ", ": "))  # json.dumps(value)
compact_json = _encoder((",", ":"))  # json.dumps(value, separators=(",", ":"))
