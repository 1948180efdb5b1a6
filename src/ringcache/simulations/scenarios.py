"""Named scenarios and their JSON summaries: what `ringcache simulate` runs.

- `load`: load M files onto N workers through the coordinator's job engine.
- `scale-out`: load, add k workers, rebalance ALL; bytes moved against the ideal.
- `crash`: kill workers during a load; the job still finishes with every file placed.
- `restart`: restart the coordinator during a load; the job resumes from its checkpoint.
  Any of these four also takes `lease_lapses`: workers cut off from the registry mid-load.

Each scenario answers a summary that depends only on the spec, the options and the seed,
so the same seed gives the same summary byte for byte (`summary_json`). The engine
scenarios run the safety and liveness checkers and raise `SimulationCheckFailed` (with
the summary attached as `.summary`) naming the seed and the command that replays the run.
Wall-clock measurements belong to the caller (see bench/bench_sim.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..cluster.errors import InvalidArgument
from .engine_scenarios import BODIES, run_engine_scenario
from .spec import SimSpec
from .summary import spread, summary_json

#: Options a scenario takes, with the CLI flag that sets each (for the replay command).
OPTION_FLAGS = {
    "add": "--add",
    "crashes": "--crashes",
    "restarts": "--restarts",
    "lease_lapses": "--lease-lapses",
    "restart_after": "--restart-after",
    "batch_size": "--batch-size",
}
SPEC_FLAGS = {
    "read_error_rate": "--ufs-error-rate",
    "slow_workers": "--slow-workers",
    "slowdown": "--slowdown",
}

SCENARIOS: tuple[str, ...] = tuple(BODIES)


def run_scenario(name: str, workers: int, files: int, seed: int, **options: Any) -> dict[str, Any]:
    """Run scenario `name` on `workers` workers and `files` files; its summary as a dict.

    `options`: `spec`, a `SimSpec` to start from; `add` (scale-out), `crashes` and
    `restart_after` (crash), `restarts` (restart), `lease_lapses`,
    `batch_size`, `liveness_bound`. Raises InvalidArgument for an
    unknown name or sizes, and `SimulationCheckFailed` when a checker finds a problem.
    """
    if name not in SCENARIOS:
        known = ", ".join(sorted(SCENARIOS))
        raise InvalidArgument(f"unknown scenario {name!r}; choose one of: {known}")
    if workers < 1 or files < 0:
        raise InvalidArgument("need at least one worker and no negative file count")
    if name == "crash" and workers < 2:
        raise InvalidArgument("the crash scenario needs at least two workers")
    base: SimSpec = options.pop("spec", None) or SimSpec()
    spec = replace(base, workers=workers, files=files, seed=seed)
    # Where the index lives changes no result, so it needs no flag to replay.
    unflagged = (*SPEC_FLAGS, "index_process")
    flagless = replace(base, **{key: getattr(SimSpec(), key) for key in unflagged})
    replay = replay_command(name, spec, options, custom=flagless != SimSpec())
    return run_engine_scenario(name, spec, options, replay)


def replay_command(name: str, spec: SimSpec, options: dict[str, Any], *, custom: bool) -> str:
    """The `ringcache simulate` command that replays a run (with a note if the spec was
    built in code and has settings no flag sets)."""
    parts = [f"ringcache simulate {name}", f"--workers {spec.workers}", f"--files {spec.files}"]
    parts.append(f"--seed {spec.seed}")
    for key, flag in SPEC_FLAGS.items():
        if getattr(spec, key) != getattr(SimSpec(), key):
            parts.append(f"{flag} {getattr(spec, key)}")
    for key, flag in OPTION_FLAGS.items():
        if key in options:
            parts.append(f"{flag} {options[key]}")
    command = " ".join(parts)
    return command + " (with the SimSpec given in code)" if custom else command


Scenario = Callable[..., dict[str, Any]]

__all__ = ["SCENARIOS", "replay_command", "run_scenario", "spread", "summary_json"]
