"""One place that turns every failure into a status code and a `{"status": ...}` body."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..cluster.errors import RingcacheError
from .answers import ApiJSONResponse

log = logging.getLogger(__name__)


def status_response(code: int, message: str, **extra: object) -> ApiJSONResponse:
    return ApiJSONResponse({"status": message, **extra}, status_code=code)


async def domain_error(request: Request, exc: Exception) -> ApiJSONResponse:
    assert isinstance(exc, RingcacheError)
    extra = {k: v for k, v in exc.details.items() if k in ("id", "state")}
    return status_response(exc.status_code, exc.message, **extra)


async def validation_error(request: Request, exc: Exception) -> ApiJSONResponse:
    assert isinstance(exc, ValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    )
    return status_response(400, f"invalid request: {problems}")


async def http_error(request: Request, exc: Exception) -> ApiJSONResponse:
    assert isinstance(exc, HTTPException)
    return status_response(exc.status_code, exc.detail or "request failed")


async def internal_error(request: Request, exc: Exception) -> ApiJSONResponse:
    log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return status_response(500, f"internal error: {type(exc).__name__}: {exc}")


EXCEPTION_HANDLERS = {
    RingcacheError: domain_error,
    ValidationError: validation_error,
    HTTPException: http_error,
    Exception: internal_error,
}
