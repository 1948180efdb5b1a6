"""Request and answer models for the REST API; every body is validated by one of these."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, StrictStr
from starlette.requests import Request

from ..cluster.errors import InvalidArgument

Model = TypeVar("Model", bound=BaseModel)


class Request_(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


async def read_body(request: Request, model: type[Model]) -> Model:
    """The JSON body as `model`; 400 for a missing body, invalid JSON or a wrong shape."""
    return model.model_validate(await read_json(request))


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body; 400 for a missing body, invalid JSON or not an object."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidArgument("this call needs a JSON body")
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("the body must be a JSON object")
    return data


def one_query_param(request: Request, names: tuple[str, ...]) -> tuple[str, str] | None:
    """The single selector among `names` in the query, None if none; 400 if several."""
    given = [(name, request.query_params[name]) for name in names if name in request.query_params]
    if len(given) > 1:
        raise InvalidArgument(
            f"give at most one of {', '.join(names)}; got {', '.join(n for n, _ in given)}"
        )
    return given[0] if given else None


class MountRequest(Request_):
    path: StrictStr
    ufs: StrictStr
    options: dict[StrictStr, StrictStr] = {}


class MountPathRequest(Request_):
    path: StrictStr


class MountInfo(Answer):
    path: str
    ufs: str
    options: dict[str, str]


class Node(Answer):
    id: str
    host: str
    state: str
    capacityBytes: int
    startTime: str
