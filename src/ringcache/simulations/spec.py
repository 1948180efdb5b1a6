"""What a simulated run is made of: cluster size, namespace, models, and the one seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ClusterConfig, WorkerConfig
from .costs import NetworkModel, NodeModel
from .namespace import SizeDistribution


def sim_config(**overrides: object) -> ClusterConfig:
    """A `ClusterConfig` for the simulator: the real defaults, directories that are never
    touched (stores and registry live in memory), and any `overrides`."""
    worker_fields = {k: overrides.pop(k) for k in list(overrides) if k in WorkerConfig.model_fields}
    worker = WorkerConfig(cache_dir=Path("/nonexistent/ringcache-sim/cache"), **worker_fields)
    values: dict[str, object] = {
        "state_dir": Path("/nonexistent/ringcache-sim/state"),
        "allowed_local_roots": [],
        "worker": worker,
    }
    values.update(overrides)
    return ClusterConfig(**values)


@dataclass(frozen=True)
class SimSpec:
    """A simulated cluster and its data; `seed` decides every random choice of the run.

    `slow_workers` of the workers (chosen by the seed) run `slowdown` times slower;
    `read_error_rate` of UFS reads fail. `per_page_recency` orders the page stores'
    eviction per page, as on disk (`PagedSizeMedium`), instead of per file (less memory
    for millions of files; the same victims where files are read whole). `index_process`
    keeps the coordinator's file index in a helper process (None: from
    `PROCESS_FROM_FILES` files up); the run is the same either way, only faster on two
    cores. Each consumer draws from its own generator
    (`rng(name)`), so adding draws in one place does not reshuffle the others.
    """

    workers: int = 3
    files: int = 1000
    seed: int = 0
    files_per_dir: int = 1000
    sizes: SizeDistribution = field(default_factory=SizeDistribution)
    network: NetworkModel = field(default_factory=NetworkModel)
    node: NodeModel = field(default_factory=NodeModel)
    slow_workers: int = 0
    slowdown: float = 4.0
    read_error_rate: float = 0.0
    index_process: bool | None = None
    per_page_recency: bool = False
    ufs_root: str = "sim://data"
    mount_path: str = "/data"
    config: ClusterConfig = field(default_factory=sim_config)

    def rng(self, name: str) -> random.Random:
        """The generator for one consumer; the same seed and name give the same draws."""
        return random.Random(f"{self.seed}:{name}")

    def seed_for(self, name: str) -> int:
        return self.rng(name).getrandbits(64)
