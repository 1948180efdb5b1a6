"""One worker's load path for small files, in this process, against a plain copy loop.

    .venv/bin/python bench/bench_worker_files.py [--files 10000] [--kib 4] [--lanes 8]
                                                 [--every-lane]

No Ray and no job engine: the worker's `load_batch` is called directly, in batches of 200,
over files on the local disk, and its wall time and CPU time (every thread of the process)
per file are printed next to those of a plain Python open/read/write copy loop over the
same files, run just before. This isolates what the worker costs per small file, which
bounds what a load job can reach (`bench/bench_load.py`).

A batch of small files on a local disk runs in one thread lane (`cluster/load_lanes.py`);
`--every-lane` treats the disk as a network file system, so each batch runs in `--lanes`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ringcache.config import ClusterConfig, WorkerConfig
from ringcache.local import LocalCluster

BATCH = 200


def make_files(root: Path, count: int, size: int) -> list[Path]:
    block = os.urandom(size)
    paths = []
    for i in range(count):
        path = root / f"d{i % 100:02d}" / f"f{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(block)
        paths.append(path)
    return sorted(paths)


def plain_copy(paths: list[Path], source: Path, target: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as reader, open(destination, "wb") as writer:
            writer.write(reader.read())
    return time.perf_counter() - wall, time.process_time() - cpu


def worker_load(
    paths: list[Path], root: Path, source: Path, lanes: int, every_lane: bool
) -> tuple[float, float]:
    config = ClusterConfig(
        state_dir=root / "state",
        allowed_local_roots=[str(root)],
        workers=1,
        worker=WorkerConfig(
            cache_dir=root / "cache", capacity=64 * 1024**3, max_batch_concurrency=lanes
        ),
    )
    cluster = LocalCluster(config).start()
    try:
        cluster.run(cluster.coordinator.add_mount("/data", f"file://{source}", {}))
        (worker,) = cluster.workers.values()
        if every_lane:  # no mount table: no disk is known to be local
            worker.local_disks.mount_table = str(root / "no-mount-table")
        entries = [(f"file://{p}", p.stat().st_size, p.stat().st_mtime, None) for p in paths]
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(entries), BATCH):
            answers = cluster.run(worker.load_batch(entries[start : start + BATCH], {}))
            failed = [a for a in answers if a.status != "LOADED"]
            if failed:
                raise SystemExit(f"the worker did not load {failed[0]}")
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--kib", type=int, default=4)
    parser.add_argument("--lanes", type=int, default=8, help="thread lanes per batch, at most")
    parser.add_argument(
        "--every-lane", action="store_true", help="use every lane, as on a network file system"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        source = root / "ufs"
        paths = make_files(source, args.files, args.kib * 1024)
        copy_wall, copy_cpu = plain_copy(paths, source, root / "copy")
        shutil.rmtree(root / "copy")
        load_wall, load_cpu = worker_load(paths, root, source, args.lanes, args.every_lane)
    n = args.files
    print(
        json.dumps(
            {
                "files": n,
                "KiB_each": args.kib,
                "lanes": args.lanes,
                "every_lane": args.every_lane,
                "plain_copy_files_per_s": round(n / copy_wall),
                "plain_copy_cpu_us_per_file": round(copy_cpu / n * 1e6, 1),
                "worker_files_per_s": round(n / load_wall),
                "worker_cpu_us_per_file": round(load_cpu / n * 1e6, 1),
                "cpu_ratio": round(load_cpu / copy_cpu, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
