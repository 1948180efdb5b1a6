"""Job options as API.md lists them, validated once at submission."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from ..errors import InvalidArgument
from ..policies.patterns import compile_user_pattern
from ..units import parse_size


class LoadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    batchSize: StrictInt = Field(200, ge=1)
    fileFilterRegex: str | None = None
    replicas: StrictInt = Field(1, ge=1)
    skipIfExists: StrictBool = False
    loadPolicy: Literal["IF_CHANGED"] | None = None
    bandwidth: int | None = None

    @field_validator("fileFilterRegex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_user_pattern(value, "fileFilterRegex")
            except InvalidArgument as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("bandwidth", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int | None:
        return _bandwidth(value)


def _bandwidth(value: Any) -> int | None:
    if value is None:
        return None
    size = parse_size(value)
    if size == 0:
        raise ValueError("a bandwidth must be more than 0 bytes per second")
    return size


class FreeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batchSize: StrictInt = Field(200, ge=1)


class RebalanceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loadBatchSize: StrictInt = Field(200, ge=1)
    loadBandwidth: int | None = None
    pruneBandwidth: int | None = None
    skipPrune: StrictBool = False
    # Not in Alluxio's list: how many ring owners each file should have (1 unless loaded
    # with more replicas); copies beyond that are pruned.
    replicas: StrictInt = Field(1, ge=1)

    @field_validator("loadBandwidth", "pruneBandwidth", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int | None:
        return _bandwidth(value)


def parse_options(model: type[BaseModel], options: Any) -> dict[str, Any]:
    """The options with defaults filled in; InvalidArgument naming what is wrong."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise InvalidArgument("options must be a JSON object")
    try:
        validated = model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidArgument(f"invalid options: {problems}") from None
    return validated.model_dump(exclude_none=True)
