"""The readers of a `simulate train` run, as the network and the UFS see them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .cluster import SimCluster
from .costs import IoMeter, Link, SimRunIo
from .refs import SimRef
from .ufs import SimUfs


@dataclass
class TrainClients:
    """The simulated readers: a NIC each (answers queue on it), a ref per worker naming the
    client as caller (made when first asked: workers may join), each worker's outbound NIC,
    and a view of the UFS each, over the cluster's shared UFS link, for the fallback."""

    cluster: SimCluster
    count: int
    refs: list[dict[str, SimRef]] = field(default_factory=list)
    egress: dict[str, Link] = field(default_factory=dict)
    ufs: list[SimUfs] = field(default_factory=list)
    run_io: list[SimRunIo] = field(default_factory=list)

    def __post_init__(self) -> None:
        cluster = self.cluster
        spec = cluster.spec
        for c in range(self.count):
            name = f"client-{c}"
            meter = IoMeter(spec.node, spec.network, cluster.ufs_link)
            cluster.network.meters[name] = meter
            self.refs.append({})
            self.ufs.append(SimUfs(cluster.namespace, meter))
            self.run_io.append(SimRunIo(meter, cluster.loop))

    def ref(self, c: int, worker_id: str) -> SimRef:
        refs = self.refs[c]
        if worker_id not in refs:
            endpoint = self.cluster.peers.endpoints[worker_id]
            refs[worker_id] = SimRef(endpoint, self.cluster.network, f"client-{c}")
        return refs[worker_id]

    def link(self, worker_id: str) -> Link:
        if worker_id not in self.egress:
            self.egress[worker_id] = Link(self.cluster.spec.node.nic_bandwidth)
        return self.egress[worker_id]

    def ufs_bytes(self) -> int:
        return sum(ufs.bytes_read for ufs in self.ufs)
