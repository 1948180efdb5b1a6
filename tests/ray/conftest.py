"""One Ray instance for the whole test run; each test gets its own cluster namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from ringcache.actors.bootstrap import RayCluster, start_cluster, stop_cluster  # noqa: E402
from ringcache.config import ClusterConfig  # noqa: E402
from tests.conftest import make_config  # noqa: E402


@pytest.fixture(scope="session")
def ray_nodes() -> Iterator[Cluster]:
    """A real multi-node Ray cluster on this machine: a head and two more nodes."""
    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
    )
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, log_to_driver=False)
    nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="session")
def ray_instance(ray_nodes: Cluster) -> None:
    """Every Ray test shares the one instance (the multi-node cluster above)."""


@pytest.fixture
def ray_config(tmp_path: Path, ray_instance: None) -> Iterator[ClusterConfig]:
    config = make_config(tmp_path, namespace=f"test-{uuid.uuid4().hex[:8]}", lease_ttl=2.0)
    yield config
    stop_cluster(config)


@pytest.fixture
def ray_cluster(ray_config: ClusterConfig) -> RayCluster:
    return start_cluster(ray_config, workers=3)
