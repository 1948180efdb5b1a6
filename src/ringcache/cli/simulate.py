"""`ringcache simulate`: run a scenario on the simulated cluster and print its summary.

Hook into the main CLI with `add_simulate_command(commands)`, where `commands` is the
`add_subparsers()` object; the subcommand sets `run` to `simulate_command`, as the other
commands do.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import Any

DESCRIPTION = """\
Run the real coordinator, workers, registry and job engine in one process on virtual time,
with a simulated UFS (sizes only), page stores, network and disks, and print a JSON summary:
virtual time to finish, bytes read from the UFS, bytes moved against the ideal, per-worker
bytes (max/mean, coefficient of variation), failures by reason, faults applied, the seed
and the command that replays the run. Safety and liveness checkers run after the jobs; a
failing check prints its seed and replay command and exits with status 1.

scenarios:
  load         load M files onto N workers through the job engine
  scale-out    load, add --add workers (default max(1, N//10)), rebalance ALL
  crash        kill --crashes workers (default max(1, N//10)) during a load
  restart      restart the coordinator --restarts times during a load
  rings        compare the ring policies (alluxio, maglev, jump, bounded) on one workload:
               balance of files, bytes and --skew'ed reads, and movement on a join and a
               leave against the ideal (no cluster is run; prints a table and JSON)
  train        a training job's reads through the real worker read path: --pattern epochs
               (shuffled whole-file epochs), zipf (--zipf-s, --reads) or trace (--trace
               FILE: "time path offset length" a line) over --files of --size-dist, by
               --clients readers; per epoch or window: hit ratio (pages and bytes), UFS
               bytes, bytes served per worker, modelled read latency p50/p95/p99

Faults: --crashes (and --restart-after), --restarts, --lease-lapses (workers cut off from
the registry during the load), --slow-workers, --ufs-error-rate; all at seeded-random times
or rates.
"""

EPILOG = (
    "example: ringcache simulate scale-out --workers 1000 --files 1000000 --seed 1 --report out/"
)


def add_simulate_command(commands: Any) -> None:
    """Add the `simulate` subcommand to an argparse subparsers object."""
    from ..simulations.scenarios import SCENARIOS

    parser = commands.add_parser(
        "simulate",
        help="run a scenario on a simulated cluster (virtual time) and print its summary",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario", choices=[*SCENARIOS, RINGS, TRAIN], help="what to run (see above)"
    )
    parser.add_argument("--workers", type=int, default=10, help="workers at start (default 10)")
    parser.add_argument(
        "--files", type=int, default=10_000, help="files in the UFS (default 10000)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="decides every random choice (default 1)"
    )
    parser.add_argument(
        "--report", metavar="DIR", help="also write summary.json and PNG charts here"
    )
    parser.add_argument("--add", type=int, help="scale-out: workers to add")
    parser.add_argument("--crashes", type=int, help="crash: workers to kill")
    parser.add_argument(
        "--restart-after",
        type=float,
        metavar="SECONDS",
        help="crash: start each killed worker again this many virtual seconds later",
    )
    parser.add_argument("--restarts", type=int, help="restart: coordinator restarts")
    parser.add_argument(
        "--lease-lapses",
        type=int,
        help="workers cut off from the registry during the load (their leases lapse)",
    )
    parser.add_argument("--batch-size", type=int, help="files per load batch (default 200)")
    parser.add_argument(
        "--ufs-error-rate", type=float, default=0.0, help="fraction of UFS reads that fail"
    )
    parser.add_argument(
        "--skew",
        default="zipf-1.1",
        help="rings: the read workload's popularity, zipf-<exponent> or uniform (default zipf-1.1)",
    )
    parser.add_argument(
        "--virtual-nodes",
        type=int,
        default=2000,
        help="rings: virtual nodes per worker of the alluxio and bounded rings (default 2000)",
    )
    parser.add_argument("--slow-workers", type=int, default=0, help="workers made slower")
    parser.add_argument("--slowdown", type=float, default=4.0, help="how much slower (default 4)")
    parser.add_argument(
        "--details", action="store_true", help="print per-worker bytes and progress samples too"
    )
    parser.add_argument(
        "--log", action="store_true", help="show the simulated cluster's log (warnings and up)"
    )
    _add_train_options(parser)
    parser.set_defaults(run=simulate_command)


RINGS = "rings"
TRAIN = "train"


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    from ..simulations.train_plan import TrainPlan
    from ..simulations.workloads import PATTERNS

    plan = TrainPlan()
    train = parser.add_argument_group("train")
    train.add_argument("--capacity", help=f"cache per worker (default {plan.capacity})")
    train.add_argument("--page-size", help=f"page size (default {plan.page_size})")
    train.add_argument(
        "--size-dist",
        help="file sizes: fixed:SIZE, lognormal:MEDIAN[:SIGMA[:MAX]] or uniform:MIN:MAX "
        f"(default {plan.size_dist})",
    )
    train.add_argument("--pattern", choices=PATTERNS, help="read pattern (default epochs)")
    train.add_argument("--epochs", type=int, help=f"epochs (default {plan.epochs})")
    train.add_argument("--clients", type=int, help=f"concurrent readers (default {plan.clients})")
    train.add_argument("--zipf-s", type=float, help=f"zipf exponent (default {plan.zipf_s})")
    train.add_argument("--reads", type=int, help=f"zipf: reads in all (default {plan.reads})")
    train.add_argument(
        "--windows", type=int, help=f"zipf, trace: windows reported (default {plan.windows})"
    )
    train.add_argument("--trace", metavar="FILE", help="trace: the reads, one a line")
    train.add_argument(
        "--leave", type=int, help="churn: workers that crash at the start of --churn-at"
    )
    train.add_argument(
        "--join", type=int, help="churn: new workers that start right after they leave"
    )
    train.add_argument(
        "--churn-at",
        type=int,
        metavar="WINDOW",
        help=f"churn: the window (1-based, at least 2) it happens before (default {plan.churn_at})",
    )


def train_command(args: argparse.Namespace) -> int:
    """Replay a training workload: a table on stderr, the JSON summary on stdout; 2 on bad
    input, 1 when a read failed (the read-error check)."""
    from ..cluster.errors import InvalidArgument
    from ..simulations.checks import SimulationCheckFailed, check_read_errors, require
    from ..simulations.summary import summary_json
    from ..simulations.train_plan import TrainPlan, run_plan
    from ..simulations.train_report import train_table, write_train_report

    names = ("capacity", "page_size", "size_dist", "pattern", "epochs", "clients", "zipf_s")
    churn = ("leave", "join", "churn_at")
    values = {name: getattr(args, name) for name in (*names, "reads", "windows", "trace", *churn)}
    values = {name: value for name, value in values.items() if value is not None}
    try:
        plan = replace(
            TrainPlan(), workers=args.workers, files=args.files, seed=args.seed, **values
        )
        summary = run_plan(plan)
    except InvalidArgument as exc:
        print(f"ringcache simulate train: {exc.message}", file=sys.stderr)
        return 2
    print(train_table(summary), file=sys.stderr)
    print(summary_json(summary, details=args.details))
    if args.report:
        for path in write_train_report(summary, args.report):
            print(f"wrote {path}", file=sys.stderr)
    try:
        require("read errors", check_read_errors(summary), plan.seed, summary["replay"])
    except SimulationCheckFailed as exc:
        print(f"ringcache simulate train: {exc}", file=sys.stderr)
        return 1
    return 0


def rings_command(args: argparse.Namespace) -> int:
    """Compare the ring policies: a table on stderr, the JSON summary on stdout; 2 on bad input."""
    from ..cluster.errors import InvalidArgument
    from ..simulations.rings import compare_rings, parse_skew, rings_table
    from ..simulations.rings_report import rings_json, write_rings_report

    try:
        skew = parse_skew(args.skew)
        summary = compare_rings(args.workers, args.files, args.seed, skew, args.virtual_nodes)
    except InvalidArgument as exc:
        print(f"ringcache simulate rings: {exc.message}", file=sys.stderr)
        return 2
    print(rings_table(summary), file=sys.stderr)
    print(rings_json(summary))
    if args.report:
        for path in write_rings_report(summary, args.report):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def simulate_command(args: argparse.Namespace) -> int:
    """Run the scenario; print the summary (and write the report); 0, or 1 if a check failed.

    The cluster logs every fault it rides out: its logs are quiet unless `--log` asks, for
    this command only (the level is put back, for a caller in the same process)."""
    logs = logging.getLogger("ringcache")
    level = logs.level
    logs.setLevel(logging.WARNING if args.log else logging.CRITICAL)
    try:
        return run_scenario_command(args)
    finally:
        logs.setLevel(level)


def run_scenario_command(args: argparse.Namespace) -> int:
    """The scenario `args` names, run and reported."""
    if args.scenario == RINGS:
        return rings_command(args)
    if args.scenario == TRAIN:
        return train_command(args)
    from ..cluster.errors import InvalidArgument
    from ..simulations.checks import SimulationCheckFailed
    from ..simulations.measure import cost_line, measured, with_events
    from ..simulations.scenarios import run_scenario
    from ..simulations.spec import SimSpec
    from ..simulations.summary import summary_json

    spec = replace(
        SimSpec(),
        read_error_rate=args.ufs_error_rate,
        slow_workers=args.slow_workers,
        slowdown=args.slowdown,
    )
    options = {
        key: value
        for key, value in (
            ("add", args.add),
            ("crashes", args.crashes),
            ("restart_after", args.restart_after),
            ("restarts", args.restarts),
            ("lease_lapses", args.lease_lapses),
            ("batch_size", args.batch_size),
        )
        if value is not None
    }
    failure: SimulationCheckFailed | None = None
    try:
        summary, cost = measured(
            lambda: run_scenario(
                args.scenario, args.workers, args.files, args.seed, spec=spec, **options
            )
        )
    except InvalidArgument as exc:
        print(f"ringcache simulate: {exc.message}", file=sys.stderr)
        return 2
    except SimulationCheckFailed as exc:
        failure = exc
        summary, cost = getattr(exc, "summary", None) or {}, None
    if summary:
        print(summary_json(summary, details=args.details))
        if cost is not None:  # on stderr: it depends on the machine, not on the seed
            print(cost_line(with_events(cost, summary)), file=sys.stderr)
        if args.report:
            from ..simulations.report import write_report

            for path in write_report(summary, args.report):
                print(f"wrote {path}", file=sys.stderr)
    if failure is not None:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `simulate` as its own program (for testing without the main CLI)."""
    parser = argparse.ArgumentParser(prog="ringcache")
    add_simulate_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)
