"""One typed configuration object, filled from defaults, an optional TOML file and flags.

The models live in `cluster.config` (the components take them); this module reads them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .cluster.config import DEFAULT_HOME, ClusterConfig, WorkerConfig
from .cluster.errors import InvalidArgument

__all__ = ["DEFAULT_HOME", "ClusterConfig", "WorkerConfig", "load_config"]


def load_config(path: Path | None = None, **overrides: Any) -> ClusterConfig:
    """Defaults, then the TOML file at `path` (if any), then `overrides` whose value is not None."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidArgument(f"cannot read config file {path}: {exc}") from exc
    for key, value in overrides.items():
        if value is None:
            continue
        if "." in key:
            section, name = key.split(".", 1)
            data.setdefault(section, {})[name] = value
        else:
            data[key] = value
    try:
        return ClusterConfig.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(f"invalid configuration: {exc}") from exc
