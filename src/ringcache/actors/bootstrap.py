"""Start, find and stop a ringcache cluster on Ray: registry, coordinator, workers."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..cluster.errors import Unavailable
from ..cluster.worker.worker import load_or_create_worker_id
from ..config import ClusterConfig
from .refs import RayRef
from .shells import COORDINATOR_NAME, REGISTRY_NAME, CoordinatorActor, RegistryActor, WorkerActor

# The one place where the plain shell classes become Ray actor classes.
RemoteRegistry = ray.remote(RegistryActor)
RemoteCoordinator = ray.remote(CoordinatorActor)
RemoteWorker = ray.remote(WorkerActor)

log = logging.getLogger(__name__)

# Every ringcache actor is detached: it lives until `stop_cluster`, not until its creator exits,
# so `ringcache worker add` from another process adds a worker that stays.
_COMMON = {"lifetime": "detached", "num_cpus": 0}
_RESTARTING = {**_COMMON, "max_restarts": -1, "max_task_retries": 3}


def connect_ray(config: ClusterConfig) -> None:
    """Join the Ray cluster at `config.ray_address`, or start a local one, once per process.

    Ray's own log lines go to its log files, not to this process's terminal, unless the
    `ray` logger was set to show them (`ringcache -v`)."""
    if not ray.is_initialized():
        ray.init(
            address=config.ray_address,
            namespace=config.namespace,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )


def show_ray_logs(verbose: bool) -> None:
    """Whether Ray's driver-side notices (token authentication, ...) reach the terminal.

    Ray configures its `ray` logger when it is imported, so this runs after that import."""
    logging.getLogger("ray").setLevel(logging.DEBUG if verbose else logging.ERROR)


def ray_address() -> str:
    """The GCS address of the Ray instance this process joined, for other processes to join."""
    return ray.get_runtime_context().gcs_address


def _pin(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def alive_nodes() -> list[dict]:
    return sorted((n for n in ray.nodes() if n["Alive"]), key=lambda n: n["NodeID"])


@dataclass
class RayCluster:
    """Handles on a running cluster's actors."""

    config: ClusterConfig
    registry: RayRef
    coordinator: RayRef
    workers: dict[str, RayRef] = field(default_factory=dict)


def start_cluster(config: ClusterConfig, workers: int | None = None) -> RayCluster:
    """Start the registry and coordinator on this node and the workers.

    `workers` None places one worker on every alive Ray node; a number places that many on
    this node (local use).
    """
    config = config.resolved()
    connect_ray(config)
    here = ray.get_runtime_context().get_node_id()
    namespace = config.namespace
    # get_if_exists: a `ringcache start` after its predecessor died adopts the live actors.
    registry = RemoteRegistry.options(
        name=REGISTRY_NAME,
        namespace=namespace,
        scheduling_strategy=_pin(here),
        get_if_exists=True,
        **_RESTARTING,
    ).remote(str(config.state_dir.resolve()), config.registry)
    ray.get(registry.ping.remote())
    if workers is None:
        started = [add_worker(config, node_id=node["NodeID"]) for node in alive_nodes()]
    else:
        started = [add_worker(config, node_id=here, slot=f"w{i}") for i in range(workers)]
    coordinator = RemoteCoordinator.options(
        name=COORDINATOR_NAME,
        namespace=namespace,
        scheduling_strategy=_pin(here),
        get_if_exists=True,
        **_RESTARTING,
    ).remote(config)
    ray.get(coordinator.ping.remote())
    return RayCluster(
        config,
        RayRef(registry, REGISTRY_NAME),
        RayRef(coordinator, COORDINATOR_NAME),
        {ref.name: ref for ref in started},
    )


def add_worker(
    config: ClusterConfig, node_id: str | None = None, slot: str | None = None
) -> RayRef:
    """Start one worker on `node_id` (default: this node) with its own cache directory."""
    config = config.resolved()
    connect_ray(config)
    node_id = node_id or ray.get_runtime_context().get_node_id()
    cache_dir = config.worker.cache_dir / (slot or f"node-{node_id[:16]}")
    # The id lives in the cache directory (shared disk on one machine, local on each node).
    worker_id = load_or_create_worker_id(cache_dir)
    handle = RemoteWorker.options(
        name=worker_id,
        namespace=config.namespace,
        scheduling_strategy=_pin(node_id),
        get_if_exists=True,
        **_RESTARTING,
    ).remote(config, str(cache_dir))
    ray.get(handle.ping.remote())
    return RayRef(handle, worker_id)


def find_cluster(config: ClusterConfig) -> RayCluster:
    """Handles on a cluster already running in `config.namespace`."""
    connect_ray(config)
    try:
        registry = ray.get_actor(REGISTRY_NAME, namespace=config.namespace)
        coordinator = ray.get_actor(COORDINATOR_NAME, namespace=config.namespace)
    except ValueError as exc:
        raise Unavailable(f"no ringcache cluster in Ray namespace {config.namespace!r}") from exc
    return RayCluster(
        config, RayRef(registry, REGISTRY_NAME), RayRef(coordinator, COORDINATOR_NAME)
    )


def stop_cluster(config: ClusterConfig, timeout: float = 30) -> list[str]:
    """Kill every ringcache actor in the namespace; the names of those stopped.

    The registry goes last, once the coordinator and workers are gone: an actor still
    heartbeating to a killed registry has its call fail and retried, and Ray reports each
    such failure to the driver's terminal."""
    connect_ray(config)
    names = sorted(
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == config.namespace
    )
    deadline = time.monotonic() + timeout
    clients = [name for name in names if name != REGISTRY_NAME]
    stopped = _kill_and_wait(clients, config.namespace, deadline)
    if REGISTRY_NAME in names:
        stopped += _kill_and_wait([REGISTRY_NAME], config.namespace, deadline)
    return stopped


def _kill_and_wait(names: list[str], namespace: str, deadline: float) -> list[str]:
    """Kill the named actors; wait (until `deadline`) for Ray to forget them."""
    stopped = []
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
            stopped.append(name)
        except ValueError:
            continue  # gone between the listing and the kill: nothing left to stop
    while time.monotonic() < deadline and any(_exists(n, namespace) for n in stopped):
        time.sleep(0.2)
    return stopped


def _exists(name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
        return True
    except ValueError:
        return False
