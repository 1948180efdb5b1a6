"""The web dashboard: static files at `/` and `/static/`, which read the REST API themselves.

The page holds no cluster data, so it is served without the token (see `is_public`); every
call it makes for data goes to `/api/v1` and needs the token like any other client.
`/dashboard.json` tells the page the job kinds and their counters, from the one catalog.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..cluster.jobs.catalog import JOB_KINDS

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"
PUBLIC_PATHS = frozenset({"/", "/dashboard.json"})
# The page runs only its own script and reads only this origin, whatever the API holds.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_public(method: str, path: str) -> bool:
    """Whether a call may go without the token: a GET or HEAD of the page or its files."""
    return method in ("GET", "HEAD") and (path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX))


def job_kinds() -> list[dict]:
    """Each kind's name, its counters in view order, the counters that count a file done
    (the CLI's `--watch` uses the same) and the counter of bytes moved."""
    return [
        {
            "name": kind.name,
            "counters": list(kind.counters),
            "done": list(kind.cli.done) if kind.cli else [],
            "moved": kind.moved,
        }
        for kind in JOB_KINDS.values()
    ]


def routes() -> list[BaseRoute]:
    kinds = {"jobKinds": job_kinds()}

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    async def description(request: Request) -> JSONResponse:
        return JSONResponse(kinds)

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/dashboard.json", description, methods=["GET", "HEAD"]),
        Mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=STATIC_DIR), name="static"),
    ]
