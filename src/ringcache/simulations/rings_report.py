"""PNG charts and JSON of a `simulate rings` run (matplotlib's Agg backend, no display).

`write_rings_report(summary, directory)` writes `summary.json` (the summary the command
prints), `details.json` (each policy's per-worker files, bytes and reads, sorted), and
three charts: balance (max/mean of files, bytes and reads, a bar group per policy),
movement (fraction moved on a join and a leave against the ideal, per policy) and files
per worker (one panel per policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import _save, open_report

LOADS = ("files", "bytes", "reads")
EVENTS = ("join", "leave")


def rings_json(summary: dict[str, Any]) -> str:
    """The summary without its per-worker details, as the command prints it."""
    return json.dumps({k: v for k, v in summary.items() if k != "details"}, indent=2)


def write_rings_report(summary: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write the report into `directory` (created); the paths written, in order."""
    out, written = open_report(directory, rings_json(summary), summary["details"])
    title = (
        f"{summary['workers']} workers ({summary['virtualNodes']} virtual nodes), "
        f"{summary['files']} files, Zipf s={summary['skew']}, seed {summary['seed']}"
    )
    written.append(_balance(summary["policies"], title, out))
    written.append(_movement(summary["policies"], title, out))
    written.append(_files_per_worker(summary["details"], title, out))
    return written


def _grouped_bars(ax: Any, policies: dict[str, Any], groups: tuple[str, ...], value: Any) -> None:
    width = 0.8 / len(groups)
    names = list(policies)
    for i, group in enumerate(groups):
        xs = [p + (i - (len(groups) - 1) / 2) * width for p in range(len(names))]
        heights = [value(policies[name], group) for name in names]
        bars = ax.bar(xs, heights, width=width * 0.95, label=group)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(range(len(names)), names)


def _balance(policies: dict[str, Any], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    # Reads are skewed by the workload, not the ring: their own panel and scale.
    fig, (placed, served) = plt.subplots(
        1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]}
    )
    _grouped_bars(placed, policies, LOADS[:2], lambda entry, load: entry[load]["maxOverMean"])
    _grouped_bars(served, policies, LOADS[2:], lambda entry, load: entry[load]["maxOverMean"])
    for ax in (placed, served):
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.legend()
    placed.set_ylim(bottom=0.9)
    placed.set_ylabel("max / mean per worker (1 = perfect)")
    fig.suptitle(f"Balance per ring policy\n{title}", fontsize=10)
    return _save(fig, out / "rings_balance.png")


def _movement(policies: dict[str, Any], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    _grouped_bars(ax, policies, EVENTS, lambda entry, event: entry[event]["moved"])
    first = next(iter(policies.values()))
    for event, style in zip(EVENTS, ("--", ":"), strict=True):
        ideal = first[event]["ideal"]
        ax.axhline(ideal, color="tab:red", linestyle=style, label=f"ideal {event} {ideal:.4f}")
    ax.set_yscale("log")
    ax.set_ylabel("fraction of files whose owner changed")
    ax.set_title(f"Movement when one worker joins or leaves\n{title}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out / "rings_movement.png")


def _files_per_worker(details: dict[str, Any], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(details), figsize=(3.2 * len(details), 3.6), sharey=True, squeeze=False
    )
    for ax, (policy, loads) in zip(axes[0], details.items(), strict=True):
        files = loads["files"]
        mean = sum(files) / len(files)
        ax.bar(range(len(files)), files, width=1.0, color="tab:blue")
        ax.axhline(mean, color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_title(policy, fontsize=9)
        ax.set_xlabel("worker (sorted)")
    axes[0][0].set_ylabel("files owned (dashed: mean)")
    fig.suptitle(f"Files per worker\n{title}", fontsize=10)
    return _save(fig, out / "rings_files_per_worker.png")
