"""The `ringcache` command: start and stop a cluster, add workers, look at it, mount."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..cluster.errors import RingcacheError
from .format import human_bytes as _bytes
from .jobs import add_job_commands
from .lifecycle import cmd_start, cmd_stop, cmd_worker_add
from .policies import add_policy_commands
from .rest import api_flags, request
from .simulate import add_simulate_command

# -- REST-backed commands -----------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    nodes = request(args, "GET", "/nodes")["results"]
    mounts = request(args, "GET", "/mount")["results"]
    if args.json:
        print(json.dumps({"nodes": nodes, "mounts": mounts}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="workers")
    for column in ("id", "state", "host", "used", "capacity", "files"):
        table.add_column(column)
    for node in nodes:
        table.add_row(
            node["id"],
            node["state"],
            node["host"],
            _bytes(node.get("usedBytes")),
            _bytes(node["capacityBytes"]),
            str(node.get("cachedFiles", "")),
        )
    console = Console()
    console.print(table)
    mount_table = Table(title="mounts")
    mount_table.add_column("path")
    mount_table.add_column("ufs")
    for mount in mounts:
        mount_table.add_row(mount["path"], mount["ufs"])
    console.print(mount_table)
    return 0


def cmd_mount(args: argparse.Namespace) -> int:
    if args.action == "list":
        print(json.dumps(request(args, "GET", "/mount")["results"], indent=2))
    elif args.action == "add":
        options = dict(option.split("=", 1) for option in args.option)
        body = {"path": args.path, "ufs": args.ufs, "options": options}
        print(json.dumps(request(args, "POST", "/mount", json=body), indent=2))
    else:
        print(json.dumps(request(args, "DELETE", "/mount", json={"path": args.path}), indent=2))
    return 0


# -- the parser ---------------------------------------------------------------------------


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="a TOML config file (flags override it)")
    parser.add_argument(
        "--address",
        help="the Ray cluster to join; 'local' always starts a new one (default: a running "
        "local Ray if there is one, else a new one)",
    )
    parser.add_argument("--namespace", help="the Ray namespace of the cluster (ringcache)")
    parser.add_argument("--state-dir", type=Path, help="registry and pid file (.ringcache/state)")
    parser.add_argument("--cache-dir", type=Path, help="worker cache root (.ringcache/cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringcache",
        description="A distributed read cache on Ray with an Alluxio-compatible hash ring.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser("start", help="start a cluster and serve its REST API")
    _cluster_flags(start)
    start.add_argument("--host", help="address the REST API binds (127.0.0.1)")
    start.add_argument("--port", type=int, help="port of the REST API (19999)")
    start.add_argument(
        "--registry",
        help="etcd://host:port[,host:port...] to keep the registry in etcd "
        "(default: SQLite in the state directory)",
    )
    start.add_argument(
        "--workers",
        type=int,
        help="start this many workers on this node (default: 1 locally, one per Ray node with "
        "--address)",
    )
    start.add_argument("--capacity", help="cache capacity per worker, e.g. 10GiB")
    start.add_argument("--lease-ttl", help="failure-detection timeout, e.g. 15s")
    start.add_argument(
        "--token-file",
        type=Path,
        help="a file holding the token every REST call must send",
    )
    start.add_argument(
        "--allow-root",
        action="append",
        type=Path,
        metavar="DIR",
        help="a local directory mounts may use (repeatable; besides the config file's)",
    )
    start.add_argument(
        "--insecure",
        action="store_true",
        help="serve the REST API on a non-loopback host without a token",
    )
    start.set_defaults(run=cmd_start)

    stop = commands.add_parser("stop", help="stop the cluster started from this state directory")
    _cluster_flags(stop)
    stop.add_argument("--timeout", type=float, default=60, help="seconds to wait (60)")
    stop.set_defaults(run=cmd_stop)

    worker = commands.add_parser("worker", help="manage workers")
    worker_commands = worker.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = worker_commands.add_parser("add", help="start one more worker in the running cluster")
    _cluster_flags(add)
    add.add_argument("--node", help="Ray node id to place it on (default: this node)")
    add.add_argument("--slot", help="cache subdirectory name (default: the next free wN)")
    add.set_defaults(run=cmd_worker_add)

    status = commands.add_parser("status", help="print the workers and the mount table")
    api_flags(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    status.set_defaults(run=cmd_status, config=None)

    mount = commands.add_parser("mount", help="list, add or remove mount points")
    api_flags(mount)
    mount.add_argument("action", choices=("list", "add", "remove"))
    mount.add_argument("path", nargs="?", help="cluster path, a direct child of /, e.g. /data")
    mount.add_argument("ufs", nargs="?", help="UFS root URI, e.g. file:///srv/data")
    mount.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the UFS filesystem (repeatable)",
    )
    mount.set_defaults(run=cmd_mount, config=None)

    add_job_commands(commands, api_flags)
    add_policy_commands(commands, api_flags)
    add_simulate_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "mount" and args.action != "list" and not args.path:
        parser.error("mount add/remove need a PATH")
    if args.command == "mount" and args.action == "add" and not args.ufs:
        parser.error("mount add needs a UFS URI")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    try:
        return args.run(args)
    except RingcacheError as exc:
        print(f"ringcache: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a stop asked for, not a fault to trace
        print("ringcache: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
