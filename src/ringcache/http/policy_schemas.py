"""Request and answer models of the policy and file-index resources.

Requests are strict (a wrong type or an unknown field is 400); values whose meaning is
domain knowledge (sizes, durations, enum names, regexes) are checked by the policy rules,
so the REST API, the CLI and the Python API give the same 400 sentences.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool, StrictInt, StrictStr, ValidationError
from starlette.requests import Request

from ..cluster.errors import InvalidArgument
from ..cluster.refs import ActorRef
from .schemas import Answer, Model, Request_, one_query_param, read_body


async def read_policy_body(
    request: Request, model: type[Model], coordinator: ActorRef, feature: str
) -> Model:
    """`read_body`, except that a disabled feature answers 501 (404) even to a bad body.

    API.md makes the switch win on every call; asking the coordinator only when the body
    is bad keeps the common path at one round trip.
    """
    try:
        return await read_body(request, model)
    except (InvalidArgument, ValidationError):
        await coordinator.call("require_feature", feature)
        raise


async def query_selector(
    request: Request, names: tuple[str, ...], coordinator: ActorRef, feature: str
) -> tuple[str, str] | None:
    """`one_query_param` with the same precedence of the switch as `read_policy_body`."""
    try:
        return one_query_param(request, names)
    except InvalidArgument:
        await coordinator.call("require_feature", feature)
        raise


def dump(answer: Answer) -> dict[str, Any]:
    """An answer without its empty optional fields (API.md omits them)."""
    return answer.model_dump(exclude_none=True)


class RulePathRequest(Request_):
    path: StrictStr


class QuotaRequest(Request_):
    path: StrictStr
    size: StrictInt | StrictStr
    action: StrictStr | None = None


class TtlRequest(Request_):
    path: StrictStr
    time: StrictInt | StrictStr


class PriorityRequest(Request_):
    path: StrictStr
    priority: StrictStr


class CacheFilterRequest(Request_):
    """`{"pattern", "rule", "time"}` adds a rule; `{"updateDefault": true, ...}` the default."""

    pattern: StrictStr | None = None
    rule: StrictStr
    time: StrictInt | StrictStr | None = None
    updateDefault: StrictBool = False


class CacheFilterDeleteRequest(Request_):
    """`{"pattern", "rule"}`; `time` is accepted and ignored (the pattern names the rule)."""

    pattern: StrictStr | None = None
    rule: StrictStr | None = None
    time: StrictInt | StrictStr | None = None
    updateDefault: StrictBool = False


class FileIndexPathsRequest(Request_):
    paths: list[StrictStr]


class QuotaInfo(Answer):
    path: str
    size: str
    sizeBytes: int
    action: str
    usedBytes: int | None = None


class QuotaList(Answer):
    results: list[QuotaInfo]


class TtlInfo(Answer):
    path: str
    time: str
    seconds: int | float


class TtlList(Answer):
    results: list[TtlInfo]


class PriorityInfo(Answer):
    path: str
    priority: str


class PriorityList(Answer):
    results: list[PriorityInfo]


class CacheFilterInfo(Answer):
    pattern: str | None = None
    rule: str
    time: str | None = None


class CacheFilterList(Answer):
    results: list[CacheFilterInfo]
    default: CacheFilterInfo


class DefaultFilter(Answer):
    default: CacheFilterInfo


class FileIndexEntry(Answer):
    path: str
    length: int
    workers: list[str]


class FileIndexList(Answer):
    results: list[FileIndexEntry]


class FileIndexAdded(Answer):
    added: int


class FileIndexRemoved(Answer):
    removed: int
