"""A stopped in-process cluster leaves none of its threads behind."""

from __future__ import annotations

import threading
from pathlib import Path

from ringcache.local import LocalCluster
from tests.conftest import make_config


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("read-ahead")]


def test_the_read_ahead_threads_end_with_the_cluster(tmp_path: Path) -> None:
    before = set(_read_ahead_threads())
    cluster = LocalCluster(make_config(tmp_path)).start()
    try:
        answers = cluster.env.read_ahead(lambda n: n * n, list(range(8)), 4)
        assert list(answers) == [n * n for n in range(8)]  # the pool's threads started
        assert set(_read_ahead_threads()) - before
    finally:
        cluster.stop()
    for thread in set(_read_ahead_threads()) - before:
        thread.join(timeout=10)
        assert not thread.is_alive(), thread.name
