"""`ringcache start`, `stop` and `worker add`: the commands that run a cluster on Ray.

`start` records where its cluster runs in the state directory (`state.ClusterRecord`); the
other commands, run from the same directory, find it there without flags."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import ClusterConfig
from .settings import config_from, exposure_refusal, with_env_token
from .state import ClusterRecord, ray_auth_mode, running_cluster

if TYPE_CHECKING:
    from ..actors.bootstrap import RayCluster

STOP_SECONDS = 60.0  # for stopping the actors on exit, before giving up on Ray


class StopRequested(Exception):
    """SIGTERM arrived (`ringcache stop`): stop the cluster and exit 0, as after Ctrl-C."""


def _raise_stop_requested(signum: int, frame: object) -> None:
    raise StopRequested


def cmd_start(args: argparse.Namespace) -> int:
    from ..actors.bootstrap import (
        ray_address,
        show_ray_logs,
        start_cluster,
        stop_cluster,
    )

    config = data_on_loopback_when_alone(with_env_token(config_from(args)).resolved())
    refusal = exposure_refusal(config, args.insecure)
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


def data_on_loopback_when_alone(config: ClusterConfig) -> ClusterConfig:
    """A cluster on a Ray instance of its own (no Ray address given) runs on this machine
    alone: its workers' data servers listen on, and advertise, 127.0.0.1."""
    alone = config.ray_address in (None, "local") and not os.environ.get("RAY_ADDRESS")
    if not alone or config.worker.data_host is not None:
        return config
    worker = config.worker.model_copy(update={"data_host": "127.0.0.1"})
    return config.model_copy(update={"worker": worker})


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


def _running_config(
    args: argparse.Namespace,
) -> tuple[ClusterConfig, ClusterRecord | None]:
    """The configuration of the cluster started from this state directory if it runs (its
    Ray address, namespace, cache directory, ...; flags given here still win), else the
    configuration from the flags and file."""
    config = config_from(args).resolved()
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
        print(
            f"ringcache (pid {record.pid}) did not stop within {args.timeout} s",
            file=sys.stderr,
        )
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
