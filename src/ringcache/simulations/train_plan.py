"""What a `simulate train` run is: its cluster, dataset and read pattern, from plain values.

`TrainPlan` holds the command's options; `run_plan` checks them, builds the `SimSpec` and
the workload, runs it (`train.run_train`) and returns the summary, with the plan and the
command that replays the run in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster.errors import InvalidArgument
from ..cluster.units import parse_size
from .spec import SimSpec, sim_config
from .train import run_train
from .train_churn import Churn
from .workloads import (
    PATTERNS,
    Window,
    epochs_workload,
    parse_size_distribution,
    trace_workload,
    zipf_workload,
)

MAX_WORKERS = 10_000
MAX_FILES = 20_000_000  # the namespace keeps 8 bytes a file
MAX_READS = 100_000_000  # the workload is built up front, about 100 bytes a read


@dataclass(frozen=True)
class TrainPlan:
    """The options of `ringcache simulate train` (sizes as the command takes them)."""

    workers: int = 3
    capacity: str = "1GiB"
    page_size: str = "1MiB"
    files: int = 10_000
    size_dist: str = "lognormal:2MiB:1.0"
    pattern: str = "epochs"
    epochs: int = 3
    clients: int = 1
    zipf_s: float = 1.1
    reads: int = 30_000
    windows: int = 10
    trace: str | None = None
    seed: int = 1
    leave: int = 0
    join: int = 0
    churn_at: int = 2

    def churn(self) -> Churn:
        return Churn(leave=self.leave, join=self.join, at=self.churn_at)

    def check(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise InvalidArgument(f"--workers must be 1..{MAX_WORKERS}, not {self.workers}")
        if not 1 <= self.files <= MAX_FILES:
            raise InvalidArgument(f"--files must be 1..{MAX_FILES}, not {self.files}")
        reads = self.files * self.epochs if self.pattern == "epochs" else self.reads
        if self.pattern != "trace" and reads > MAX_READS:
            raise InvalidArgument(f"at most {MAX_READS} reads in a run, not {reads}")
        if self.pattern not in PATTERNS:
            raise InvalidArgument(
                f"--pattern is one of {', '.join(PATTERNS)}, not {self.pattern!r}"
            )
        if (self.pattern == "trace") != (self.trace is not None):
            raise InvalidArgument("--trace FILE goes with --pattern trace, and only with it")
        if parse_size(self.page_size) < 1:
            raise InvalidArgument("--page-size must be at least 1 byte")

    def spec(self) -> SimSpec:
        config = sim_config(capacity=self.capacity, page_size=self.page_size)
        sizes = parse_size_distribution(self.size_dist)
        return SimSpec(
            workers=self.workers, files=self.files, seed=self.seed, sizes=sizes, config=config
        )

    def workload(self, paths: list[str]) -> list[Window]:
        if self.pattern == "epochs":
            return epochs_workload(paths, self.epochs, self.clients, self.seed)
        if self.pattern == "zipf":
            return zipf_workload(
                paths, self.reads, self.zipf_s, self.windows, self.clients, self.seed
            )
        return trace_workload(Path(str(self.trace)), self.windows, self.clients)

    def describe(self) -> dict[str, Any]:
        """The pattern's own parameters, for the summary."""
        described: dict[str, Any] = {"pattern": self.pattern, "sizeDist": self.size_dist}
        if self.pattern == "epochs":
            described["epochs"] = self.epochs
        elif self.pattern == "zipf":
            described.update(zipfS=self.zipf_s, reads=self.reads)
        else:
            described["trace"] = str(self.trace)
        return described

    def command(self) -> str:
        parts = [
            "ringcache simulate train",
            f"--workers {self.workers}",
            f"--capacity {self.capacity}",
            f"--page-size {self.page_size}",
            f"--files {self.files}",
            f"--size-dist {self.size_dist}",
            f"--pattern {self.pattern}",
            f"--clients {self.clients}",
            f"--seed {self.seed}",
        ]
        if self.pattern == "epochs":
            parts.append(f"--epochs {self.epochs}")
        else:
            parts.append(f"--windows {self.windows}")
        if self.pattern == "zipf":
            parts += [f"--zipf-s {self.zipf_s}", f"--reads {self.reads}"]
        if self.pattern == "trace":
            parts.append(f"--trace {self.trace}")
        if self.churn().active:
            parts.append(f"--leave {self.leave} --join {self.join} --churn-at {self.churn_at}")
        return " ".join(parts)


def run_plan(plan: TrainPlan) -> dict[str, Any]:
    """Run the plan on a simulated cluster; InvalidArgument for options that make no sense."""
    plan.check()
    spec = plan.spec()
    summary = run_train(spec, plan.workload, plan.clients, plan.describe(), plan.churn())
    summary["replay"] = plan.command()
    return summary
