"""Request and answer models for the REST API; every body is validated by one of these."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, StrictStr
from starlette.requests import Request

from ..cluster.errors import InvalidArgument
from .body import BodyLimits, check_text, parse_json

Model = TypeVar("Model", bound=BaseModel)


class Request_(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


async def read_body(request: Request, model: type[Model]) -> Model:
    """The JSON body as `model`; 400 for a missing body, invalid JSON or a wrong shape."""
    return model.model_validate(await read_json(request))


async def read_json(request: Request) -> dict[str, Any]:
    """The JSON object in the body; 400 for a missing body, invalid JSON, not an object or
    a value past `BodyLimits` (the body's size is limited before, by `BodySizeLimit`)."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidArgument("this call needs a JSON body")
    data = parse_json(raw, BodyLimits())
    if not isinstance(data, dict):
        raise InvalidArgument("the body must be a JSON object")
    return data


def one_query_param(request: Request, names: tuple[str, ...]) -> tuple[str, str] | None:
    """The single selector among `names` in the query, None if none; 400 if several."""
    query = request.query_params
    given = [(name, check_text(query[name])) for name in names if name in query]
    if len(given) > 1:
        raise InvalidArgument(
            f"give at most one of {', '.join(names)}; got {', '.join(n for n, _ in given)}"
        )
    return given[0] if given else None


MAX_COUNT = 1_000_000  # entries a page may ask for; a registry range takes a 64-bit limit


def count_param(request: Request) -> int | None:
    """The `count` query parameter: None if absent or empty; 400 unless 0..MAX_COUNT."""
    raw = request.query_params.get("count")
    if raw is None or raw == "":
        return None
    text = check_text(raw, 32).strip()
    if not text.lstrip("-").isdigit():
        raise InvalidArgument(f"count must be a whole number, not {raw!r}")
    count = int(text)
    if count < 0:
        raise InvalidArgument(f"count must not be negative, not {count}")
    if count > MAX_COUNT:
        raise InvalidArgument(f"count must be at most {MAX_COUNT}, not {count}")
    return count


def text_param(request: Request, name: str) -> str | None:
    """A free-text query parameter (a key, a prefix), None if absent or empty."""
    value = request.query_params.get(name)
    return check_text(value) if value else None


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


class MountList(Answer):
    results: list[MountInfo]


class MountRemoved(MountInfo):
    errors: dict[str, str] = {}


class WorkerErrors(Answer):
    """Errors by worker id of a call made on every live worker (empty when all agreed)."""

    errors: dict[str, str]


class Node(Answer):
    id: str
    host: str
    state: str
    capacityBytes: int
    startTime: str


class NodeList(Answer):
    results: list[Node]


class RingView(Answer):
    """The ring's workers (ids), its virtual nodes per worker, its policy, and its version."""

    workers: list[str]
    virtualNodes: int
    ringPolicy: str = "alluxio"
    version: int


class JobView(Answer):
    """A job as API.md shows it; each kind adds its counters and extras."""

    id: str
    type: str
    state: str
    options: dict[str, Any] = {}


class JobList(Answer):
    results: list[JobView]
