"""The `ringcache` command: start and stop a cluster, add workers, look at it, mount."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..cluster.errors import RingcacheError
from ..config import ClusterConfig, load_config
from .format import human_bytes as _bytes
from .jobs import add_job_commands
from .policies import add_policy_commands
from .rest import api_flags, request
from .simulate import add_simulate_command
from .state import ClusterRecord, ray_auth_mode, running_cluster

if TYPE_CHECKING:
    from ..actors.bootstrap import RayCluster

STOP_SECONDS = 60.0  # for stopping the actors on exit, before giving up on Ray


def _config_from(args: argparse.Namespace) -> ClusterConfig:
    config = _loaded_config(args)
    extra_roots = getattr(args, "allow_root", None)
    if not extra_roots:
        return config
    # Besides the roots the config file names; the default (all of /) gives way to them.
    kept = config.allowed_local_roots if "allowed_local_roots" in config.model_fields_set else []
    roots = [*kept, *(str(root) for root in extra_roots)]
    return config.model_copy(update={"allowed_local_roots": roots})


def _loaded_config(args: argparse.Namespace) -> ClusterConfig:
    return load_config(
        args.config,
        state_dir=getattr(args, "state_dir", None),
        registry=getattr(args, "registry", None),
        ray_address=getattr(args, "address", None),
        namespace=getattr(args, "namespace", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        lease_ttl=getattr(args, "lease_ttl", None),
        **{
            "api.token_file": getattr(args, "token_file", None),
            "worker.cache_dir": getattr(args, "cache_dir", None),
            "worker.capacity": getattr(args, "capacity", None),
        },
    )


# -- start / stop -------------------------------------------------------------------------


class StopRequested(Exception):
    """SIGTERM arrived (`ringcache stop`): stop the cluster and exit 0, as after Ctrl-C."""


def _raise_stop_requested(signum: int, frame: object) -> None:
    raise StopRequested


def cmd_start(args: argparse.Namespace) -> int:
    from ..actors.bootstrap import ray_address, show_ray_logs, start_cluster, stop_cluster

    config = _with_env_token(_config_from(args)).resolved()
    refusal = _exposure_refusal(config, args.insecure)
    if refusal is not None:
        print(f"ringcache: {refusal}", file=sys.stderr)
        return 2
    config.state_dir.mkdir(parents=True, exist_ok=True)
    running = running_cluster(config.state_dir)
    if running is not None:
        print(f"ringcache is already running (pid {running.pid})", file=sys.stderr)
        return 1
    show_ray_logs(args.verbose)
    signal.signal(signal.SIGTERM, _raise_stop_requested)
    per_node = args.workers is None and config.ray_address not in (None, "local")
    try:
        cluster = start_cluster(config, workers=None if per_node else config.workers)
        # ray.init installs a SIGTERM handler that exits with status 15; a stop is no fault.
        signal.signal(signal.SIGTERM, _raise_stop_requested)
        record = ClusterRecord(
            pid=os.getpid(),
            ray_address=ray_address(),
            namespace=config.namespace,
            api_url=_api_url(config),
            ray_auth_mode=ray_auth_mode(),
            config=_recordable(config),
        )
        record.write(config.state_dir)
        print(
            f"ringcache: {len(cluster.workers)} worker(s) started, state in {config.state_dir}, "
            f"REST API at {record.api_url}",
            flush=True,
        )
        _serve(cluster, config, args.verbose)
    except StopRequested:
        pass
    finally:
        problem = stop_within(lambda: stop_cluster(config), STOP_SECONDS)
        ClusterRecord.remove(config.state_dir)
    if problem is not None:
        print(f"ringcache: the actors may be left running: {problem}", file=sys.stderr)
        return 1
    print("ringcache: stopped", file=sys.stderr)
    return 0


def _serve(cluster: RayCluster, config: ClusterConfig, verbose: bool) -> None:
    """Serve the REST API until a signal; uvicorn raises that signal again once it stopped."""
    import uvicorn

    from ..http.app import create_app

    app = create_app(cluster.coordinator, config.api, cluster.registry)
    level = "info" if verbose else "warning"  # the line above already says where it listens
    uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level=level)).run()


def _api_url(config: ClusterConfig) -> str:
    """The REST base URL a process on this machine reaches the API at."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.host, config.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.port}/api/v1"


def _recordable(config: ClusterConfig) -> dict:
    """The configuration as JSON for `worker add`, without the API token (a file may hold it)."""
    return config.model_dump(mode="json", exclude={"api": {"token"}})


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _with_env_token(config: ClusterConfig) -> ClusterConfig:
    """The configuration with `RINGCACHE_TOKEN` as its token if it names none itself (the
    command reads the environment; the configuration object never does)."""
    token = os.environ.get("RINGCACHE_TOKEN")
    if not token or config.api.token or config.api.token_file:
        return config
    return config.model_copy(update={"api": config.api.model_copy(update={"token": token})})


def _exposure_refusal(config: ClusterConfig, insecure: bool) -> str | None:
    """Why the API must not start: open to the network without a token, unless `insecure`."""
    try:
        token = config.api.resolved_token()
    except OSError as exc:
        return f"cannot read the token file {config.api.token_file}: {exc}"
    if token or insecure or config.host in LOOPBACK_HOSTS or config.host.startswith("127."):
        return None
    return (
        f"the REST API would listen on {config.host} without a token; set api.token or "
        "api.token_file in the config, RINGCACHE_TOKEN or --token-file, or pass --insecure"
    )


def stop_within(stop: Callable[[], object], seconds: float) -> str | None:
    """Run `stop` in a daemon thread for at most `seconds`; None if it returned, else what
    went wrong. A Ray whose raylet was killed along with this process's group leaves Ray
    calls waiting forever, and the process must still exit (a local Ray goes with it)."""
    outcome: list[str | None] = [f"no answer from Ray within {seconds:g} s"]
    done = threading.Event()

    def run() -> None:
        try:
            stop()
            outcome[0] = None
        except Exception as exc:  # handed back as the outcome, printed by the caller
            outcome[0] = f"{type(exc).__name__}: {exc}"
        finally:
            done.set()

    threading.Thread(target=run, name="ringcache-stop", daemon=True).start()
    done.wait(seconds)
    return outcome[0]


def _running_config(args: argparse.Namespace) -> tuple[ClusterConfig, ClusterRecord | None]:
    """The configuration of the cluster started from this state directory if it runs (its
    Ray address, namespace, cache directory, ...; flags given here still win), else the
    configuration from the flags and file."""
    config = _config_from(args).resolved()
    record = running_cluster(config.state_dir)
    if record is None:
        return config, None
    recorded = ClusterConfig.model_validate(record.config)
    update: dict[str, object] = {
        "ray_address": args.address or record.ray_address,
        "namespace": args.namespace or record.namespace,
    }
    if args.cache_dir is not None:
        update["worker"] = recorded.worker.model_copy(update={"cache_dir": args.cache_dir})
    return recorded.model_copy(update=update).resolved(), record


def cmd_stop(args: argparse.Namespace) -> int:
    config, record = _running_config(args)
    if record is None:  # no `start` process of ours: stop whatever runs in the namespace
        from ..actors.bootstrap import show_ray_logs, stop_cluster

        show_ray_logs(args.verbose)
        stopped = stop_cluster(config)
        print(f"stopped {len(stopped)} actor(s)" if stopped else "no ringcache cluster is running")
        return 0
    os.kill(record.pid, signal.SIGTERM)
    # `start` removes its record once its actors are stopped; its process may linger a moment
    # (exiting, or a zombie its parent has not reaped yet), and is no longer the cluster.
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and running_cluster(config.state_dir) is not None:
        time.sleep(0.2)
    if running_cluster(config.state_dir) is not None:
        print(f"ringcache (pid {record.pid}) did not stop within {args.timeout} s", file=sys.stderr)
        return 1
    print(f"ringcache (pid {record.pid}) stopped")
    return 0


def cmd_worker_add(args: argparse.Namespace) -> int:
    config, record = _running_config(args)
    if record is not None:
        record.use_ray_auth_mode()
    from ..actors.bootstrap import add_worker, find_cluster, show_ray_logs

    show_ray_logs(args.verbose)
    find_cluster(config)  # fail clearly when there is no cluster to join
    taken = (
        {p.name for p in config.worker.cache_dir.glob("w*")}
        if config.worker.cache_dir.exists()
        else set()
    )
    slot = args.slot or next(f"w{i}" for i in range(len(taken) + 1) if f"w{i}" not in taken)
    ref = add_worker(config, node_id=args.node, slot=slot)
    print(ref.name)
    return 0


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
        "--token-file", type=Path, help="a file holding the token every REST call must send"
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
