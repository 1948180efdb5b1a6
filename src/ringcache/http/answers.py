"""JSON answers that always render, whatever a stored record holds."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import JSONResponse


class ApiJSONResponse(JSONResponse):
    """Starlette's JSON answer, except that it never fails to render.

    New input is refused before it is stored (`body.py`), but a record written before those
    checks may hold a lone surrogate or an infinite number, and a GET that lists it must
    still answer: such a string goes out as a `\\udXXX` escape, such a number as null.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (UnicodeEncodeError, ValueError):
            return json.dumps(
                _finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")
            ).encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
