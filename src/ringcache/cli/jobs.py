"""`ringcache load`, `free` and `jobs`: submit, stop, list and watch jobs over the REST API."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cluster.jobs.catalog import JOB_KINDS, JobKind
from ..cluster.jobs.model import JobState
from . import rest
from .format import human_bytes as _bytes

FINISHED = tuple(state.value for state in JobState if state.finished)

Request = Callable[..., Any]


def _cli_kinds() -> dict[str, JobKind]:
    """The job kinds the CLI offers, by name: each a subcommand of its own."""
    return {name: kind for name, kind in JOB_KINDS.items() if kind.cli is not None}


def add_job_commands(commands: Any, api_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    for job_type, kind in _cli_kinds().items():
        verb = kind.cli
        parser = commands.add_parser(job_type, help=verb.help)
        api_flags(parser)
        parser.add_argument("paths", nargs="*", help="cluster paths or UFS URIs")
        parser.add_argument("--alias", help="the job's name (required with paths)")
        parser.add_argument("--index", help="an index file listing the paths, one per line")
        for flag in verb.flags:
            if flag.type is None:
                parser.add_argument(flag.flag, action="store_true", help=flag.help)
            else:
                parser.add_argument(flag.flag, type=flag.type, help=flag.help)
        parser.add_argument("--watch", action="store_true", help="show progress until it ends")
        parser.add_argument("--stop", action="store_true", help="stop the job instead")
        parser.add_argument("--status", action="store_true", help="print the job and exit")
        parser.set_defaults(run=lambda args, t=job_type: cmd_job(args, t), config=None)

    jobs = commands.add_parser("jobs", help="list jobs")
    api_flags(jobs)
    jobs.add_argument("type", nargs="?", choices=tuple(_cli_kinds()), help="only this type")
    jobs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    jobs.set_defaults(run=cmd_jobs, config=None)


def _selector(args: argparse.Namespace) -> dict[str, Any]:
    if args.index and (args.paths or args.alias):
        raise SystemExit("give either --index or paths with --alias, not both")
    if args.index:
        return {"index": args.index}
    if not args.alias:
        raise SystemExit("give --alias NAME with the paths (or --index PATH)")
    return {"alias": args.alias, **({"paths": args.paths} if args.paths else {})}


def _options(args: argparse.Namespace, job_type: str) -> dict[str, Any]:
    """The options the flags of `job_type` set; a flag not given sets none."""
    options: dict[str, Any] = {}
    for flag in _cli_kinds()[job_type].cli.flags:
        given = getattr(args, flag.flag.removeprefix("--").replace("-", "_"))
        if flag.type is None and given:
            options[flag.option] = flag.value
        elif flag.type is not None and given not in (None, ""):
            options[flag.option] = given
    return options


def cmd_job(args: argparse.Namespace, job_type: str) -> int:
    request: Request = lambda *a, **k: rest.request(args, *a, **k)  # noqa: E731
    selector = _selector(args)
    query = {k: v for k, v in selector.items() if k != "paths"}
    if args.stop:
        job = request("DELETE", f"/{job_type}", json=query)
    elif args.status or not args.paths and not args.index:
        job = request("GET", f"/{job_type}", params=query)
    else:
        body = {**selector, "options": _options(args, job_type)}
        job = request("POST", f"/{job_type}", json=body, accept=(409,))
        if "status" in job:
            print(job["status"])
            job = request("GET", f"/{job_type}", params={"id": job["id"]})
    if args.watch and job["state"] not in FINISHED:
        job = watch(request, job_type, job["id"])
    print(json.dumps(job, indent=2))
    return 0 if job["state"] != JobState.FAILED else 1


def watch(request: Request, job_type: str, job_id: str, interval: float = 0.5) -> dict:
    """A live bar (files done of files listed, bytes, rate, failures) until the job ends."""
    kind = _cli_kinds()[job_type]
    done_of, bytes_key = kind.cli.done, kind.moved
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        TextColumn("{task.fields[bytes]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("[red]{task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        bar = progress.add_task(job_type, total=None, bytes="", rate="", failed="")
        while True:
            job = request("GET", f"/{job_type}", params={"id": job_id})
            done = sum(job.get(key, 0) for key in done_of)
            if job["state"] in FINISHED:
                done = job.get("scannedFiles", done)  # empty files count in no other counter
            progress.update(
                bar,
                description=f"{job_type} {job.get('alias') or job.get('index')} {job['state']}",
                total=max(job.get("scannedFiles", 0), done) or None,
                completed=done,
                bytes=_bytes(job.get(bytes_key, 0)),
                rate=f"{_bytes(job.get('throughputBytesPerSecond', 0))}/s",
                failed=f"{job.get('failedFiles', 0)} failed" if job.get("failedFiles") else "",
            )
            if job["state"] in FINISHED:
                return job
            time.sleep(interval)


def cmd_jobs(args: argparse.Namespace) -> int:
    types = [args.type] if args.type else list(_cli_kinds())
    jobs = [job for t in types for job in rest.request(args, "GET", f"/{t}")["results"]]
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    table = Table(title="jobs")
    for column in ("id", "type", "name", "state", "files", "bytes", "failed"):
        table.add_column(column)
    for job in jobs:
        moved = job.get(JOB_KINDS[job["type"]].moved, 0)
        table.add_row(
            job["id"],
            job["type"],
            job.get("alias") or job.get("index", ""),
            job["state"],
            str(job.get("scannedFiles", 0)),
            _bytes(moved),
            str(job.get("failedFiles", 0)),
        )
    Console().print(table)
    return 0
