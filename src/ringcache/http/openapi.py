"""The OpenAPI 3 document of the API, generated from the routes' `Operation`s.

Bodies and answers are the pydantic models the routes validate and shape with, so the
document cannot drift from what the API does; every error answer is `{"status": ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter

from .resource import COMMON_ERRORS, Operation, Resource

REF = "#/components/schemas/{model}"
STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}
REASONS = {
    400: "Bad request",
    401: "Missing or wrong token",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    413: "Body too large",
    501: "Disabled or not implemented",
    503: "A peer could not be reached",
}


def openapi_document(
    prefix: str, resources: Iterable[Resource], secured: bool, extra: dict[str, Any] | None = None
) -> dict:
    """The document for `resources` mounted under `prefix` and the `extra` paths (their
    operations documented by hand, as `text_operation` does); `secured` adds the token."""
    schemas: dict[str, Any] = {"Status": STATUS}
    paths: dict[str, Any] = dict(extra or {})
    for resource in resources:
        paths[prefix + resource.path] = {
            method.lower(): _operation(resource.path, method, op, schemas)
            for method, op in resource.operations.items()
        }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "ringcache", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if secured:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def text_operation(operation_id: str, summary: str, errors: tuple[int, ...]) -> dict:
    """An operation without parameters that answers plain text, or `errors` as `Status`."""
    ok = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {"200": ok, **_error_responses(errors)},
    }


def _operation(path: str, method: str, op: Operation, schemas: dict[str, Any]) -> dict:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": _json(_schema(op.answer, schemas))},
        **_error_responses((*COMMON_ERRORS, *op.errors)),
    }
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}{path.replace('/', '_').replace('-', '_')}",
        "summary": op.summary or f"{method} {path}",
        "responses": responses,
    }
    if op.query:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in op.query
        ]
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": _json(_schema(op.body, schemas, mode="validation")),
        }
    return operation


def _error_responses(codes: Iterable[int]) -> dict[str, Any]:
    status = {"$ref": REF.format(model="Status")}
    return {
        str(code): {"description": REASONS[code], "content": _json(status)}
        for code in sorted(set(codes))
    }


def _schema(model: Any, schemas: dict[str, Any], mode: str = "serialization") -> dict:
    """The JSON schema of `model` (OpenAPI 3.1 speaks JSON Schema, as pydantic does), its
    named parts moved to `schemas`, where the document keeps them."""
    schema = TypeAdapter(model).json_schema(ref_template=REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}
