"""`ringcache simulate` through its own argparse hook: summary, report files, exit codes."""

from __future__ import annotations

import argparse
import json

import pytest

import ringcache.simulations.cluster as sim_cluster
from ringcache import cli
from ringcache.cli.simulate import add_simulate_command, main
from ringcache.simulations import scenarios

from .test_engine_scenarios import LossyStore


def test_the_hook_adds_a_simulate_subcommand_with_help(capsys):
    parser = argparse.ArgumentParser(prog="ringcache")
    add_simulate_command(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--help"])
    text = capsys.readouterr().out
    for word in ("scale-out", "crash", "restart", "--report", "--seed", "replay", "--lease-lapses"):
        assert word in text
    args = parser.parse_args(["simulate", "load", "--workers", "3"])
    assert args.workers == 3 and callable(args.run)


def test_simulate_prints_the_summary_and_writes_a_report(tmp_path, capsys):
    code = main(["simulate", "scale-out", "--workers", "4", "--files", "200", "--seed", "3",
                 "--report", str(tmp_path)])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenario"] == "scale-out" and summary["seed"] == 3
    assert summary["replay"] == "ringcache simulate scale-out --workers 4 --files 200 --seed 3"
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    for chart in ("bytes_per_worker.png", "job_progress.png", "bytes_moved.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_check_exits_1_with_the_seed_and_replay(monkeypatch, capsys):
    monkeypatch.setattr(sim_cluster, "PageStore", LossyStore)
    code = main(["simulate", "load", "--workers", "2", "--files", "100", "--seed", "9"])
    assert code == 1
    err = capsys.readouterr().err
    assert "seed 9" in err
    assert "replay: ringcache simulate load --workers 2 --files 100 --seed 9" in err


def test_bad_sizes_exit_2(capsys):
    assert main(["simulate", "load", "--workers", "0"]) == 2
    assert "worker" in capsys.readouterr().err


def test_ctrl_c_ends_the_command_with_130_and_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scenarios, "run_scenario", interrupted)
    try:
        code = cli.main(["simulate", "load", "--workers", "2", "--files", "10"])
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped the command")
    assert code == 130
    assert capsys.readouterr().err == "ringcache: interrupted\n"


def test_simulate_reports_what_the_run_cost_on_stderr_only(capsys):
    assert main(["simulate", "load", "--workers", "3", "--files", "100", "--seed", "2"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # stdout stays the replayable summary alone
    assert "wall" not in json.dumps(summary).lower()
    line = captured.err.strip().splitlines()[-1]
    assert line.startswith("measured: wall ")
    for part in ("cpu", "peak RSS", "MiB", f"{summary['events']} events", "events per wall second"):
        assert part in line
