"""Where UnderFileSystems come from: one shared instance per scheme, options and (when
confined) local mount root (`ufs_for`), and the factory every runtime on real disks uses
(`ConfinedUfsFactory`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from ..paths import normalize_uri, split_uri
from .filesystem import UnderFileSystem
from .local_roots import local_locations, real_path
from .options import check_options

_cache: dict[tuple[object, ...], UnderFileSystem] = {}
_cache_lock = threading.Lock()


#: What builds a UFS for a URI and its mount options (`ufs_for`, or a runtime's own).
UfsFactory = Callable[[str, Mapping[str, str]], UnderFileSystem]


def ufs_for(
    uri: str,
    options: Mapping[str, str] | None = None,
    *,
    allowed_roots: Sequence[str] | None = None,
) -> UnderFileSystem:
    """A shared UnderFileSystem for `uri`'s scheme and these options (created once); with
    `allowed_roots`, one per mount root `uri` on the local disk and its real path now (a
    root unmounted, its link moved and mounted again is confined to where it leads now)."""
    scheme, location = split_uri(uri)
    options = check_options(options or {})
    key: tuple[object, ...] = (scheme, tuple(sorted(options.items())))
    if allowed_roots is not None:
        local = tuple(map(real_path, local_locations(scheme, location, options)))
        key += (tuple(allowed_roots), normalize_uri(uri) if local else "", local)
    with _cache_lock:
        ufs = _cache.get(key)
        if ufs is None:
            ufs = _cache[key] = UnderFileSystem(uri, options, allowed_roots=allowed_roots)
        return ufs


class ConfinedUfsFactory:
    """A `UfsFactory` whose local-disk filesystems are confined to their mount root and
    the allowed local roots (see `UnderFileSystem`); what every runtime on real disks uses,
    given the cluster's `allowed_local_roots`."""

    def __init__(self, allowed_roots: Sequence[str] = ("/",)) -> None:
        self.allowed_roots = tuple(allowed_roots)

    def __repr__(self) -> str:
        return f"ConfinedUfsFactory({self.allowed_roots!r})"

    def __call__(self, uri: str, options: Mapping[str, str] | None = None) -> UnderFileSystem:
        return ufs_for(uri, options, allowed_roots=self.allowed_roots)
