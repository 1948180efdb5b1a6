"""`Ownership`: a worker's view of the ring, from the registry's live workers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ring.membership import live_key
from ringcache.cluster.worker.ownership import Ownership

from .fakes import WORKER_A, WORKER_B, ManualClock, inline_io


class LiveRegistry:
    def __init__(self, *live: str) -> None:
        self.live = list(live)

    async def call(self, method: str, *args: Any) -> Any:
        assert (method, args) == ("range", ("/live/",))
        return [SimpleNamespace(key=live_key(w), value="h") for w in self.live]


PATHS = [f"file:///data/f{i}.bin" for i in range(200)]


def test_each_file_is_owned_by_its_ring_owner_only(run) -> None:
    registry = LiveRegistry(WORKER_A, WORKER_B)
    views = {
        w: Ownership(w, registry, inline_io, ManualClock(), virtual_nodes=50)
        for w in (WORKER_A, WORKER_B)
    }
    assert all(views[WORKER_A].owns(path) for path in PATHS)  # before it looked: as before
    for view in views.values():
        run(view.refresh())
    ring = HashRing([WORKER_A, WORKER_B], virtual_nodes=50)
    for path in PATHS:
        assert [w for w, view in views.items() if view.owns(path)] == ring.owners(path, 1)
    assert 0 < sum(views[WORKER_A].owns(path) for path in PATHS) < len(PATHS)
    registry.live = [WORKER_A]  # B left: A owns everything at its next look
    run(views[WORKER_A].refresh())
    assert all(views[WORKER_A].owns(path) for path in PATHS)


def test_without_virtual_nodes_every_file_is_owned(run) -> None:
    view = Ownership(WORKER_A, LiveRegistry(WORKER_B), inline_io, ManualClock(), virtual_nodes=None)
    run(view.refresh())
    assert all(view.owns(path) for path in PATHS)


def test_a_file_seemingly_not_owned_makes_it_read_the_ring_again_at_most_every_second(
    run,
) -> None:
    registry = LiveRegistry(WORKER_B)
    clock = ManualClock()
    view = Ownership(WORKER_A, registry, inline_io, clock, virtual_nodes=50)
    run(view.refresh())  # it saw B alone (its own key not listed yet)
    ring = HashRing([WORKER_A, WORKER_B], virtual_nodes=50)
    ours = next(path for path in PATHS if ring.owners(path, 1) == [WORKER_A])
    assert not view.owns(ours)
    registry.live = [WORKER_A, WORKER_B]
    clock.time += 0.5
    assert not run(view.confirm(ours))  # read half a second ago: not again yet
    clock.time += 0.6
    assert run(view.confirm(ours))  # read again: A is in the ring, and owns it
    theirs = next(path for path in PATHS if ring.owners(path, 1) == [WORKER_B])
    assert not run(view.confirm(theirs))
