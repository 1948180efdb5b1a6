"""How a job's submission names what it works on, and how a job is found again by name.

A file job (load, free) works on the files of an `index` file, or on `paths` named by an
`alias`; a rebalance works on a `target` worker (or ALL). A job is found again by one of
its kind's `selectors`, which always include its `id`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import InvalidArgument
from ..ufs.mounts import MountTable


class Selection(Protocol):
    """Parses the selector fields of a submission; `check`s them against the cluster."""

    selectors: tuple[str, ...]

    def parse(self, body: Any, live: set[str]) -> dict[str, Any]: ...

    def key(self, fields: dict[str, Any]) -> tuple[str, str]:
        """The selector that names the job these fields submit, for good."""
        ...

    async def check(self, fields: dict[str, Any], mounts: Callable[[], Awaitable[Any]]) -> None: ...


class FilesSelection:
    """Exactly one of `index` or `paths` + `alias`; every path under a mount point."""

    selectors = ("index", "alias", "id")

    def parse(self, body: Any, live: set[str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidArgument("the body must be a JSON object")
        unknown = set(body) - {"index", "paths", "alias", "options"}
        if unknown:
            raise InvalidArgument(f"unknown field(s): {', '.join(sorted(unknown))}")
        index, paths, alias = body.get("index"), body.get("paths"), body.get("alias")
        if index is not None and (paths is not None or alias is not None):
            raise InvalidArgument("give either index or paths with alias, not both")
        if index is not None:
            if not isinstance(index, str) or not index:
                raise InvalidArgument("index must be the path of an index file")
            return {"index": index}
        if paths is None and alias is None:
            raise InvalidArgument("give index, or paths with alias")
        if paths is None or alias is None:
            raise InvalidArgument("paths and alias go together")
        if not isinstance(alias, str) or not alias:
            raise InvalidArgument("alias must be a non-empty string")
        if not isinstance(paths, list) or not paths:
            raise InvalidArgument("paths must be a non-empty list of paths")
        if not all(isinstance(p, str) and p for p in paths):
            raise InvalidArgument("paths must be a non-empty list of paths")
        return {"paths": list(paths), "alias": alias}

    def key(self, fields: dict[str, Any]) -> tuple[str, str]:
        if fields.get("index") is not None:
            return ("index", fields["index"])
        return ("alias", fields["alias"])

    async def check(self, fields: dict[str, Any], mounts: Callable[[], Awaitable[Any]]) -> None:
        table: MountTable = await mounts()
        index = fields.get("index")
        for path in [index] if index is not None else fields["paths"]:
            table.resolve(path)  # 400 naming the path when it is under no mount point


class TargetSelection:
    """A `target`: a live worker's id, or ALL."""

    selectors = ("target", "id")

    def parse(self, body: Any, live: set[str]) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) - {"target", "options"}:
            raise InvalidArgument("a rebalance body has `target` and optional `options`")
        target = body.get("target")
        if not isinstance(target, str) or not target:
            raise InvalidArgument('give the target: a worker id, or "ALL"')
        if target != "ALL" and target not in live:
            raise InvalidArgument(f"{target!r} is not a live worker; use a worker id or ALL")
        return {"target": target}

    def key(self, fields: dict[str, Any]) -> tuple[str, str]:
        return ("target", fields["target"])

    async def check(self, fields: dict[str, Any], mounts: Callable[[], Awaitable[Any]]) -> None:
        return None  # the target was checked against the live workers when parsed
