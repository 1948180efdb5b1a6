"""Reads through the cache against baselines measured in the same run, as ratios.

Starts a real Ray cluster (one local Ray instance, N workers), mounts a directory of
generated files and reads them through `ringcache.connect(...)`: the bytes come from the
workers' cache files (same-host short-circuit reads) or over their HTTP data servers; Ray
carries control only. Each measurement has its baseline:

- hot HTTP reads (cached, `short_circuit=False`) vs the same HTTP client reading the same
  files from a raw loopback server that answers every GET with `os.sendfile` and nothing
  else (the transport's limit);
- same-host hot reads (short-circuit) vs plain `open().read()` of the same files;
- cold reads (the first, from the UFS: on the owner's host, by the client itself from
  the UFS file once its owner allowed that, then noted to the owner, which stores it;
  the clients first read a few small files, so one-time set-up, the first asked miss
  among it, is not timed, nor processes idle since the baseline's reads at work again)
  vs plain reads of the UFS files,
  both as the reader sees them (a miss is answered before its pages are stored) and until
  the owners have stored every page ("cold, cached"), in `--cold-rounds` rounds, each on
  files of its own, right after its baseline (the best of `--rounds` plain reads of the
  same files): the totals over the rounds are compared, so a single sweep's hiccup weighs
  less (each round's ratio is in the JSON); and once more on other files that
  were dropped from the page cache first (`posix_fadvise`), against plain reads of them
  dropped the same way: a UFS that has to be read from its disk, as a real one would;
- beside the cold rounds, the bound of any read that consults another process on this host
  (`ceiling_vs_plain_ufs`; cold reads asked their owner before they could do without):
  after each round, the same files read once more through a minimal echo server in a
  process of its own (plain Python, no Ray, no ringcache code) on an abstract Unix socket:
  per file the client sends one short line, reads the file itself meanwhile as a cold
  read's early read does (open, fstat, pread of the whole file, close),
  then receives the server's one-line answer with a descriptor of the same file attached
  (`socket.send_fds`), checks its device and inode and closes it. That is the same-host
  miss protocol's irreducible cost, without any cache logic, against the same plain reads
  (each round's ratio is in the JSON too). Both processes sleep between requests; a core
  idle meanwhile wakes slowly in some VMs, so this bound can be well below 1;
- with `--sweep-files` > 0: a long cold sweep, each file read cold through the cache right
  beside a plain read of it (which goes first alternates). The rounds above are short
  enough that the owners store what they missed after them (a copy waits up to 0.1 s for
  a pause in the reads); in a longer sweep those copies run meanwhile, and on two cores
  they compete with the reader;
- with `--small-files` > 0: cold reads of that many files of 16 KiB, each file its own,
  through the same-host client, against plain reads of them, both as the reader sees them
  and until the owners stored them all (files per second): with small files a read is
  mostly the round trip to the owner, and storing them mostly the work around each copy;
  then hot reads of them: the first of each once stored (its owner published it as
  readable without asking when it stored it), and the best of `--rounds` reads after that,
  against the best of `--rounds` plain reads right after;
- with `--fsspec-files` > 0: cold sequential reads of that many files of 64 MiB through
  `ringcache://` (fsspec, 1 MiB reads, its 4 MiB read-ahead blocks each a request), each
  right beside plain 1 MiB reads of it (which goes first alternates);
- with `--block-files` > 0: cold reads of that many files of 64 MiB through the same-host
  client, 4 MiB at a time with a pause of 30 ms after each block (a reader at work on
  it, meanwhile the owner stores what it missed), each block read right beside a plain
  `pread` of it (which goes first alternates; the pauses are not timed);
- same-host 4 KiB random reads from 8 threads vs `os.pread` of the local files (IOPS);
- with `--s3-files` > 0 and moto installed: cold reads of objects on an S3 server (moto's,
  on loopback, as the tests use) through the same-host client and over HTTP, each on its
  own objects, vs plain reads of the same objects through the UFS adapter (`s3fs`).

    .venv/bin/python bench/bench_reads.py [--files 32] [--size-mib 8] [--workers 2]
        [--cold-rounds 6] [--sweep-files 0] [--small-files 2000] [--fsspec-files 4]
        [--block-files 4] [--s3-files 4] [--s3-size-mib 24]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import fsspec

from ringcache.actors.bootstrap import start_cluster, stop_cluster
from ringcache.client.client import connect
from ringcache.client.data import HttpDataPath
from ringcache.cluster.ufs.factory import ufs_for
from ringcache.config import ClusterConfig, WorkerConfig

THREADS = 8
SMALL = 4096
WARM_OBJECTS = 16  # small files (objects) read through each client before cold reads
SMALL_FILE = 16 * 1024  # the size of `--small-files`' files
SEQUENTIAL_FILE = 64 * 1024**2  # the size of `--fsspec-files`' and `--block-files`' files
T = TypeVar("T")
STEP = 1024**2  # bytes per read of a sequential reader
BLOCK = 4 * 1024**2  # bytes per read of `--block-files`' reader
BLOCK_PAUSE = 0.03  # its pause after each block


def write_random(directory: Path, names: list[str], size: int) -> None:
    """Files `names` in `directory`, each of `size` random bytes."""
    for name in names:
        (directory / name).write_bytes(os.urandom(size))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class SendfileServer:
    """The baseline: a thread per connection, each GET answered by `os.sendfile` of the
    `ufsFullPath` file's range. No routing, no checks, no cache: the transport alone."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = connection.makefile("rb")
        with connection, reader:
            while line := reader.readline():
                while reader.readline() not in (b"\r\n", b""):
                    pass
                query = parse_qs(urlsplit(line.split(b" ")[1].decode()).query)
                path = query["ufsFullPath"][0].removeprefix("file://")
                offset, length = int(query["offset"][0]), int(query["length"][0])
                fd = os.open(path, os.O_RDONLY)
                try:
                    size = os.fstat(fd).st_size
                    length = size - offset if length < 0 else min(length, size - offset)
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n"
                    connection.sendall(head.encode())
                    while length:
                        sent = os.sendfile(connection.fileno(), fd, offset, length)
                        offset, length = offset + sent, length - sent
                finally:
                    os.close(fd)

    def close(self) -> None:
        self.sock.close()


def until_cached(workers: list, total: int, limit: float = 300.0) -> None:
    """Wait until the workers' caches hold `total` bytes (their read-through fills done)."""
    deadline = time.monotonic() + limit
    while sum(w.call_sync("stats")["usedBytes"] for w in workers) < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers did not cache {total} bytes in {limit} s")
        time.sleep(0.005)


def drop_from_page_cache(paths: list[Path]) -> None:
    """The files' pages leave the page cache: their next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages are not dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def echo_fds(address: bytes, ready) -> None:
    """The ceiling's server (a process of its own): for each line (a path) from its one
    client, a one-line answer with a descriptor of that file attached."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        listener.listen(1)
        ready.set()
        connection, _ = listener.accept()
    with connection, connection.makefile("rb") as lines:
        while line := lines.readline():
            fd = os.open(line.rstrip(b"\n"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                socket.send_fds(connection, [b"ok\n"], [fd])
            finally:
                os.close(fd)


@contextlib.contextmanager
def echo_server():
    """A connection to an `echo_fds` server started in a new process (spawned: no Ray
    state inherited); the server ends when the connection closes."""
    address = f"\0ringcache-bench-ceiling-{uuid.uuid4().hex}".encode()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=echo_fds, args=(address, ready), daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.wait(0.05):
            if not server.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the ceiling's echo server did not start ({server.exitcode})")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(address)
            yield connection
    finally:
        server.join(10)
        if server.is_alive():
            server.kill()


def consult_and_read(connection: socket.socket, path: Path) -> bytes:
    """One read as a same-host miss's least: ask the other process, read the file
    meanwhile (a cold read's early read), then take the answer's descriptor and keep the
    bytes if it is of the same file."""
    connection.sendall(bytes(path) + b"\n")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        found = os.fstat(fd)
        data = os.pread(fd, found.st_size, 0)
    finally:
        os.close(fd)
    answer, handed, _, _ = socket.recv_fds(connection, 64, 1)
    if answer != b"ok\n" or len(handed) != 1:
        raise RuntimeError(f"the echo server answered {answer!r} with {len(handed)} fd(s)")
    try:
        same = os.fstat(handed[0])
    finally:
        os.close(handed[0])
    if (same.st_dev, same.st_ino) != (found.st_dev, found.st_ino):
        raise RuntimeError(f"the echo server handed over another file than {path}")
    return data


def paired_sweep(
    plain: Callable[[T], object], read: Callable[[T], object], names: list[T], pause: float = 0.0
) -> list[float]:
    """Seconds of plain reads (`plain(name)`) and of reads through the cache (`read(name)`)
    over `names`, each read both ways one right after the other, by turns first, then a
    `pause` (not timed)."""
    seconds = [0.0, 0.0]  # plain, through the cache
    for turn, name in enumerate(names):
        sides = [(0, plain), (1, read)]
        for side, reader in sides[turn % 2 :] + sides[: turn % 2]:
            seconds[side] += timed(partial(reader, name))
        if pause:
            time.sleep(pause)
    return seconds


def plain_block(directory: Path, block: tuple[str, int]) -> bytes:
    """A block `(name, offset)` of a file in `directory`, BLOCK bytes, read plainly."""
    fd = os.open(directory / block[0], os.O_RDONLY)
    try:
        return os.pread(fd, BLOCK, block[1])
    finally:
        os.close(fd)


def paired_figures(
    name: str, files: int, mb: float, seconds: list[float], ratio: str = "_vs_plain"
) -> dict[str, float]:
    """The JSON figures of a `paired_sweep` (its `seconds`) of `files` files, `mb` MB."""
    return {
        f"{name}_files": files,
        f"{name}_cold_MBps": round(mb / seconds[1], 1),
        f"{name}_plain_MBps": round(mb / seconds[0], 1),
        f"{name}_cold{ratio}": round(seconds[0] / seconds[1], 3),
    }


def in_steps(handle) -> None:
    """Read an open file to its end, STEP bytes at a time (then close it)."""
    with handle:
        while handle.read(STEP):
            pass


def random_reads(read: Callable[[str, int], bytes], paths: list[str], size: int, count: int):
    """`count` reads of SMALL bytes at random offsets, from THREADS threads; the seconds."""
    rng = random.Random(7)
    offsets = [(rng.choice(paths), rng.randrange(0, size - SMALL)) for _ in range(count)]
    chunks = [offsets[i::THREADS] for i in range(THREADS)]

    def run(chunk: list[tuple[str, int]]) -> None:
        for path, offset in chunk:
            assert len(read(path, offset)) == SMALL

    with ThreadPoolExecutor(THREADS) as pool:
        return timed(lambda: list(pool.map(run, chunks)))


@contextlib.contextmanager
def s3_bucket(root: Path, count: int, size: int):
    """A moto S3 server holding `3 * count` objects of `size` bytes (the tests' server,
    `tests/s3_fixture.py`); yields its mount options and bucket, or None without moto."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests
    try:
        from tests.s3_fixture import running_s3_server
    except ImportError:
        yield None
        return
    with running_s3_server(root / "moto.log") as server:
        bucket = server.new_bucket()
        client = server.client()
        for kind in ("plain", "cold", "http"):
            for i in range(count):
                client.put_object(Bucket=bucket, Key=f"{kind}/o{i:04d}.bin", Body=os.urandom(size))
        for i in range(WARM_OBJECTS):
            client.put_object(Bucket=bucket, Key=f"warm/w{i:02d}.bin", Body=b"w")
        yield server.options(), bucket


def s3_cold_reads(cluster, client, http, root: Path, count: int, size: int) -> dict[str, float]:
    """Seconds to read `count` objects: plain (the UFS adapter), cold same-host, cold HTTP."""
    with s3_bucket(root, count, size) as found:
        if found is None:
            return {}
        options, bucket = found
        cluster.coordinator.call_sync("add_mount", "/s3", f"s3://{bucket}", options)
        ufs = ufs_for(f"s3://{bucket}", options)
        names = [f"o{i:04d}.bin" for i in range(count)]
        for i in range(WARM_OBJECTS):  # each path's S3 client set up (on every worker) first
            ufs.read(f"s3://{bucket}/warm/w{i:02d}.bin")
            client.read(f"/s3/warm/w{i:02d}.bin")
            http.read(f"/s3/warm/w{i:02d}.bin")
        return {
            "plain": timed(lambda: [ufs.read(f"s3://{bucket}/plain/{n}") for n in names]),
            "cold": timed(lambda: [client.read(f"/s3/cold/{n}") for n in names]),
            "http": timed(lambda: [http.read(f"/s3/http/{n}") for n in names]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="hot rounds; the best is kept")
    parser.add_argument(
        "--cold-rounds", type=int, default=6, help="cold sweeps, each over files of its own"
    )
    parser.add_argument(
        "--sweep-files", type=int, default=0, help="files of a long cold sweep (0: none)"
    )
    parser.add_argument(
        "--small-files", type=int, default=2000, help="16 KiB files read cold (0: none)"
    )
    parser.add_argument(
        "--fsspec-files", type=int, default=4, help="64 MiB files read through fsspec (0: none)"
    )
    parser.add_argument(
        "--block-files",
        type=int,
        default=4,
        help="64 MiB files read cold 4 MiB at a time, with pauses (0: none)",
    )
    parser.add_argument("--random-reads", type=int, default=20000)
    parser.add_argument("--s3-files", type=int, default=4, help="0: no S3 rows")
    parser.add_argument(
        "--s3-size-mib", type=int, default=24, help="S3 object size (>16: misses are streamed)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    size = args.size_mib * 1024**2

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, disk = root / "ufs", root / "disk"
        data.mkdir()
        disk.mkdir()
        names = [f"f{i:04d}.bin" for i in range(args.files)]
        # Each cold round's own files; the first round's are the hot reads' too.
        cold_names = [names] + [
            [f"c{r}-{name}" for name in names] for r in range(1, max(1, args.cold_rounds))
        ]
        write_random(disk, names, size)
        write_random(data, [name for round_names in cold_names for name in round_names], size)
        # Small files read (missed) right before each cold round, each round its own.
        warm = [[f"w{r}-{i:02d}.bin" for i in range(WARM_OBJECTS)] for r in range(len(cold_names))]
        sweep = [f"s{i:04d}.bin" for i in range(args.sweep_files)]
        write_random(data, sweep, size)
        small = [f"m{i:05d}.bin" for i in range(args.small_files)]
        write_random(data, small, SMALL_FILE)
        sequential = [f"q{i:03d}.bin" for i in range(args.fsspec_files)]
        write_random(data, sequential, SEQUENTIAL_FILE)
        block_files = [f"b{i:03d}.bin" for i in range(args.block_files)]
        write_random(data, block_files, SEQUENTIAL_FILE)
        write_random(data, [name for round_names in warm for name in round_names], SMALL)
        warm_bytes = sum(map(len, warm)) * SMALL
        # The files just written go to the disk now, not in the kernel's background
        # writeback in the middle of a measurement (a UFS's files were written long ago).
        os.sync()
        uris = [f"file://{data}/{name}" for name in names]
        total_mb = args.files * size / 1e6
        config = ClusterConfig(
            state_dir=root / "state",
            namespace=f"bench-{uuid.uuid4().hex[:8]}",
            ray_address="local",  # its own Ray instance: never another run's, on a shared host
            allowed_local_roots=[str(root)],
            worker=WorkerConfig(cache_dir=root / "cache", capacity=4 * 1024**3, http_port=0),
        )
        cluster = start_cluster(config, workers=args.workers)
        baseline = SendfileServer()
        ceiling = contextlib.ExitStack()
        try:
            echo = ceiling.enter_context(echo_server())
            cluster.coordinator.call_sync("add_mount", "/data", f"file://{data}", {})
            cluster.coordinator.call_sync("add_mount", "/disk", f"file://{disk}", {})
            client = connect(namespace=config.namespace)
            http = connect(namespace=config.namespace, short_circuit=False, remember=False)
            raw = HttpDataPath()

            def through_cache(files: list[str] = names) -> None:
                for name in files:
                    client.read(f"/data/{name}")

            def over_http() -> None:
                for name in names:
                    http.read(f"/data/{name}")

            def through_baseline() -> None:
                for uri in uris:
                    raw.read(baseline.address, uri, 0, None)

            def plain(directory: Path = data, files: list[str] = names) -> None:
                for name in files:
                    with open(directory / name, "rb") as handle:
                        handle.read()

            def from_disk(read: Callable[[], None]) -> float:
                # Each side starts with no writeback under way (the cold rounds' copies).
                os.sync()
                drop_from_page_cache([disk / name for name in names])
                return timed(read)

            workers = list(cluster.workers.values())

            def consulting(files: list[str]) -> None:
                for name in files:
                    consult_and_read(echo, data / name)

            cold_rounds: list[tuple[float, float, float]] = []  # plain, cold, until cached
            ceilings: list[float] = []  # each round's files read through the echo server
            for files, warm_files in zip(cold_names, warm, strict=True):
                best_plain = min(timed(partial(plain, data, files)) for _ in range(args.rounds))
                # Misses of small files, not timed: the clients' and workers' one-time
                # set-up, and every process at work again after the plain reads.
                for name in warm_files:
                    client.read(f"/data/{name}")
                    http.read(f"/data/{name}")
                started = time.perf_counter()
                cold_round = timed(partial(through_cache, files))
                done = len(cold_rounds) + 1
                cached = done * args.files * size + done * WARM_OBJECTS * SMALL
                until_cached(workers, cached)  # the next round starts with no fill pending
                cold_rounds.append((best_plain, cold_round, time.perf_counter() - started))
                consulting(warm_files)  # as before the cold reads: set up, and at work again
                ceilings.append(timed(partial(consulting, files)))
            ufs_plain, cold, cold_cached = (sum(c) for c in zip(*cold_rounds, strict=True))
            cold_mb = len(cold_names) * total_mb
            disk_plain = from_disk(lambda: plain(disk))
            disk_cold = from_disk(lambda: [client.read(f"/disk/{name}") for name in names])
            stored = (len(cold_names) + 1) * args.files * size + warm_bytes  # and the disk's
            until_cached(workers, stored)
            hot = min(timed(through_cache) for _ in range(args.rounds))
            hot_http = min(timed(over_http) for _ in range(args.rounds))
            sendfile = min(timed(through_baseline) for _ in range(args.rounds))
            disk = min(timed(plain) for _ in range(args.rounds))

            swept = paired_sweep(
                lambda name: plain(data, [name]), lambda name: client.read(f"/data/{name}"), sweep
            )

            stored += len(sweep) * size
            until_cached(workers, stored)  # the sweep's pages first
            small_plain = min(timed(partial(plain, data, small)) for _ in range(args.rounds))
            started = time.perf_counter()
            small_cold = timed(partial(through_cache, small))
            stored += len(small) * SMALL_FILE
            until_cached(workers, stored)
            small_cached = time.perf_counter() - started
            # Hot: the first read of each file once stored, then the best of the reads after.
            small_first_hot = timed(partial(through_cache, small))
            small_hot = min(timed(partial(through_cache, small)) for _ in range(args.rounds))
            small_hot_plain = min(timed(partial(plain, data, small)) for _ in range(args.rounds))

            ringcache_fs = fsspec.filesystem("ringcache", client=client)
            through_fsspec = paired_sweep(
                lambda name: in_steps(open(data / name, "rb")),
                lambda name: in_steps(ringcache_fs.open(f"/data/{name}", "rb")),
                sequential,
            )
            stored += len(sequential) * SEQUENTIAL_FILE
            until_cached(workers, stored)  # the fsspec reads' pages, before the blocks' reads
            blocks = [(n, at) for n in block_files for at in range(0, SEQUENTIAL_FILE, BLOCK)]
            through_blocks = paired_sweep(
                partial(plain_block, data),
                lambda block: client.read(f"/data/{block[0]}", block[1], BLOCK),
                blocks,
                pause=BLOCK_PAUSE,
            )
            stored += len(block_files) * SEQUENTIAL_FILE
            until_cached(workers, stored)

            fds = {f"/data/{name}": os.open(data / name, os.O_RDONLY) for name in names}
            paths = sorted(fds)
            cached_random = random_reads(
                lambda path, offset: client.read(path, offset, SMALL),
                paths,
                size,
                args.random_reads,
            )
            pread_random = random_reads(
                lambda path, offset: os.pread(fds[path], SMALL, offset),
                paths,
                size,
                args.random_reads,
            )
            for fd in fds.values():
                os.close(fd)
            s3_size = args.s3_size_mib * 1024**2
            s3 = (
                s3_cold_reads(cluster, client, http, root, args.s3_files, s3_size)
                if args.s3_files
                else {}
            )
        finally:
            ceiling.close()
            baseline.close()
            stop_cluster(config)

    results = {
        "files": args.files,
        "file_mib": args.size_mib,
        "workers": args.workers,
        "hot_http_MBps": round(total_mb / hot_http, 1),
        "raw_sendfile_MBps": round(total_mb / sendfile, 1),
        "hot_MBps": round(total_mb / hot, 1),
        "plain_disk_MBps": round(total_mb / disk, 1),
        "cold_rounds": len(cold_names),
        "cold_MBps": round(cold_mb / cold, 1),
        "cold_cached_MBps": round(cold_mb / cold_cached, 1),
        "plain_ufs_MBps": round(cold_mb / ufs_plain, 1),
        "cold_disk_MBps": round(total_mb / disk_cold, 1),
        "plain_disk_ufs_MBps": round(total_mb / disk_plain, 1),
        "random_4k_iops": round(args.random_reads / cached_random),
        "pread_4k_iops": round(args.random_reads / pread_random),
        "hot_http_vs_raw_sendfile": round(sendfile / hot_http, 3),
        "hot_vs_plain": round(disk / hot, 3),
        "cold_vs_plain_ufs": round(ufs_plain / cold, 3),
        "cold_vs_plain_ufs_by_round": [round(p / c, 3) for p, c, _ in cold_rounds],
        "ceiling_MBps": round(cold_mb / sum(ceilings), 1),
        "ceiling_vs_plain_ufs": round(ufs_plain / sum(ceilings), 3),
        "ceiling_vs_plain_ufs_by_round": [
            round(p / c, 3) for (p, _, _), c in zip(cold_rounds, ceilings, strict=True)
        ],
        "cold_cached_vs_plain_ufs": round(ufs_plain / cold_cached, 3),
        "cold_disk_vs_plain_disk_ufs": round(disk_plain / disk_cold, 3),
        "random_4k_vs_pread": round(pread_random / cached_random, 4),
    }
    if sweep:
        sweep_mb = len(sweep) * size / 1e6
        results.update(paired_figures("sweep", len(sweep), sweep_mb, swept, "_vs_plain_ufs"))
    if small:
        results["small_files"] = len(small)
        results["small_cold_files_per_s"] = round(len(small) / small_cold)
        results["small_cold_cached_files_per_s"] = round(len(small) / small_cached)
        results["small_plain_files_per_s"] = round(len(small) / small_plain)
        results["small_cold_vs_plain"] = round(small_plain / small_cold, 3)
        results["small_cold_cached_vs_plain"] = round(small_plain / small_cached, 3)
        results["small_first_hot_files_per_s"] = round(len(small) / small_first_hot)
        results["small_hot_files_per_s"] = round(len(small) / small_hot)
        results["small_hot_plain_files_per_s"] = round(len(small) / small_hot_plain)
        results["small_first_hot_vs_plain"] = round(small_hot_plain / small_first_hot, 3)
        results["small_hot_vs_plain"] = round(small_hot_plain / small_hot, 3)
    if sequential:
        sequential_mb = len(sequential) * SEQUENTIAL_FILE / 1e6
        fsspec_figures = paired_figures("fsspec", len(sequential), sequential_mb, through_fsspec)
        results.update(fsspec_figures)
    if block_files:
        blocks_mb = len(block_files) * SEQUENTIAL_FILE / 1e6
        results.update(paired_figures("blocks", len(block_files), blocks_mb, through_blocks))
    if s3:
        s3_mb = args.s3_files * s3_size / 1e6
        results["s3_files"] = args.s3_files
        results["s3_file_mib"] = args.s3_size_mib
        results["s3_cold_MBps"] = round(s3_mb / s3["cold"], 1)
        results["s3_cold_http_MBps"] = round(s3_mb / s3["http"], 1)
        results["s3_plain_MBps"] = round(s3_mb / s3["plain"], 1)
        results["s3_cold_vs_plain"] = round(s3["plain"] / s3["cold"], 3)
        results["s3_cold_http_vs_plain"] = round(s3["plain"] / s3["http"], 3)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.files} files x {args.size_mib} MiB, {args.workers} worker(s)")
    by_round = ", ".join(map(str, results["cold_vs_plain_ufs_by_round"]))
    print(f"  cold rounds (each on its own files): {len(cold_names)}, each round: {by_round}")
    by_round = ", ".join(map(str, results["ceiling_vs_plain_ufs_by_round"]))
    print(f"  ceiling (same files, after each cold round), each round: {by_round}")
    rows = [
        ("hot HTTP reads vs raw loopback sendfile", "hot_http_MBps", "raw_sendfile_MBps", "MB/s"),
        ("same-host hot reads vs plain local reads", "hot_MBps", "plain_disk_MBps", "MB/s"),
        ("cold reads vs plain UFS reads", "cold_MBps", "plain_ufs_MBps", "MB/s"),
        ("ceiling: consult another process, read itself", "ceiling_MBps", "plain_ufs_MBps", "MB/s"),
        ("cold reads until cached vs plain UFS", "cold_cached_MBps", "plain_ufs_MBps", "MB/s"),
        ("cold, UFS on disk, vs plain disk reads", "cold_disk_MBps", "plain_disk_ufs_MBps", "MB/s"),
        (f"4 KiB random, {THREADS} threads vs pread", "random_4k_iops", "pread_4k_iops", "IOPS"),
    ]
    if "sweep_files" in results:
        rows.insert(
            5,
            (
                f"cold sweep of {len(sweep)} files vs plain, paired",
                "sweep_cold_MBps",
                "sweep_plain_MBps",
                "MB/s",
            ),
        )
    if "small_files" in results:
        for label, ours in (
            ("cold", "small_cold_files_per_s"),
            ("cold, until cached,", "small_cold_cached_files_per_s"),
        ):
            name = f"{label} {len(small)} x 16 KiB vs plain"
            rows.append((name, ours, "small_plain_files_per_s", "files/s"))
        for label, ours in (
            ("hot, first read", "small_first_hot_files_per_s"),
            ("hot, read again", "small_hot_files_per_s"),
        ):
            name = f"{label} {len(small)} x 16 KiB vs plain"
            rows.append((name, ours, "small_hot_plain_files_per_s", "files/s"))
    if "fsspec_files" in results:
        name = f"cold fsspec, {len(sequential)} x 64 MiB, vs plain"
        rows.append((name, "fsspec_cold_MBps", "fsspec_plain_MBps", "MB/s"))
    if "blocks_files" in results:
        name = f"cold 4 MiB blocks, {len(block_files)} x 64 MiB, vs pread"
        rows.append((name, "blocks_cold_MBps", "blocks_plain_MBps", "MB/s"))
    if "s3_files" in results:
        rows.append(
            (
                f"cold S3, {args.s3_size_mib} MiB objects, vs plain s3fs",
                "s3_cold_MBps",
                "s3_plain_MBps",
                "MB/s",
            )
        )
        rows.append(
            (
                f"cold S3 over HTTP, {args.s3_size_mib} MiB, vs s3fs",
                "s3_cold_http_MBps",
                "s3_plain_MBps",
                "MB/s",
            )
        )
    for label, ours, theirs, unit in rows:
        ratio = results[ours] / results[theirs]
        print(f"  {label:<46}: {results[ours]:>10} vs {results[theirs]:>10} {unit}  {ratio:.3f}")


if __name__ == "__main__":
    main()
