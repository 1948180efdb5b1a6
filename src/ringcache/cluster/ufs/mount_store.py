"""The mount table's place in the registry: `/mounts/<cluster path>` holds one mount point."""

from __future__ import annotations

import json

from ..refs import ActorRef
from .mounts import MountPoint, MountTable

MOUNTS_PREFIX = "/mounts"


def mount_key(path: str) -> str:
    return MOUNTS_PREFIX + path


async def read_mount_table(registry: ActorRef) -> MountTable:
    return table_of(await read_mount_entries(registry))


async def read_mount_entries(registry: ActorRef) -> tuple[str, ...]:
    """The stored mount points as text: cheap to compare with the last ones seen."""
    return tuple(kv.value for kv in await registry.call("range", MOUNTS_PREFIX + "/"))


def table_of(entries: tuple[str, ...]) -> MountTable:
    return MountTable(MountPoint.from_dict(json.loads(text)) for text in entries)


async def write_mount_point(registry: ActorRef, mount: MountPoint) -> None:
    await registry.call("put", mount_key(mount.path), json.dumps(mount.to_record(), sort_keys=True))


async def delete_mount_point(registry: ActorRef, path: str) -> None:
    await registry.call("delete", mount_key(path))
