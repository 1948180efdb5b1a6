"""`ChangeEpoch`: raised before every change that may drop pages, never lowered."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from ringcache.cluster.worker.epoch import ChangeEpoch, begun, stable

from .fakes import PAGE, Parts


def test_it_only_rises_and_shows_changes_in_flight(tmp_path: Path) -> None:
    epoch = ChangeEpoch(tmp_path / "epoch")
    first = epoch.stable()
    assert first == epoch.begun
    fd = os.open(tmp_path / "epoch", os.O_RDONLY)
    shared = mmap.mmap(fd, 16, prot=mmap.PROT_READ)
    os.close(fd)
    with epoch.changing():
        assert epoch.stable() is None and stable(shared) is None  # a change in flight
        assert begun(shared) == first + 1
    assert epoch.stable() == first + 1 == stable(shared)
    with pytest.raises(OSError), epoch.changing():
        raise OSError("a failed change still ends")
    assert epoch.stable() == first + 2
    again = ChangeEpoch(tmp_path / "epoch")
    assert again.stable() is not None and again.begun > first + 2  # a new run is not the old


def test_the_store_raises_it_around_evictions_and_removals_only(tmp_path: Path, run) -> None:
    epoch = ChangeEpoch(tmp_path / "epoch")
    parts = Parts(tmp_path, capacity=4 * PAGE, dropping=epoch.changing)
    parts.write("a.bin", os.urandom(2 * PAGE))
    parts.write("b.bin", os.urandom(3 * PAGE))
    run(parts.mounts.refresh())
    before = epoch.begun
    run(parts.read("/data/a.bin"))  # a miss: pages put into room to spare
    assert epoch.begun == before  # nothing dropped: readers need not look again
    run(parts.read("/data/a.bin"))  # a hit changes nothing
    assert epoch.begun == before
    run(parts.read("/data/b.bin"))  # a miss that evicts a page of a.bin
    assert not parts.store.file_info(parts.uri("a.bin")).complete
    assert epoch.begun > before and epoch.stable() == epoch.begun  # raised, then ended
    settled = epoch.begun
    parts.store.remove_file(parts.uri("b.bin"))
    assert epoch.begun > settled and epoch.stable() == epoch.begun
