"""The simulated runtime: the real cluster classes on virtual time, at scale, from one seed.

- `loop`: `VirtualTimeLoop` (asyncio on virtual time) and `VirtualClock`.
- `costs`: the network and disk model (`NodeModel`, `NetworkModel`, `Link`) and `SimRunIo`.
- `namespace`, `ufs`: a generated namespace (names from indexes, seeded sizes) and `SimUfs`.
- `refs`: `SimRef`/`SimPeers` over `Endpoint`s that can crash.
- `index`: the coordinator's file index, charged in virtual time, in a helper process for
  large runs.
- `spec`, `cluster`: `SimSpec` (everything a run is made of) and `SimCluster`, whose nodes
  run the production `PageStore` over a `SizeMedium` (sizes only).
- `engine_scenarios`, `scenarios`: every scenario runs the coordinator's job engine;
  `run_scenario(name, workers, files, seed)` and summaries.

Nothing here imports Ray or Starlette, and nothing in the simulating process runs a thread.
"""

from __future__ import annotations

from .cluster import SimCluster
from .loop import VirtualClock, VirtualTimeLoop
from .scenarios import SCENARIOS, run_scenario, summary_json
from .spec import SimSpec

__all__ = [
    "SCENARIOS",
    "SimCluster",
    "SimSpec",
    "VirtualClock",
    "VirtualTimeLoop",
    "run_scenario",
    "summary_json",
]
