"""`LocalReads` counting what it asked its workers and what it read without asking."""

from __future__ import annotations

from ringcache.client.local_reads import LocalReads


class CountingLocalReads(LocalReads):
    """`LocalReads`, counting the reads it asked for (`asked`), the entries it asked for
    (`infos`), the reads a published table answered (`from_table`) and the UFS files read
    without asking (`unasked`). With `grants` false, no UFS file is read without asking:
    every miss is asked for."""

    def __init__(self, grants: bool = True) -> None:
        super().__init__()
        self.grants = grants
        self.asked = self.infos = self.from_table = self.unasked = 0

    def _ask(self, *args, **kwargs):
        self.asked += 1
        return super()._ask(*args, **kwargs)

    def info(self, *args, **kwargs):
        self.infos += 1
        return super().info(*args, **kwargs)

    def _take_grant(self, *args, **kwargs) -> None:
        if self.grants:
            super()._take_grant(*args, **kwargs)

    def _read_published(self, *args, **kwargs):
        data = super()._read_published(*args, **kwargs)
        self.from_table += data is not None
        return data

    def _read_direct(self, *args, **kwargs):
        data = super()._read_direct(*args, **kwargs)
        self.unasked += data is not None
        return data
