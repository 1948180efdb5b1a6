"""Churn during `simulate train`: workers leave and join while the job reads.

Reads of a gone owner must fall back to the UFS (zero read errors); with the fallback
switched off the read-error checker must fail the run. The dip and recovery figures are
checked against counts made apart from the replay (the ring built here, hand-made rows).
"""

from __future__ import annotations

import json

import pytest

from ringcache.cli.simulate import main
from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.build import build_ring
from ringcache.simulations.checks import SimulationCheckFailed, check_read_errors, require
from ringcache.simulations.namespace import SimNamespace, SizeDistribution
from ringcache.simulations.spec import SimSpec, sim_config
from ringcache.simulations.train import run_train
from ringcache.simulations.train_churn import Churn, churn_figures
from ringcache.simulations.workloads import Window, epochs_workload

PAGE = 4096
VNODES = 100
FILES = 60
ONE_PAGE = SizeDistribution("fixed", median=3000)  # every file a single page


def _spec(lease_ttl: float = 15.0, seed: int = 5) -> SimSpec:
    config = sim_config(
        capacity=16 * 1024**2, page_size=PAGE, virtual_nodes=VNODES, lease_ttl=lease_ttl
    )
    return SimSpec(workers=4, files=FILES, seed=seed, sizes=ONE_PAGE, config=config)


def _epochs(epochs: int, seed: int = 5):
    def workload(paths: list[str]) -> list[Window]:
        return epochs_workload(paths, epochs, 1, seed)

    return workload


def _checked(summary: dict) -> None:
    require("read errors", check_read_errors(summary), summary["seed"], "test churn run")


def test_a_churn_run_falls_back_and_passes_the_read_error_check() -> None:
    summary = run_train(_spec(), _epochs(4), churn=Churn(leave=1, join=1, at=3))
    _checked(summary)  # raises if any read failed
    assert summary["readErrors"] == 0
    assert summary["fallbacks"] > 0
    assert [w["fallbacks"] for w in summary["windows"][:2]] == [0, 0]  # none before churn
    assert summary["windows"][2]["fallbacks"] > 0
    assert summary["failures"] == {}
    churn = summary["churn"]
    assert len(churn["left"]) == 1 and len(churn["joined"]) == 1
    assert set(churn["joined"]) <= set(summary["details"]["workers"])


def test_the_same_run_with_the_fallback_broken_fails_the_checker() -> None:
    summary = run_train(_spec(), _epochs(4), churn=Churn(leave=1, join=1, at=3), fallback=False)
    assert summary["readErrors"] > 0 and summary["fallbacks"] == 0
    with pytest.raises(SimulationCheckFailed) as failed:
        _checked(summary)
    assert failed.value.check == "read errors"
    assert "epoch 3" in failed.value.problems[0]


def test_without_churn_no_fallback_and_no_churn_section() -> None:
    summary = run_train(_spec(), _epochs(3))
    _checked(summary)
    assert summary["fallbacks"] == summary["readErrors"] == 0
    assert "churn" not in summary


def test_the_dip_is_the_share_of_files_the_leaver_owned() -> None:
    """One-page files, all cached by epoch 2; the leaver's lease outlasts the run, so the
    ring keeps naming it and each of its files falls back once an epoch after the churn."""
    spec = _spec()
    summary = run_train(spec, _epochs(4), churn=Churn(leave=1, join=0, at=3))
    workers = summary["details"]["workers"]
    (leaver,) = summary["churn"]["left"]
    ring = build_ring(workers, "alluxio", VNODES)
    namespace = SimNamespace(spec.ufs_root, spec.files, files_per_dir=spec.files_per_dir)
    paths = namespace.paths(0, spec.files)
    owned = sum(1 for path in paths if ring.owners(path, 1)[0] == leaver)
    assert 0 < owned < FILES
    for window in summary["windows"][2:]:
        assert window["fallbacks"] == window["fallbackPages"] == owned
        assert window["hits"] == FILES - owned and window["misses"] == 0
        assert window["servedHitRatio"] == pytest.approx((FILES - owned) / FILES)
    churn = summary["churn"]
    assert churn["hitRatioBefore"] == 1.0
    assert churn["dip"] == pytest.approx(owned / FILES)
    assert churn["recoveryWindows"] is None and churn["recoverySeconds"] is None  # never


def test_the_hit_ratio_recovers_once_the_leavers_lease_lapses() -> None:
    """The ring drops the leaver when its lease lapses: between `lease_ttl - heartbeat`
    (its last keepalive came up to a heartbeat before the crash) and `lease_ttl` after
    the crash; its files then miss once on their new owners and hit from then on."""
    lease, heartbeat = 10.0, sim_config().worker.heartbeat_interval
    summary = run_train(_spec(lease_ttl=lease), _epochs(50), churn=Churn(leave=1, join=0, at=3))
    _checked(summary)
    windows = summary["windows"]
    assert windows[-1]["fallbacks"] == 0 and windows[-1]["servedHitRatio"] == 1.0
    churn = summary["churn"]
    back = churn["recoveryWindows"]
    assert back is not None and windows[2 + back]["servedHitRatio"] >= 0.95
    assert all(w["servedHitRatio"] < 0.95 for w in windows[2 : 2 + back])
    assert lease - heartbeat <= churn["recoverySeconds"]
    longest_epoch = max(w["virtualSeconds"] for w in windows[1:])
    assert churn["recoverySeconds"] <= lease + 2 * longest_epoch


def test_recovery_figures_on_hand_made_windows() -> None:
    rows = [
        {"servedHitRatio": r, "virtualSeconds": s}
        for r, s in [(0.0, 9.0), (0.8, 1.0), (0.5, 2.0), (0.7, 3.0), (0.77, 4.0), (0.9, 5.0)]
    ]
    figures = churn_figures(rows, at=3)  # before: 0.8; target 0.76; first back: 0.77
    assert figures["hitRatioBefore"] == 0.8 and figures["lowestHitRatio"] == 0.5
    assert figures["dip"] == pytest.approx(0.3)
    assert figures["recoveryTarget"] == pytest.approx(0.76)
    assert figures["recoveryWindows"] == 2
    assert figures["recoverySeconds"] == pytest.approx(2.0 + 3.0 + 4.0)
    never = churn_figures(rows[:4], at=3)
    assert never["recoveryWindows"] is None and never["recoverySeconds"] is None


@pytest.mark.parametrize(
    "churn",
    [Churn(leave=-1), Churn(leave=4), Churn(leave=1, at=1), Churn(join=1, at=9)],
)
def test_churn_options_that_make_no_sense_are_refused(churn: Churn) -> None:
    with pytest.raises(InvalidArgument):
        churn.check(workers=4, windows=4)


def test_the_cli_takes_the_churn_flags_and_reports_them(tmp_path, capsys) -> None:
    args = ["simulate", "train", "--workers", "4", "--files", "40", "--capacity", "16MiB"]
    args += ["--size-dist", "fixed:3000", "--epochs", "4", "--leave", "1", "--join", "1"]
    assert main([*args, "--churn-at", "3", "--report", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "hit_ratio.png").stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["churn"]["window"] == 3
    summary = json.loads(out)
    assert summary["readErrors"] == 0 and summary["fallbacks"] > 0
    assert summary["churn"]["window"] == 3
    assert "--leave 1 --join 1 --churn-at 3" in summary["replay"]
    assert "fallbacks" in err and "churn before window 3" in err
    assert main([*args, "--churn-at", "1"]) == 2
    assert "--churn-at" in capsys.readouterr().err
