"""PNG charts and the summary of a simulated run, for people who would rather look than read.

`write_report(summary, directory)` writes `summary.json` (the same text the CLI prints),
`details.json` (per-worker bytes and progress samples), and PNG charts drawn with
matplotlib's Agg backend (no display needed): bytes per worker, job progress over
virtual time, and, for scale-out, bytes moved against the ideal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .summary import summary_json

GiB = 1024**3


def write_report(summary: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write the report files into `directory` (created); the paths written, in order."""
    details = summary.get("details", {})
    out, written = open_report(directory, summary_json(summary), details)
    title = (
        f"{summary['scenario']}: {summary['workers']} workers, {summary['files']} files, "
        f"seed {summary['seed']}"
    )
    if details.get("bytesPerWorker"):
        written.append(_bytes_per_worker(details["bytesPerWorker"], title, out))
    if details.get("progress"):
        written.append(_progress(details["progress"], summary, title, out))
    if "bytesMoved" in summary:
        written.append(_moved(summary["bytesMoved"], title, out))
    return written


def open_report(directory: str | Path, summary_text: str, details: Any) -> tuple[Path, list[Path]]:
    """Make `directory`, write `summary.json` (`summary_text`) and `details.json` into it,
    and set matplotlib to draw without a display; the directory and the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json", out / "details.json"]
    written[0].write_text(summary_text + "\n")
    written[1].write_text(json.dumps(details, sort_keys=True) + "\n")
    return out, written


def _bytes_per_worker(values: list[int], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    ordered = sorted(values, reverse=True)
    mean = sum(ordered) / len(ordered)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = range(len(ordered))
    if len(ordered) <= 200:
        ax.bar(xs, [v / GiB for v in ordered], width=0.9, color="tab:blue")
    else:
        ax.fill_between(xs, [v / GiB for v in ordered], color="tab:blue", step="mid")
    ax.axhline(mean / GiB, color="tab:red", linestyle="--", label=f"mean {mean / GiB:.2f} GiB")
    ax.set_xlabel("worker (sorted by bytes cached)")
    ax.set_ylabel("GiB cached")
    ax.set_title(f"Bytes per worker\n{title}", fontsize=10)
    ax.legend()
    return _save(fig, out / "bytes_per_worker.png")


def _progress(progress: dict[str, list], summary: dict[str, Any], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, points in progress.items():
        ts = [p["t"] for p in points]
        for counter in ("loadedBytes", "skippedBytes", "prunedBytes"):
            if any(p.get(counter) for p in points):
                ax.step(
                    ts,
                    [p.get(counter, 0) / GiB for p in points],
                    where="post",
                    label=f"{name} {counter}",
                )
    for fault in summary.get("faults", []):
        ax.axvline(fault["at"], color="tab:red", alpha=0.5, linestyle=":")
    if summary.get("faults"):
        ax.plot([], [], color="tab:red", linestyle=":", label="fault")
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("GiB (committed + in flight)")
    ax.set_title(f"Job progress over virtual time\n{title}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out / "job_progress.png")


def _moved(moved: dict[str, Any], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    labels = ["moved (rebalance)", "whose owner changed", "ideal k/(N+k)"]
    values = [moved["moved"], moved["ownerChanged"], moved["ideal"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bars = ax.bar(labels, [v / GiB for v in values], color=["tab:blue", "tab:orange", "tab:gray"])
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            f"{value / GiB:.2f} GiB",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set_ylabel("GiB")
    ax.set_title(f"Bytes moved on scale-out against the ideal\n{title}", fontsize=10)
    return _save(fig, out / "bytes_moved.png")


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
