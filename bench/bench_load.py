"""Load jobs through a real Ray cluster against plain copies of the same files, in one run.

    .venv/bin/python bench/bench_load.py [--large-files 64 --large-mib 16] [--small-files 20000]
                                         [--rounds 4] [--large-rounds 8]

Large files: bytes/s of a load job (UFS -> worker page store) against `shutil.copyfile`
of the same files on the same disk, a kernel copy as `cp` makes (aim: ratio >= 0.9).
Small files: files/s of a load job against a plain Python open/read/write loop (aim:
ratio >= 0.7). Both sides read files the OS has just written, so both read from the page
cache.

The speed of creating files on a shared machine's disk swings from minute to minute, and it
slows down as files are written, so each side runs `--rounds` times (default 4; the large
files, whose rounds take a second, `--large-rounds`, default 8), alternating which goes first
in a round (copy, load, load, copy, copy, load, ...), the cache freed and the copies deleted
after each run; the ratio compares the best round of each side, `median_ratio` the median
rounds, and every round's time is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median

from ringcache.actors.bootstrap import start_cluster, stop_cluster
from ringcache.config import ClusterConfig, WorkerConfig

# How often a job's state is asked for while it runs. A coarser poll adds up to its period
# to every load's time: 50 ms was 40% of a 0.12 s load of 256 MiB.
POLL_SECONDS = 0.01


def make_files(root: Path, count: int, size: int) -> Path:
    root.mkdir(parents=True)
    block = os.urandom(size)
    for i in range(count):
        (root / f"d{i % 100:02d}").mkdir(exist_ok=True)
        (root / f"d{i % 100:02d}" / f"f{i:06d}.bin").write_bytes(block)
    return root


def plain_copy(source: Path, target: Path, small: bool) -> float:
    start = time.perf_counter()
    for path in sorted(source.rglob("*.bin")):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if small:
            with open(path, "rb") as reader, open(destination, "wb") as writer:
                writer.write(reader.read())
        else:
            shutil.copyfile(path, destination)
    return time.perf_counter() - start


def run_job(cluster, job_type: str, alias: str, path: str) -> tuple[float, dict]:
    start = time.perf_counter()
    cluster.coordinator.call_sync("submit_job", job_type, {"paths": [path], "alias": alias})
    while True:
        job = cluster.coordinator.call_sync("get_job", job_type, "alias", alias)
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return time.perf_counter() - start, job
        time.sleep(POLL_SECONDS)


def rounds(cluster, root: Path, name: str, source: Path, count: int) -> dict:
    """Copy and load `source` `count` times each, copy first in even rounds and load first
    in odd ones (a disk that slows down as it is written favours whichever goes first);
    the copies are deleted and the cache emptied after each run."""
    copies, loads, states = [], [], []

    def copy() -> None:
        copies.append(plain_copy(source, root / "copy" / name, small=name == "small"))
        shutil.rmtree(root / "copy")

    def load(round_: int) -> None:
        seconds, job = run_job(cluster, "load", f"{name}-{round_}", f"/data/{name}")
        loads.append(seconds)
        states.append(job["state"])
        _, freed = run_job(cluster, "free", f"free-{name}-{round_}", f"/data/{name}")
        states.append(freed["state"])

    for round_ in range(count):
        if round_ % 2 == 0:
            copy()
            load(round_)
        else:
            load(round_)
            copy()
    return {"copy": copies, "load": loads, "states": sorted(set(states))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-files", type=int, default=64)
    parser.add_argument("--large-mib", type=int, default=16)
    parser.add_argument("--small-files", type=int, default=20_000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--large-rounds", type=int, default=8)
    parser.add_argument("--lanes", type=int, default=0, help="thread lanes per worker batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        large = make_files(root / "ufs/large", args.large_files, args.large_mib * 1024**2)
        small = make_files(root / "ufs/small", args.small_files, args.small_kib * 1024)
        config = ClusterConfig(
            state_dir=root / "state",
            namespace=f"bench-{uuid.uuid4().hex[:8]}",
            # A Ray instance of its own: with no address, Ray joins the cluster last started
            # on this machine (`ray start`), whose workers may run other code or be gone.
            ray_address="local",
            allowed_local_roots=[str(root)],
            worker=WorkerConfig(
                cache_dir=root / "cache",
                capacity=64 * 1024**3,
                **({"max_batch_concurrency": args.lanes} if args.lanes else {}),
            ),
        )
        cluster = start_cluster(config, workers=args.workers)
        try:
            cluster.coordinator.call_sync("add_mount", "/data", f"file://{root / 'ufs'}", {})
            large_runs = rounds(cluster, root, "large", large, args.large_rounds)
            small_runs = rounds(cluster, root, "small", small, args.rounds)
        finally:
            stop_cluster(config)

    large_bytes = args.large_files * args.large_mib * 1024**2
    large_copy, large_load = min(large_runs["copy"]), min(large_runs["load"])
    small_copy, small_load = min(small_runs["copy"]), min(small_runs["load"])
    results = {
        "workers": args.workers,
        "rounds": {"large": args.large_rounds, "small": args.rounds},
        "large": {
            "files": args.large_files,
            "MiB_each": args.large_mib,
            "plain_copy_MBps": round(large_bytes / large_copy / 1e6, 1),
            "load_MBps": round(large_bytes / large_load / 1e6, 1),
            "ratio": round(large_copy / large_load, 3),
            "median_ratio": round(median(large_runs["copy"]) / median(large_runs["load"]), 3),
            "copy_seconds": [round(t, 3) for t in large_runs["copy"]],
            "load_seconds": [round(t, 3) for t in large_runs["load"]],
            "job_states": large_runs["states"],
        },
        "small": {
            "files": args.small_files,
            "KiB_each": args.small_kib,
            "plain_copy_files_per_s": round(args.small_files / small_copy),
            "load_files_per_s": round(args.small_files / small_load),
            "ratio": round(small_copy / small_load, 3),
            "median_ratio": round(median(small_runs["copy"]) / median(small_runs["load"]), 3),
            "copy_seconds": [round(t, 3) for t in small_runs["copy"]],
            "load_seconds": [round(t, 3) for t in small_runs["load"]],
            "job_states": small_runs["states"],
        },
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
