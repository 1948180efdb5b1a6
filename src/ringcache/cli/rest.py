"""The CLI's one way to the REST API: its flags, and calls whose errors are said as sentences."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import httpx

from ..cluster.config import DEFAULT_HOME
from .state import running_cluster


def api_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="REST base URL (default http://HOST:PORT/api/v1)")
    parser.add_argument("--host", help="REST host (127.0.0.1)")
    parser.add_argument("--port", type=int, help="REST port (19999)")
    parser.add_argument(
        "--token-file", type=Path, help="a file holding the API token (default: $RINGCACHE_TOKEN)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="find the REST API of the cluster started from this state directory "
        "(.ringcache/state), when no --api, --host or --port is given",
    )


def api_url(args: argparse.Namespace) -> str:
    """`--api`, else `--host`/`--port`, else the cluster started from the state directory,
    else the default address."""
    if args.api:
        return args.api
    if args.host is None and args.port is None:
        state_dir = getattr(args, "state_dir", None) or DEFAULT_HOME / "state"
        if (record := running_cluster(Path(state_dir))) is not None:
            return record.api_url
    return f"http://{args.host or '127.0.0.1'}:{args.port or 19999}/api/v1"


def api_token(args: argparse.Namespace) -> str | None:
    """The token to send: from `--token-file`, else `RINGCACHE_TOKEN`, else none."""
    token_file = getattr(args, "token_file", None)
    if token_file is not None:
        try:
            return Path(token_file).read_text().strip() or None
        except OSError as exc:
            raise SystemExit(f"cannot read the token file {token_file}: {exc}") from exc
    return os.environ.get("RINGCACHE_TOKEN") or None


def request(
    args: argparse.Namespace, method: str, path: str, accept: tuple[int, ...] = (), **kwargs: Any
) -> Any:
    """One REST call; exits with the server's status sentence on an error not in `accept`."""
    headers = {"Authorization": f"Bearer {token}"} if (token := api_token(args)) else {}
    try:
        response = httpx.request(
            method, api_url(args) + path, timeout=30, headers=headers, **kwargs
        )
    except httpx.HTTPError as exc:
        raise SystemExit(f"cannot reach ringcache at {api_url(args)}: {exc}") from exc
    body = response.json()
    if response.status_code >= 400 and response.status_code not in accept:
        raise SystemExit(f"{response.status_code}: {body.get('status', body)}")
    return body
