"""What a UFS says of a file: where it is, and which version of it (`FileVersion`)."""

from __future__ import annotations

import os
from typing import NamedTuple


class FileVersion(NamedTuple):
    """What identifies one version of a UFS file: a change to any field is a new version.

    A named tuple rather than a frozen dataclass: one is made per file listed, loaded or
    moved, and a tuple is made in half the time. Compare versions with versions only.
    """

    size: int
    mtime: float | None
    etag: str | None


class FileStatus(NamedTuple):
    """A file on a UFS; `path` is its full URI, e.g. `file:///srv/data/a.bin`."""

    path: str
    size: int
    mtime: float | None
    etag: str | None

    @property
    def version(self) -> FileVersion:
        return FileVersion(self.size, self.mtime, self.etag)


def local_status(uri: str, found: os.stat_result) -> FileStatus:
    """The status of the local file `uri` from its `stat` (what fsspec's `info` reads)."""
    return FileStatus(uri, found.st_size, float(found.st_mtime), None)
