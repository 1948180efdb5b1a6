"""Browsing the cluster namespace: `stat` and one-level listings, for fsspec and tools."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ..paths import is_uri, normalize_cluster_path
from .factory import UfsFactory, ufs_for
from .mounts import MountTable


def stat_path(table: MountTable, path: str, ufs_factory: UfsFactory = ufs_for) -> dict[str, Any]:
    """`{"path", "size", "type", "mtime", "etag"}`; the root and mount points are directories."""
    if not is_uri(path) and normalize_cluster_path(path) == "/":
        return {"path": "/", "size": 0, "type": "directory"}
    mount, uri = table.resolve(path)
    ufs = ufs_factory(mount.ufs, mount.options)
    cluster_path = table.to_cluster_path(uri)
    if ufs.is_dir(uri):
        return {"path": cluster_path, "size": 0, "type": "directory"}
    status = ufs.stat(uri)
    entry = {"path": cluster_path, "size": status.size, "type": "file"}
    entry.update({k: v for k, v in (("mtime", status.mtime), ("etag", status.etag)) if v})
    return entry


def list_directory(
    table: MountTable, path: str, ufs_factory: UfsFactory = ufs_for
) -> list[dict[str, Any]]:
    """The entries directly under a directory; the root lists the mount points."""
    if not is_uri(path) and normalize_cluster_path(path) == "/":
        return [{"path": m.path, "size": 0, "type": "directory"} for m in table.list()]
    mount, uri = table.resolve(path)
    ufs = ufs_factory(mount.ufs, mount.options)
    if not ufs.is_dir(uri):
        raise NotFound(f"{path} is not a directory")
    return [
        {
            "path": table.to_cluster_path(status.path),
            "size": status.size,
            "type": "directory" if is_dir else "file",
        }
        for status, is_dir in ufs.list_dir(uri)
    ]
