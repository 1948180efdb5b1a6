"""REST reads of state against a bare Starlette JSON endpoint, with one load generator.

Starts an in-process cluster (2 workers, a mount, a finished load job) and serves its REST
API and a bare Starlette app that answers a constant JSON body, each with uvicorn on
127.0.0.1. A load generator in another process (raw HTTP/1.1, keep-alive, `--connections`
connections, at most `--seconds` and `--requests` per target) then drives the bare
endpoint, `GET /api/v1/nodes` and `GET /api/v1/load?alias=` in turn (and the same GETs on
an app without the registry watch, so every GET asks the coordinator), in one run;
reported as requests/s, p50/p99 latency, errors and each one's ratio to the bare endpoint.

    .venv/bin/python bench/bench_rest.py [--connections 16] [--seconds 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ringcache.config import ClusterConfig, WorkerConfig
from ringcache.http.app import create_app
from ringcache.local import LocalCluster

HOST = "127.0.0.1"  # the generator never leaves this machine


def bare_app() -> Starlette:
    async def bare(request: Request) -> JSONResponse:
        return JSONResponse({"results": [{"id": "worker-0", "state": "ONLINE"}]})

    return Starlette(routes=[Route("/bare", bare)])


def serve(app: Starlette) -> tuple[uvicorn.Server, int]:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, port


# -- the load generator (its own process) ---------------------------------------------------


Call = tuple[str, str, bytes]  # method, path, JSON body


def _raw(call: Call) -> bytes:
    method, path, body = call
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _connection(
    port: int, calls: list[Call], stop_at: float, budget: list[int], out: dict
) -> None:
    """Send `calls` round and round on one keep-alive connection until time or budget."""
    reader, writer = await asyncio.open_connection(HOST, port)
    requests = [_raw(call) for call in calls]
    try:
        turn = 0
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            writer.write(requests[turn % len(requests)])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out["latencies"].append(time.perf_counter() - started)
            if status != 200:
                out["errors"] += 1
    finally:
        writer.close()


async def _drive(
    port: int, calls: list[list[Call]], connections: int, seconds: float, requests: int
) -> dict:
    """Connection i sends `calls[i % len(calls)]`."""
    out: dict = {"latencies": [], "errors": 0}
    budget = [requests]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(
            _connection(port, calls[i % len(calls)], stop_at, budget, out)
            for i in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(out["latencies"])
    count = len(latencies)
    return {
        "requests": count,
        "errors": out["errors"],
        "rps": count / elapsed,
        "p50_ms": 1000 * latencies[count // 2] if count else None,
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else None,
    }


def _generator(targets: list[tuple[str, int, list[list[Call]]]], args: dict, results) -> None:
    for name, port, calls in targets:
        warm = dict(args, seconds=0.5, requests=200)
        asyncio.run(_drive(port, calls, **warm))
        results[name] = asyncio.run(_drive(port, calls, **args))


def _get(path: str) -> list[list[Call]]:
    return [[("GET", path, b"")]]


def _mixed(connections: int) -> list[list[Call]]:
    """Per connection: reads of nodes and the running job, and a rule of its own set and
    removed again (so every call answers 200)."""
    calls = []
    for i in range(connections):
        rule = json.dumps({"path": f"/data/c{i}", "size": "1GB"}).encode()
        where = json.dumps({"path": f"/data/c{i}"}).encode()
        calls.append(
            [
                ("GET", "/api/v1/nodes", b""),
                ("POST", "/api/v1/quota", rule),
                ("GET", "/api/v1/load?alias=mixed", b""),
                ("GET", "/api/v1/quota", b""),
                ("DELETE", "/api/v1/quota", where),
                ("GET", "/api/v1/mount", b""),
            ]
        )
    return calls


def _run_generator(targets: list, drive: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        results = manager.dict()
        generator = context.Process(target=_generator, args=(targets, drive, results))
        generator.start()
        generator.join()
        return dict(results)


def _wait_job(cluster: LocalCluster, alias: str) -> dict:
    while True:
        job = cluster.run(cluster.coordinator.get_job("load", "alias", alias))
        if job["state"] in ("SUCCEEDED", "FAILED", "STOPPED"):
            return job
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="per target")
    parser.add_argument("--requests", type=int, default=100_000, help="at most, per target")
    parser.add_argument("--mixed-connections", type=int, default=64)
    parser.add_argument("--mixed-seconds", type=float, default=30.0, help="0: no mixed run")
    parser.add_argument("--mixed-files", type=int, default=2000, help="10 kB each")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(20):
            write(root / "ufs" / "small" / f"f{i:02d}.bin", 10_000)
        for i in range(args.mixed_files):
            write(root / "ufs" / "mixed" / f"m{i:05d}.bin", 10_000)
        config = ClusterConfig(
            state_dir=root / "state",
            workers=2,
            allowed_local_roots=[str(root)],
            worker=WorkerConfig(cache_dir=root / "cache", capacity=1024**3),
        )
        cluster = LocalCluster(config).start()
        try:
            cluster.run(cluster.coordinator.add_mount("/data", f"file://{root / 'ufs'}", {}))
            cluster.run(cluster.coordinator.submit_job("load", _load("bench", "/data/small")))
            _wait_job(cluster, "bench")
            api = create_app(cluster.coordinator_ref, registry=cluster.registry_ref)
            api_server, api_port = serve(api)
            # Without the registry: no ReadCache, every GET asks the coordinator.
            uncached_server, uncached_port = serve(create_app(cluster.coordinator_ref))
            bare_server, bare_port = serve(bare_app())
            targets = [
                ("bare", bare_port, _get("/bare")),
                ("nodes", api_port, _get("/api/v1/nodes")),
                ("load?alias=", api_port, _get("/api/v1/load?alias=bench")),
                ("nodes, uncached", uncached_port, _get("/api/v1/nodes")),
                ("load, uncached", uncached_port, _get("/api/v1/load?alias=bench")),
            ]
            drive = {
                "connections": args.connections,
                "seconds": args.seconds,
                "requests": args.requests,
            }
            results = _run_generator(targets, drive)
            if args.mixed_seconds > 0:
                # A load paced to run through the mixed traffic (about 20 s on 2 workers).
                bandwidth = max(1, args.mixed_files * 10_000 // 40)
                job = _load("mixed", "/data/mixed", bandwidth=bandwidth)
                cluster.run(cluster.coordinator.submit_job("load", job))
                mixed = {
                    "connections": args.mixed_connections,
                    "seconds": args.mixed_seconds,
                    "requests": 10**9,
                }
                traffic = [("mixed", api_port, _mixed(args.mixed_connections))]
                results.update(_run_generator(traffic, mixed))
                done = _wait_job(cluster, "mixed")
                results["mixed"]["job exact"] = (
                    done["state"] == "SUCCEEDED"
                    and done["loadedNonEmptyFiles"] == args.mixed_files
                    and done["loadedBytes"] == args.mixed_files * 10_000
                    and done.get("failedFiles", 0) == 0
                )
            for server in (api_server, uncached_server, bare_server):
                server.should_exit = True
        finally:
            cluster.stop()

    bare = results["bare"]["rps"]
    for result in results.values():
        result["ratio"] = result["rps"] / bare if bare else None
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.connections} connections, keep-alive, {args.seconds:g} s per target")
    print(f"{'target':<17}{'req/s':>9}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in results.items():
        print(
            f"{name:<17}{r['rps']:>9.0f}{r['ratio']:>8.2f}{r['p50_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['errors']:>8}"
        )
    if "mixed" in results:
        print(
            f"mixed: {args.mixed_connections} connections for {args.mixed_seconds:g} s of GETs, "
            f"POSTs and DELETEs during a load job; job counters exact: "
            f"{results['mixed']['job exact']}"
        )


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


def _load(alias: str, path: str, **options: object) -> dict:
    return {"alias": alias, "paths": [path], "options": options}


if __name__ == "__main__":
    main()
