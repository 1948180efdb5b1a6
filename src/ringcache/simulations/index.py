"""The simulated coordinator's file index: the production `FileIndex`, and what its writes
cost in virtual time.

Every report a coordinator writes to its index (`apply_reports`, which `record_many` and
`apply_report` go through) is charged to the coordinator's meter, one row per file, at
`NodeModel.index_rows_per_second`: `SimRunIo` then sleeps what the write would take.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..cluster.file_index import FileIndex
from ..cluster.file_index_reports import Report
from .costs import IoMeter


def _listed(reports: Iterable[Report]) -> list[Report]:
    return [(w, list(held), list(dropped), replace) for w, held, dropped, replace in reports]


def _charge(meter: IoMeter | None, reports: list[Report]) -> None:
    if meter is not None:
        meter.index_write(sum(len(held) + len(dropped) for _, held, dropped, _ in reports))


class KeptFileIndex(FileIndex):
    """An in-memory index a stopping coordinator leaves open, as it would leave its file;
    its report writes are charged to `meter` (the coordinator node's, once it is set)."""

    meter: IoMeter | None = None

    def close(self) -> None:
        pass  # the next coordinator opens it again

    def discard(self) -> None:
        super().close()

    def apply_reports(self, reports: Iterable[Report]) -> None:
        reports = _listed(reports)
        _charge(self.meter, reports)
        super().apply_reports(reports)
