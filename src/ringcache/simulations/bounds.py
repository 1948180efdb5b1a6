"""How fast a load could be at best: its network bound, next to how long it took.

Every byte a load caches crosses the NIC of the worker that stores it, so no schedule can
finish before the busiest worker has received its bytes: `bytes owned / NIC rate` for each
worker (stretched by its `slowdown`), the largest of them. The mean bound (all bytes over
all NICs) is shown too: it is what a perfectly even ring would allow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cluster.ring.policy import RingPolicy
from .cluster import SimCluster


def network_bound(cluster: SimCluster, ring: RingPolicy, virtual_seconds: float) -> dict[str, Any]:
    """The load's network bounds on `ring` (each file on its first owner) and its duration
    over the tighter one."""
    owners = cluster.owners.file_owners(ring)
    sizes = cluster.namespace.sizes
    placed = owners >= 0
    held = np.bincount(owners[placed], weights=sizes[placed], minlength=len(ring.worker_ids))
    seconds = [
        float(held[i])
        * cluster.nodes[worker_id].model.slowdown
        / cluster.nodes[worker_id].model.nic_bandwidth
        for i, worker_id in enumerate(ring.worker_ids)
    ]
    busiest = max(seconds, default=0.0)
    rates = sum(cluster.nodes[w].model.nic_bandwidth for w in ring.worker_ids)
    mean = float(sizes[placed].sum()) / rates if rates else 0.0
    return {
        "networkBoundSeconds": round(busiest, 6),
        "meanNetworkBoundSeconds": round(mean, 6),
        "overNetworkBound": round(virtual_seconds / busiest, 6) if busiest else 0.0,
    }
