"""Rebalance on a real Ray cluster, measured side by side in one run.

    .venv/bin/python bench/bench_rebalance.py [--workers 3] [--files 600] [--kib 256]
        [--rounds 10] [--over-http]

1. Bytes moved when one worker joins N, against the ideal: the bytes whose owner changed
   (and the 1/(N+1) share a perfect ring would move).
2. Peer-to-peer moves against UFS reloads: the same files fetched onto the new worker from
   the peers that hold them, and, after dropping them, from the local-disk UFS; `--rounds`
   rounds, each side first in half of them. `peer_vs_ufs` is the UFS time over the peer
   time, summed over the rounds (1.0: as fast; the aim is 0.9). The workers here share a
   host, so the peers hand their data files over and the kernel copies the pages
   (spliced through a pipe, as the UFS's files are); between hosts they travel over HTTP, which
   `--over-http` measures (`[worker] peer_handover = false`: no hand-overs; the peers send
   by `sendfile`, the new worker splices socket -> pipe -> cache file). Beside them, the
   bound of any copy whose bytes land in user space (as an HTTP receiver's do where splice
   is not available): the same files read with `pread` and written with `pwrite` to new
   files, against `copy_file_range`.
   Beside those, the bound of any copy over TCP on this host (`loopback_vs_copy_file_range`):
   the same files sent by `sendfile` over 127.0.0.1 on two connections at once and spliced
   into new files by the workers' receiver (`page_io.SocketStream`), no HTTP, store or
   actor in the way, against `copy_file_range` on two threads. Over loopback the kernel's
   TCP work (the sender's, which also runs the receiving side of the stack, then the
   receiver's splice) costs about as much CPU per byte again as the copy into the page
   cache itself, so with two cores a peer copy of large files cannot reach a page-cached
   UFS reload: this ratio is its ceiling (0.45-0.75 for 16 MiB files on a 2-core host).
   `peer_vs_ufs_median` is the median of the rounds' own ratios (robust to a round another
   process slowed). Every timed copy starts after `sync`: with gigabytes written before
   (by this run or another), the kernel's writeback slows page-cache writes several times
   over, whichever side is running then.
3. A rebalance limited by `loadBandwidth` against an unlimited one of the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ray

from ringcache.actors.bootstrap import add_worker, start_cluster, stop_cluster
from ringcache.cluster.cache.page_io import SocketStream, StreamRange, write_all
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.config import ClusterConfig, WorkerConfig


def wait(cluster, job_type: str, kind: str, value: str) -> dict:
    while True:
        job = cluster.coordinator.call_sync("get_job", job_type, kind, value)
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.05)


def ring_now(cluster) -> HashRing:
    snapshot = cluster.coordinator.call_sync("ring_snapshot")
    return HashRing(snapshot["workers"], virtual_nodes=snapshot["virtualNodes"])


def copy_files(files: list[str], out: Path, in_kernel: bool) -> None:
    """Each file copied to a new file under `out`: by `copy_file_range`, or through a
    buffer in user space (`pread`, `pwrite`)."""
    out.mkdir(parents=True)
    for i, name in enumerate(files):
        source = os.open(name, os.O_RDONLY)
        target = os.open(out / str(i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        size = os.fstat(source).st_size
        if in_kernel:
            done = 0
            while done < size:
                done += os.copy_file_range(source, target, size - done)
        else:
            data = os.pread(source, size, 0)
            os.pwrite(target, data, 0)
        os.close(source)
        os.close(target)


def user_space_bound(files: list[str], scratch: Path, rounds: int) -> float:
    """Seconds of kernel copies over seconds of user-space copies of `files`, each way
    first in half the rounds."""
    seconds = {True: 0.0, False: 0.0}
    for round_number in range(rounds):
        for in_kernel in (True, False) if round_number % 2 == 0 else (False, True):
            os.sync()
            start = time.perf_counter()
            copy_files(files, scratch / f"{in_kernel}{round_number}", in_kernel)
            seconds[in_kernel] += time.perf_counter() - start
    return seconds[True] / seconds[False]


def loopback_copies(files: list[str], out: Path, lanes: int) -> None:
    """Each file sent by `sendfile` over a 127.0.0.1 connection (one per lane, a thread
    sending on each) and spliced into a new file under `out` by `SocketStream`."""
    out.mkdir(parents=True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()
        pairs = []
        for _ in range(lanes):  # one at a time: the connection accepted is the one made
            client = socket.create_connection(address)
            pairs.append((client, listener.accept()[0]))

    def send(connection: socket.socket, mine: list[str]) -> None:
        for name in mine:
            with open(name, "rb") as source:
                size, sent = os.fstat(source.fileno()).st_size, 0
                while sent < size:
                    sent += os.sendfile(connection.fileno(), source.fileno(), sent, size - sent)

    def receive(connection: socket.socket, lane: int, mine: list[str]) -> None:
        for i, name in enumerate(mine):
            size = os.stat(name).st_size
            stream = SocketStream(connection, bytearray(), size)
            target = os.open(out / f"{lane}-{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                write_all(target, StreamRange(stream, 0, size), 0)
            finally:
                os.close(target)

    with ThreadPoolExecutor(2 * lanes) as pool:
        done = []
        for lane, (client, served) in enumerate(pairs):
            mine = files[lane::lanes]
            done += [pool.submit(send, served, mine), pool.submit(receive, client, lane, mine)]
        for future in done:
            future.result()
    for client, served in pairs:
        client.close()
        served.close()


def loopback_bound(files: list[str], scratch: Path, rounds: int, lanes: int = 2) -> float:
    """Seconds of `copy_file_range` copies over seconds of loopback copies of `files`,
    `lanes` at a time each, each way first in half the rounds."""
    seconds = {True: 0.0, False: 0.0}

    def in_kernel(out: Path) -> None:
        out.mkdir(parents=True)
        with ThreadPoolExecutor(lanes) as pool:
            parts = [(files[lane::lanes], out / str(lane)) for lane in range(lanes)]
            list(pool.map(lambda part: copy_files(*part, True), parts))

    for round_number in range(rounds):
        for over_tcp in (True, False) if round_number % 2 == 0 else (False, True):
            out = scratch / f"loopback{over_tcp}{round_number}"
            os.sync()
            start = time.perf_counter()
            if over_tcp:
                loopback_copies(files, out, lanes)
            else:
                in_kernel(out)
            seconds[over_tcp] += time.perf_counter() - start
    return seconds[False] / seconds[True]


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes `pids` have used so far (Linux)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10, help="peer/UFS rounds, alternated")
    parser.add_argument("--bandwidth", default="4MB", help="loadBandwidth of the limited run")
    parser.add_argument(
        "--over-http",
        action="store_true",
        help="peers copy over their data servers only, as between hosts (no hand-overs)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "ufs"
        data.mkdir()
        for i in range(args.files):
            (data / f"f{i:05d}.bin").write_bytes(os.urandom(args.kib * 1024))
        paths = [f"file://{p}" for p in sorted(data.iterdir())]
        size = args.kib * 1024
        config = ClusterConfig(
            state_dir=root / "state",
            namespace=f"bench-{uuid.uuid4().hex[:8]}",
            ray_address="local",  # a Ray instance of its own, never one already running here
            allowed_local_roots=[str(root)],
            lease_ttl=5,
            worker=WorkerConfig(
                cache_dir=root / "cache",
                capacity=16 * 1024**3,
                peer_handover=not args.over_http,
            ),
        )
        cluster = start_cluster(config, workers=args.workers)
        try:
            cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
            cluster.coordinator.call_sync("submit_job", "load", {"paths": ["/data"], "alias": "a"})
            assert wait(cluster, "load", "alias", "a")["state"] == "SUCCEEDED"
            before = ring_now(cluster)
            new = add_worker(config, slot="joined")
            while new.name not in ring_now(cluster).worker_ids:
                time.sleep(0.1)
            after = ring_now(cluster)
            changed = [p for p in paths if before.owners(p)[0] != after.owners(p)[0]]
            start = time.perf_counter()
            cluster.coordinator.call_sync("submit_job", "rebalance", {"target": "ALL"})
            job = wait(cluster, "rebalance", "target", "ALL")
            rebalance_seconds = time.perf_counter() - start

            # peer -> worker against UFS -> worker for the files the new worker now owns
            mine = [p for p in paths if after.owners(p)[0] == new.name]
            if not mine:  # the ring gave the new worker none of so few files
                raise SystemExit("no file moved to the new worker: run again, or with more --files")
            holders = {p: before.owners(p)[0] for p in mine}
            entries = [(p, size, os.stat(p[7:]).st_mtime, None, [holders[p]]) for p in mine]
            seconds: dict[str, list[float]] = {"peer": [], "ufs": []}
            cpu = {"peer": 0.0, "ufs": 0.0, "receiver": 0.0}  # of every worker process
            pids = [ray.get(w.handle.ping.remote()) for w in [*cluster.workers.values(), new]]

            def recache_on_old_owners() -> None:  # the rebalance pruned them there
                for old_owner in set(holders.values()):
                    files = [p for p in mine if holders[p] == old_owner]
                    cluster.workers[old_owner].call_sync("load_batch", files, {})

            recache_on_old_owners()
            for round_number in range(args.rounds):
                order = ("peer", "ufs") if round_number % 2 == 0 else ("ufs", "peer")
                for source in order:
                    new.call_sync("prune_batch", mine, {})
                    batch = entries if source == "peer" else [(*e[:4], []) for e in entries]
                    os.sync()  # each round starts clean: none slowed by writeback begun before
                    start, used, mine_used = (
                        time.perf_counter(),
                        cpu_seconds(pids),
                        cpu_seconds(pids[-1:]),
                    )
                    results = new.call_sync("fetch_batch", batch, {}, timeout=600)
                    seconds[source].append(time.perf_counter() - start)
                    cpu[source] += cpu_seconds(pids) - used
                    if source == "peer":  # of those, the receiving worker's
                        cpu["receiver"] += cpu_seconds(pids[-1:]) - mine_used
                    assert all(r.source == source for r in results), results[:2]
            peer_seconds, ufs_seconds = sum(seconds["peer"]), sum(seconds["ufs"])
            local = [p[len("file://") :] for p in mine]
            bound = user_space_bound(local, root / "copies", args.rounds)
            loopback = loopback_bound(local, root / "loopback", args.rounds)

            # a bandwidth-limited rebalance of the same moves, against the unlimited one
            new.call_sync("prune_batch", mine, {})
            # the same moves, onto the new worker alone (a new job: target is its selector)
            limited = {"target": new.name, "options": {"loadBandwidth": args.bandwidth}}
            start = time.perf_counter()
            cluster.coordinator.call_sync("submit_job", "rebalance", limited)
            limited_job = wait(cluster, "rebalance", "target", new.name)
            limited_seconds = time.perf_counter() - start
        finally:
            stop_cluster(config)

    moved_bytes = len(changed) * size
    total = len(paths) * size
    mine_bytes = len(mine) * size
    print(
        json.dumps(
            {
                "workers_before": args.workers,
                "files": args.files,
                "file_KiB": args.kib,
                "moved_bytes": job["loadedBytes"],
                "owner_changed_bytes": moved_bytes,
                "moved_vs_owner_changed": round(job["loadedBytes"] / moved_bytes, 3),
                "moved_fraction": round(job["loadedBytes"] / total, 4),
                "ideal_fraction_1_over_N_plus_1": round(1 / (args.workers + 1), 4),
                "pruned_bytes": job["prunedBytes"],
                "rebalance_seconds": round(rebalance_seconds, 2),
                "rounds": args.rounds,
                "peer_path": "http" if args.over_http else "same-host hand-over",
                "moved_to_new_worker_files": len(mine),
                "moved_to_new_worker_bytes": mine_bytes,
                "peer_seconds": [round(t, 3) for t in seconds["peer"]],
                "ufs_seconds": [round(t, 3) for t in seconds["ufs"]],
                "peer_MBps": round(args.rounds * mine_bytes / peer_seconds / 1e6, 1),
                "ufs_MBps": round(args.rounds * mine_bytes / ufs_seconds / 1e6, 1),
                "peer_vs_ufs": round(ufs_seconds / peer_seconds, 3),
                "peer_vs_ufs_median": round(
                    statistics.median(
                        u / p for p, u in zip(seconds["peer"], seconds["ufs"], strict=True)
                    ),
                    3,
                ),
                "loopback_vs_copy_file_range": round(loopback, 3),
                "user_space_copy_vs_copy_file_range": round(bound, 3),
                "peer_cpu_seconds": round(cpu["peer"], 2),
                "peer_cpu_seconds_of_receiver": round(cpu["receiver"], 2),
                "ufs_cpu_seconds": round(cpu["ufs"], 2),
                "limited_bandwidth": args.bandwidth,
                "limited_seconds": round(limited_seconds, 2),
                "limited_state": limited_job["state"],
                "limited_loaded_bytes": limited_job["loadedBytes"],
                "limited_vs_unlimited_time": round(limited_seconds / rebalance_seconds, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
