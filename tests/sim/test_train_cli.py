"""`ringcache simulate train` through its argparse hook: summary, table, report, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringcache.cli.simulate import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_train_prints_a_table_and_the_summary_and_writes_charts(tmp_path: Path, capsys) -> None:
    argv = ["simulate", "train", "--workers", "3", "--capacity", "256KiB", "--page-size", "16KiB",
            "--files", "120", "--size-dist", "lognormal:20KiB:0.7", "--epochs", "3",
            "--clients", "2", "--seed", "4", "--report", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["scenario"] == "train" and summary["pattern"] == "epochs"
    assert [w["label"] for w in summary["windows"]] == ["epoch 1", "epoch 2", "epoch 3"]
    assert summary["capacityPerWorker"] == 256 * 1024 and summary["pageSize"] == 16 * 1024
    assert "details" not in summary
    assert summary["model"]["ufsReadLatencySeconds"] > 0  # what the latencies assume
    for name in ("hitRatio", "byteHitRatio", "ufsBytes", "served", "latencyMs", "evictedPages"):
        assert name in summary["windows"][1]
    assert "epoch 3" in err and "p99 ms" in err
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    details = json.loads((tmp_path / "details.json").read_text())
    assert len(details["servedPerWorker"]) == 3 and len(details["workers"]) == 3
    for chart in ("hit_ratio.png", "served_per_worker.png", "read_latency.png"):
        assert (tmp_path / chart).read_bytes()[:8] == PNG
    # The replay command gives the same summary.
    capsys.readouterr()
    replay = summary["replay"].split()[1:]
    assert main(replay) == 0
    assert json.loads(capsys.readouterr().out) == summary


def test_zipf_reports_windows(capsys) -> None:
    argv = ["simulate", "train", "--files", "50", "--size-dist", "fixed:8KiB", "--page-size",
            "4KiB", "--capacity", "1MiB", "--pattern", "zipf", "--zipf-s", "1.2", "--reads",
            "400", "--windows", "4", "--clients", "3"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [w["reads"] for w in summary["windows"]] == [100] * 4
    # 50 files of 8 KiB fit in 3 MiB: each file read misses its 2 pages once, then hits.
    misses = sum(w["misses"] for w in summary["windows"])
    assert sum(w["hits"] for w in summary["windows"]) + misses == 2 * 400
    assert misses % 2 == 0 and 0 < misses <= 2 * 50
    assert sum(w["ufsBytes"] for w in summary["windows"]) == misses * 4096
    assert sum(w["evictedPages"] for w in summary["windows"]) == 0


@pytest.mark.parametrize(
    "extra",
    [
        ["--size-dist", "pareto:3"],
        ["--size-dist", "fixed:lots"],
        ["--pattern", "trace"],  # without --trace
        ["--pattern", "trace", "--trace", "/nonexistent/reads.trace"],
        ["--trace", "x.trace"],  # without --pattern trace
        ["--clients", "0"],
        ["--epochs", "0"],
        ["--workers", "0"],
        ["--capacity", "-1"],
        ["--files", "100000000"],
        ["--pattern", "zipf", "--reads", "1000000000"],
        ["--pattern", "zipf", "--zipf-s", "nan"],
    ],
)
def test_bad_options_exit_2_with_a_message(extra: list[str], capsys) -> None:
    assert main(["simulate", "train", "--files", "10", *extra]) == 2
    assert capsys.readouterr().err.startswith("ringcache simulate train: ")
