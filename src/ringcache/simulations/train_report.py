"""PNG charts and JSON of a `simulate train` run (matplotlib's Agg backend, no display).

`write_train_report(summary, directory)` writes `summary.json` (the summary the command
prints), `details.json` (worker ids and each window's bytes served per worker) and three
charts: hit ratio per window (by pages and by bytes, against the share of the dataset
the cluster's caches can hold; with churn, also counting the fallbacks' pages as misses,
and a line where the churn came), bytes served per worker (one bar group per window,
workers sorted by their total), and read latency percentiles per window. `train_table`
is the text table the command prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import _save, open_report
from .summary import summary_json
from .train_churn import RECOVERY_TOLERANCE

MiB = 1024**2


def write_train_report(summary: dict[str, Any], directory: str | Path) -> list[Path]:
    """Write the report into `directory` (created); the paths written, in order."""
    out, written = open_report(directory, summary_json(summary), summary["details"])
    title = (
        f"{summary['pattern']}: {summary['workers']} workers x "
        f"{summary['capacityPerWorker'] / MiB:.1f} MiB, {summary['files']} files "
        f"({summary['datasetBytes'] / MiB:.1f} MiB), {summary['clients']} clients, "
        f"seed {summary['seed']}"
    )
    windows = summary["windows"]
    churn = summary.get("churn")
    at = churn["window"] if churn else None
    written.append(_hit_ratio(windows, summary["capacityOverDataset"], title, out, at))
    written.append(_served(windows, summary["details"]["servedPerWorker"], title, out))
    written.append(_latency(windows, title, out))
    return written


def _hit_ratio(
    windows: list[dict[str, Any]], fits: float, title: str, out: Path, churn_at: int | None
) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = [w["label"] for w in windows]
    xs = range(len(windows))
    ax.plot(xs, [w["hitRatio"] for w in windows], marker="o", label="pages hit / pages read")
    ax.plot(xs, [w["byteHitRatio"] for w in windows], marker="s", label="bytes from cache")
    if churn_at is not None:  # the fallbacks' pages count as misses in this one
        served = [w["servedHitRatio"] for w in windows]
        ax.plot(xs, served, marker="^", label="pages hit / pages read with fallbacks")
        ax.axvline(churn_at - 1.5, color="tab:red", linestyle=":", label="churn")
    ax.set_xticks(list(xs), labels, rotation=30 if len(labels) > 8 else 0, fontsize=8)
    if fits < 1:
        ax.axhline(fits, color="tab:gray", linestyle="--", label=f"cache / dataset {fits:.3f}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("hit ratio")
    ax.set_title(f"Hit ratio per window\n{title}", fontsize=10)
    ax.legend()
    return _save(fig, out / "hit_ratio.png")


def _served(
    windows: list[dict[str, Any]], per_window: list[list[int]], title: str, out: Path
) -> Path:
    import matplotlib.pyplot as plt

    workers = len(per_window[0]) if per_window else 0
    totals = [sum(row[w] for row in per_window) for w in range(workers)]
    order = sorted(range(workers), key=lambda w: -totals[w])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(per_window), 1)
    for i, (window, row) in enumerate(zip(windows, per_window, strict=True)):
        xs = [x + (i - (len(per_window) - 1) / 2) * width for x in range(workers)]
        ax.bar(xs, [row[w] / MiB for w in order], width=width * 0.95, label=window["label"])
    ax.set_xlabel("worker (sorted by bytes served)")
    ax.set_ylabel("MiB served")
    ax.set_title(f"Bytes served per worker\n{title}", fontsize=10)
    if len(per_window) <= 12:
        ax.legend(fontsize=8)
    return _save(fig, out / "served_per_worker.png")


def _latency(windows: list[dict[str, Any]], title: str, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = range(len(windows))
    for name in ("p50", "p95", "p99"):
        ax.plot(xs, [w["latencyMs"][name] for w in windows], marker="o", label=name)
    ax.set_xticks(list(xs), [w["label"] for w in windows], fontsize=8)
    ax.set_ylabel("read latency (ms, modelled)")
    ax.set_title(f"Read latency per window\n{title}", fontsize=10)
    ax.legend()
    return _save(fig, out / "read_latency.png")


def train_table(summary: dict[str, Any]) -> str:
    """The summary's windows as a plain-text table, a window a row."""
    head = (
        f"{'window':<10} {'reads':>8} {'hit':>7} {'byte hit':>8} {'UFS MiB':>10} "
        f"{'served max/mean':>15} {'evicted':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'fallbacks':>9} {'errors':>6}"
    )
    rows = [head]
    for w in summary["windows"]:
        lat = w["latencyMs"]
        rows.append(
            f"{w['label']:<10} {w['reads']:>8} {w['hitRatio']:>7.4f} {w['byteHitRatio']:>8.4f} "
            f"{w['ufsBytes'] / 2**20:>10.2f} {w['served']['maxOverMean']:>15.3f} "
            f"{w['evictedPages']:>9} {lat['p50']:>8.3f} {lat['p95']:>8.3f} {lat['p99']:>8.3f} "
            f"{w['fallbacks']:>9} {w['readErrors']:>6}"
        )
    churn = summary.get("churn")
    if churn:
        windows, seconds = churn["recoveryWindows"], churn["recoverySeconds"]
        back = "never" if windows is None else f"after {windows} window(s), {seconds} s"
        rows.append(
            f"churn before window {churn['window']}: {len(churn['left'])} left, "
            f"{len(churn['joined'])} joined; served hit ratio {churn['hitRatioBefore']:.4f} "
            f"before, dip {churn['dip']:.4f}, back within {RECOVERY_TOLERANCE:.0%}: {back}"
        )
    return "\n".join(rows)
