"""A worker's answers about files and directories, with the fields of Alluxio's
`ResponseFileInfo`: for `GET /v1/info` and `/v1/files`, and for same-host clients."""

from __future__ import annotations

import posixpath
from typing import Any

from ..cluster.cache.store import PageStore
from ..cluster.environment import RunIo
from ..cluster.errors import RingcacheError
from ..cluster.ufs.filesystem import FileStatus, UnderFileSystem
from ..cluster.worker.mount_view import MountView


class FileEntries:
    """Entries of the UFS as a worker sees it: its size and times from the UFS, and how
    much of it this worker holds (`mInAlluxioPercentage`, of the version the UFS holds).
    Raises as `MountView.open` for a path under no mount, and the UFS's errors."""

    def __init__(self, store: PageStore, mounts: MountView, run_io: RunIo) -> None:
        self.store = store
        self.mounts = mounts
        self.run_io = run_io

    async def info(self, path: str) -> dict[str, Any]:
        """The entry of the file or directory `path` (a UFS URI or a cluster path)."""
        ufs, uri = await self.mounts.open(path)
        return await self.run_io(self._info, ufs, uri)

    async def listing(self, path: str) -> list[dict[str, Any]]:
        """The entries directly under the directory `path`."""
        ufs, uri = await self.mounts.open(path)
        return await self.run_io(self._list, ufs, uri)

    def _info(self, ufs: UnderFileSystem, uri: str) -> dict[str, Any]:
        if ufs.is_dir(uri):
            return self._entry(FileStatus(uri, 0, None, None), True)
        return self._entry(ufs.stat(uri), False)

    def _list(self, ufs: UnderFileSystem, uri: str) -> list[dict[str, Any]]:
        return [self._entry(status, is_dir) for status, is_dir in ufs.list_dir(uri)]

    def _entry(self, status: FileStatus, is_dir: bool) -> dict[str, Any]:
        """One entry with the fields of Alluxio's `ResponseFileInfo`."""
        table = self.mounts.table
        try:
            cluster_path = table.to_cluster_path(status.path)
        except RingcacheError:
            cluster_path = ""
        cached = None if is_dir else self.store.file_info(status.path)
        held = cached.cached_bytes if cached and cached.version == status.version else 0
        mtime = int((status.mtime or 0) * 1000)
        return {
            "mType": "directory" if is_dir else "file",
            "mName": posixpath.basename(status.path.rstrip("/")),
            "mPath": cluster_path,
            "mUfsPath": status.path,
            "mLength": status.size,
            "mHumanReadableFileSize": _human(status.size),
            "mCompleted": True,
            "mOwner": "",
            "mGroup": "",
            "mMode": 0o755 if is_dir else 0o644,
            "mCreationTimeMs": mtime,
            "mLastModificationTimeMs": mtime,
            "mLastAccessTimeMs": mtime,
            "mPersisted": True,
            "mInAlluxioPercentage": 100 * held // status.size if status.size else 100,
            "mContentHash": status.etag or "",
        }


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.2f}{unit}" if unit != "B" else f"{size}B"
        value /= 1024
    raise AssertionError("unreachable")
