"""The coordinator: keeps the ring in step with membership and answers management calls."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from ..config import ClusterConfig
from ..environment import Environment
from ..errors import Conflict, Gone, InvalidArgument, NotFound, NotSupported
from ..index.feed import IndexFeed
from ..index.file_index import FileIndex
from ..jobs.catalog import REBALANCE
from ..jobs.manager import JobManager
from ..policies import PolicyCalls, PolicyService
from ..policies.announce import RuleAnnouncer
from ..policies.enforcer import RULE_PREFIXES, PolicyEnforcer
from ..refs import ActorRef, Peers, WritesNoticed
from ..ring.membership import (
    NODES_PREFIX,
    NodeRecord,
    NodeState,
    live_key,
    node_key,
)
from ..ring.policy import RingPolicy
from ..ring.view import MembershipView
from ..ufs.browse import list_directory, stat_path
from ..ufs.mount_store import delete_mount_point, read_mount_table, write_mount_point
from ..ufs.mounts import MountPoint, MountTable, check_mount, normalize_cluster_path
from ..units import format_time
from ..worker.read_metrics import read_metrics

log = logging.getLogger(__name__)

WORKER_CALL_TIMEOUT = 2.0


class Coordinator(PolicyCalls):
    """Watches membership and keeps the ring current; owns the mount table and node calls.

    Guarantees: the ring holds exactly the workers with a live lease, as of the last watch
    event seen; a mount point is in the registry before `add_mount` returns.
    """

    def __init__(
        self, config: ClusterConfig, registry: ActorRef, peers: Peers, env: Environment
    ) -> None:
        self.config = config
        # A write of this coordinator's to a rule or a mount tells the quota gate to read
        # the rules again before its next batch, rather than once a second.
        registry = WritesNoticed(
            registry, lambda: self.enforcer.rules_may_have_changed(), RULE_PREFIXES
        )
        self.registry = registry
        self.peers = peers
        self.env = env
        self.clock = env.clock
        self.members = MembershipView(
            registry,
            self.clock,
            config.virtual_nodes,
            on_offline=self._record_offline,
            on_change=self._membership_changed,
            policy=config.ring_policy,
        )
        self._auto_rebalance: asyncio.Task | None = None
        self._stopped = False
        index_on = config.policies.file_index.enabled
        self.file_index = env.index_factory(config.state_dir) if index_on else FileIndex()
        # Keeps the index in step with the workers, counts and enforces quotas; jobs reach
        # the workers through its quota gate.
        self.enforcer = PolicyEnforcer(
            config.policies,
            registry,
            peers,
            env,
            self.file_index,
            live=lambda: self.live,
            interval=config.policies.file_index.sync_interval or config.worker.heartbeat_interval,
        )
        # A rule write answers once the live workers hold it: reads obey it at once.
        announcer = RuleAnnouncer(registry, peers, lambda: self.live)
        self.policies = PolicyService(
            registry,
            lambda: read_mount_table(self.registry),
            self.file_index,
            config.policies,
            env=env,
            quota_usage=self.enforcer.quota_usage,
            on_rules_changed=announcer.announce,
        )
        # Jobs note the workers whose batches answered; the index catches up behind them.
        self.index_feed = IndexFeed(self.enforcer.sync_workers)
        self.jobs = JobManager(
            registry,
            self.enforcer.gate,
            env,
            ring=lambda: (self.ring, self.live),
            mounts=lambda: read_mount_table(self.registry),
            lease_ttl=config.lease_ttl,
            lost_files=self._lost_files,
            on_results=self.index_feed.note,
        )

    # -- membership ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.mount_table_file is not None:
            await self._install_static_mounts(self.config.mount_table_file)
        await self.members.start()
        await self.enforcer.start()
        await self.jobs.start()

    async def stop(self) -> None:
        self._stopped = True
        self.members.stop()
        if self._auto_rebalance is not None:
            self._auto_rebalance.cancel()
        await self.jobs.stop_all()
        await self.index_feed.stop()
        await self.enforcer.stop()
        self.file_index.close()

    # -- jobs ------------------------------------------------------------------------------

    async def submit_job(self, job_type: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.jobs.submit(job_type, body)

    async def get_job(self, job_type: str, kind: str, value: str) -> dict[str, Any]:
        return await self.jobs.get(job_type, kind, value)

    async def list_jobs(
        self, job_type: str, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        return await self.jobs.list(job_type, last_key, count)

    async def stop_job(self, job_type: str, kind: str, value: str) -> dict[str, Any]:
        return await self.jobs.stop(job_type, kind, value)

    @property
    def live(self) -> set[str]:
        return self.members.live

    @property
    def ring(self) -> RingPolicy:
        return self.members.ring

    @property
    def ring_version(self) -> int:
        return self.members.version

    def _membership_changed(self) -> None:
        if self.config.auto_rebalance:
            self._schedule_rebalance()

    def _schedule_rebalance(self) -> None:
        """Rebalance ALL once membership has been quiet for a while (debounced)."""
        if self._auto_rebalance is not None:
            self._auto_rebalance.cancel()
        self._auto_rebalance = asyncio.get_running_loop().create_task(self._rebalance_later())

    async def _rebalance_later(self) -> None:
        await self.clock.sleep(self.config.auto_rebalance_delay)
        try:
            await self.jobs.submit(REBALANCE.name, {"target": "ALL"})
        except Conflict as exc:  # one exists: it was resumed, re-run or is running already
            log.info("automatic rebalance: %s", exc.message)

    async def _record_offline(self, worker_id: str) -> None:
        kv = await self.registry.call("get", node_key(worker_id))
        if kv is None:
            return
        record = NodeRecord.decode(kv.value)
        # The lease lapsed one TTL after the last keepalive.
        record.last_heartbeat = max(record.start_time, self.clock.now() - self.config.lease_ttl)
        await self.registry.call("put", node_key(worker_id), record.encode())

    async def ring_snapshot(self) -> dict[str, Any]:
        """What a client needs to build the same ring: the workers and virtual nodes."""
        return {
            "workers": list(self.ring.worker_ids),
            "virtualNodes": self.config.virtual_nodes,
            "ringPolicy": self.ring.policy,
            "version": self.ring_version,
        }

    async def resolve(self, path: str) -> str:
        """The UFS URI of a cluster path or UFS URI (400 if it is under no mount point)."""
        _, uri = (await read_mount_table(self.registry)).resolve(path)
        return uri

    async def owners(self, path: str, count: int = 1) -> list[str]:
        return self.ring.owners(await self.resolve(path), count)

    async def stat(self, path: str) -> dict[str, Any]:
        table = await read_mount_table(self.registry)
        return await self.env.run_io(stat_path, table, path, self.env.ufs_factory)

    async def list_dir(self, path: str) -> list[dict[str, Any]]:
        table = await read_mount_table(self.registry)
        return await self.env.run_io(list_directory, table, path, self.env.ufs_factory)

    # -- answers from the file index, as of the call (see `IndexFeed`) ----------------------

    async def list_file_index(
        self, prefix: str | None = None, last_key: str | None = None, count: int | None = None
    ) -> list[dict[str, Any]]:
        await self.index_feed.caught_up()
        return await super().list_file_index(prefix, last_key, count)

    async def list_quotas(self) -> list[dict[str, Any]]:
        await self.index_feed.caught_up()
        return await super().list_quotas()

    async def get_quota(self, path: str) -> dict[str, Any]:
        await self.index_feed.caught_up()
        return await super().get_quota(path)

    async def _lost_files(self, after: str | None, count: int) -> list[dict[str, Any]]:
        """A page, in path order, of the files the index says departed workers held, with
        their versions and holders (the caller keeps those no live worker holds)."""
        # No read of the index (nor wait for it) when no worker that reported a file is gone.
        if not self.file_index.reported_workers() - self.live:
            return []
        await self.index_feed.caught_up()

        def page() -> list[dict[str, Any]]:
            departed = self.file_index.reported_workers() - self.live
            return self.file_index.held_by(departed, after, count) if departed else []

        return await self.env.run_io(page)

    # -- stale cache -----------------------------------------------------------------------

    async def clear_stale(self, replicas: int = 1) -> dict[str, Any]:
        """Have every live worker drop, in the background, the files it does not own."""
        workers = list(self.ring.worker_ids)
        vnodes = self.config.virtual_nodes
        policy = self.ring.policy
        errors = await self._on_live_workers("clear_stale", workers, vnodes, replicas, policy)
        return {"errors": errors}

    async def stop_clear_stale(self) -> dict[str, Any]:
        return {"errors": await self._on_live_workers("stop_clear_stale")}

    # -- mount table -----------------------------------------------------------------------

    async def list_mounts(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in (await read_mount_table(self.registry)).list()]

    async def get_mount(self, path: str) -> dict[str, Any]:
        table = await read_mount_table(self.registry)
        return table.get(normalize_cluster_path(path)).to_dict()

    async def add_mount(self, path: str, ufs: str, options: dict[str, str]) -> dict[str, Any]:
        self._refuse_if_static()
        table = await read_mount_table(self.registry)
        mount = await self.env.run_io(
            check_mount,
            MountPoint(path=path, ufs=ufs, options=options),
            table,
            self.config.allowed_local_roots,
            ufs_factory=self.env.ufs_factory,
        )
        await write_mount_point(self.registry, mount)
        return mount.to_dict()

    async def remove_mount(self, path: str) -> dict[str, Any]:
        """Unmount: drop the cached data under it on every live worker, then the mount point."""
        self._refuse_if_static()
        table = await read_mount_table(self.registry)
        try:
            mount = table.get(normalize_cluster_path(path))
        except NotFound as exc:
            raise Gone(f"{path} is not mounted") from exc
        errors = await self._on_live_workers("free_prefix", mount.ufs)
        await self.policies.forget_mount(mount.path, mount.ufs)
        await delete_mount_point(self.registry, mount.path)
        return {**mount.to_dict(), "errors": errors}

    def _refuse_if_static(self) -> None:
        if self.config.mount_table_file is not None:
            raise NotSupported(
                f"the mount table is static (read from {self.config.mount_table_file}); "
                "edit that file and restart instead"
            )

    async def _install_static_mounts(self, path: Path) -> None:
        try:
            entries = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read the mount table file {path}: {exc}") from exc
        table = MountTable([])
        for entry in entries:
            mount = check_mount(
                MountPoint.from_dict(entry),
                table,
                self.config.allowed_local_roots,
                ufs_factory=self.env.ufs_factory,
            )
            table = MountTable([*table.list(), mount])
        for old in (await read_mount_table(self.registry)).list():
            await delete_mount_point(self.registry, old.path)
        for mount in table.list():
            await write_mount_point(self.registry, mount)

    # -- nodes -----------------------------------------------------------------------------

    async def list_nodes(self) -> list[dict[str, Any]]:
        records = await self.registry.call("range", NODES_PREFIX)
        nodes = [NodeRecord.decode(kv.value) for kv in records]
        return list(await asyncio.gather(*(self._describe(node) for node in nodes)))

    async def get_node(self, worker_id: str) -> dict[str, Any]:
        kv = await self.registry.call("get", node_key(worker_id))
        if kv is None:
            raise NotFound(f"no worker {worker_id!r} is known to the cluster")
        return await self._describe(NodeRecord.decode(kv.value))

    async def remove_node(self, worker_id: str) -> dict[str, Any]:
        """Decommission a worker: it leaves the ring now and a live one stops."""
        kv = await self.registry.call("get", node_key(worker_id))
        if kv is None or NodeRecord.decode(kv.value).decommissioned:
            raise NotFound(f"no active worker {worker_id!r} is known to the cluster")
        record = NodeRecord.decode(kv.value)
        record.decommissioned = True
        record.last_heartbeat = record.last_heartbeat or self.clock.now()
        await self.registry.call("put", node_key(worker_id), record.encode())
        if worker_id in self.live:
            try:
                ref = self.peers.worker(worker_id)
                await asyncio.wait_for(ref.call("decommission"), WORKER_CALL_TIMEOUT)
            except Exception as exc:  # the lease is revoked below either way
                log.warning("decommission of %s not acknowledged: %s", worker_id, exc)
            live = await self.registry.call("get", live_key(worker_id))
            if live is not None and live.lease:
                await self.registry.call("lease_revoke", live.lease)
            self.members.set_live(self.live - {worker_id})
        return await self._describe(record)

    async def _describe(self, record: NodeRecord) -> dict[str, Any]:
        if record.decommissioned:
            state = NodeState.DECOMMISSIONED
        elif record.id in self.live:
            state = NodeState.ONLINE
        else:
            state = NodeState.OFFLINE
        node: dict[str, Any] = {
            "id": record.id,
            "host": record.host,
            "rayNodeId": record.ray_node_id,
            "state": state.value,
            "capacityBytes": record.capacity_bytes,
            "startTime": format_time(record.start_time),
            "dataAddress": record.data_address,
        }
        last_heartbeat = record.last_heartbeat
        if state is NodeState.ONLINE:
            try:
                stats = await asyncio.wait_for(
                    self.peers.worker(record.id).call("stats"), WORKER_CALL_TIMEOUT
                )
                node.update(usedBytes=stats["usedBytes"], cachedFiles=stats["cachedFiles"])
                node.update(pagesEvicted=stats["pagesEvicted"])
                node.update(reads=read_metrics(stats))
                last_heartbeat = stats["lastHeartbeat"]
            except Exception as exc:  # a slow worker still lists, without its usage
                log.warning("stats of %s unavailable: %s", record.id, exc)
        if last_heartbeat is not None:
            node["lastHeartbeat"] = format_time(last_heartbeat)
        return {key: value for key, value in node.items() if value not in (None, "")}

    async def _on_live_workers(self, method: str, *args: Any) -> dict[str, str]:
        """Call `method` on every live worker; the errors by worker id (empty when all agreed)."""

        async def one(worker_id: str) -> tuple[str, str | None]:
            try:
                await self.peers.worker(worker_id).call(method, *args)
                return worker_id, None
            except Exception as exc:  # reported per worker to the caller, not swallowed
                return worker_id, f"{type(exc).__name__}: {exc}"

        results = await asyncio.gather(*(one(w) for w in sorted(self.live)))
        return {worker_id: error for worker_id, error in results if error}
