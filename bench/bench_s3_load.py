"""A load job from a local S3 server against s3fs copying the same objects, in one run.

    PYTHONPATH=src .venv/bin/python bench/bench_s3_load.py [--small 200 --small-kib 256]
                                                          [--large 16 --large-mib 8] [--rounds 3]

The S3 server is moto's (the one the tests start) in a child process on 127.0.0.1. For
each set of objects (many small, few large), a load job of the in-process cluster (S3 ->
worker page stores) is timed against `s3fs`'s own recursive `get` of the same prefix to
local disk (s3fs fetches concurrently). Each side runs `--rounds` times, alternating which
goes first; the cache is freed and the copy deleted after each run; the ratio compares the
best round of each side (copy seconds / load seconds: above 1, the load is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import s3fs

from ringcache.config import ClusterConfig, WorkerConfig
from ringcache.local import LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for `tests.s3_fixture`
from tests.s3_fixture import S3Server, running_s3_server  # noqa: E402


def put_objects(server: S3Server, bucket: str, prefix: str, count: int, size: int) -> None:
    client = server.client()
    block = os.urandom(size)
    for i in range(count):
        client.put_object(Bucket=bucket, Key=f"{prefix}/f{i:05d}.bin", Body=block)


def run_job(cluster: LocalCluster, job_type: str, alias: str, path: str) -> tuple[float, dict]:
    coordinator = cluster.coordinator_ref
    start = time.perf_counter()
    cluster.run(coordinator.call("submit_job", job_type, {"paths": [path], "alias": alias}))
    while True:
        job = cluster.run(coordinator.call("get_job", job_type, "alias", alias))
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return time.perf_counter() - start, job
        time.sleep(0.02)


def s3fs_copy(fs: s3fs.S3FileSystem, source: str, target: Path) -> float:
    start = time.perf_counter()
    fs.get(source + "/", str(target) + "/", recursive=True)
    return time.perf_counter() - start


def rounds(cluster, fs, root: Path, bucket: str, name: str, count: int) -> dict:
    """Seconds of each side per round, the side that goes first alternating."""
    states: set[str] = set()

    def copy(round_: int) -> float:
        fs.invalidate_cache()
        seconds = s3fs_copy(fs, f"{bucket}/{name}", root / "copy" / f"{name}-{round_}")
        shutil.rmtree(root / "copy")
        return seconds

    def load(round_: int) -> float:
        seconds, job = run_job(cluster, "load", f"{name}-{round_}", f"/s3/{name}")
        _, freed = run_job(cluster, "free", f"free-{name}-{round_}", f"/s3/{name}")
        states.update((job["state"], freed["state"]))
        return seconds

    sides = {"copy": copy, "load": load}
    times: dict[str, list[float]] = {"copy": [], "load": []}
    for round_ in range(count):
        for side in sorted(sides, reverse=round_ % 2 == 1):
            times[side].append(sides[side](round_))
    return {**times, "states": sorted(states)}


def summary(runs: dict, files: int, size: int) -> dict:
    total = files * size
    copy, load = min(runs["copy"]), min(runs["load"])
    return {
        "objects": files,
        "bytes_each": size,
        "s3fs_copy_MBps": round(total / copy / 1e6, 1),
        "load_MBps": round(total / load / 1e6, 1),
        "ratio": round(copy / load, 3),
        "copy_seconds": [round(t, 3) for t in runs["copy"]],
        "load_seconds": [round(t, 3) for t in runs["load"]],
        "job_states": runs["states"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--small-kib", type=int, default=256)
    parser.add_argument("--large", type=int, default=16)
    parser.add_argument("--large-mib", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    small_size, large_size = args.small_kib * 1024, args.large_mib * 1024**2

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        with running_s3_server(root / "moto.log") as server:
            bucket = server.new_bucket()
            put_objects(server, bucket, "small", args.small, small_size)
            put_objects(server, bucket, "large", args.large, large_size)
            config = ClusterConfig(
                state_dir=root / "state",
                workers=args.workers,
                worker=WorkerConfig(cache_dir=root / "cache", capacity=8 * 1024**3),
            )
            fs = s3fs.S3FileSystem(
                endpoint_url=server.endpoint_url, key=server.key, secret=server.secret
            )
            with LocalCluster(config) as cluster:
                mount = ("add_mount", "/s3", f"s3://{bucket}", server.options())
                cluster.run(cluster.coordinator_ref.call(*mount))
                small = rounds(cluster, fs, root, bucket, "small", args.rounds)
                large = rounds(cluster, fs, root, bucket, "large", args.rounds)

    results = {
        "runtime": "in-process",
        "workers": args.workers,
        "rounds": args.rounds,
        "small": summary(small, args.small, small_size),
        "large": summary(large, args.large, large_size),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
