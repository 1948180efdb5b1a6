"""Cached reads through the client against plain reads of the same bytes from local disk.

Starts a real Ray cluster (one local Ray instance, N workers), mounts a directory of
generated files, reads every file once through the cache (cold: UFS -> worker -> client),
then again (hot: served from the worker's page store), and reads the same files with plain
`open().read()`; all in one run, reported as MB/s and ratios.

    .venv/bin/python bench/bench_reads.py [--files 32] [--size-mib 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from ringcache.actors.bootstrap import start_cluster, stop_cluster
from ringcache.client.client import connect
from ringcache.config import ClusterConfig, WorkerConfig


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="hot rounds; the best is kept")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "ufs"
        data.mkdir()
        names = [f"f{i:04d}.bin" for i in range(args.files)]
        for name in names:
            (data / name).write_bytes(os.urandom(args.size_mib * 1024**2))
        total_mb = args.files * args.size_mib * 1024**2 / 1e6
        config = ClusterConfig(
            state_dir=root / "state",
            namespace=f"bench-{uuid.uuid4().hex[:8]}",
            allowed_local_roots=[str(root)],
            worker=WorkerConfig(cache_dir=root / "cache", capacity=4 * 1024**3),
        )
        cluster = start_cluster(config, workers=args.workers)
        try:
            cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
            client = connect(namespace=config.namespace)

            def through_cache() -> None:
                for name in names:
                    client.read(f"/data/{name}")

            def plain() -> None:
                for name in names:
                    with open(data / name, "rb") as handle:
                        handle.read()

            cold = timed(through_cache)
            hot = min(timed(through_cache) for _ in range(args.rounds))
            disk = min(timed(plain) for _ in range(args.rounds))
        finally:
            stop_cluster(config)

    results = {
        "files": args.files,
        "file_mib": args.size_mib,
        "workers": args.workers,
        "cold_MBps": round(total_mb / cold, 1),
        "hot_MBps": round(total_mb / hot, 1),
        "plain_disk_MBps": round(total_mb / disk, 1),
        "hot_vs_plain": round(disk / hot, 3),
        "cold_vs_plain": round(disk / cold, 3),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.files} files x {args.size_mib} MiB, {args.workers} worker(s)")
    print(f"  plain local-disk reads : {results['plain_disk_MBps']:>9} MB/s")
    print(
        f"  cached reads (hot)     : {results['hot_MBps']:>9} MB/s  ratio {results['hot_vs_plain']}"
    )
    print(
        f"  first reads (cold)     : {results['cold_MBps']:>9} MB/s"
        f"  ratio {results['cold_vs_plain']}"
    )


if __name__ == "__main__":
    main()
