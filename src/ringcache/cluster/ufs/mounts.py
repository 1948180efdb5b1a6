"""The mount table: which UFS root each top-level cluster directory stands for.

This is logic only; the registry persists mount points and builds a `MountTable` from them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import Conflict, InvalidArgument, NotFound, UfsError
from ..paths import (
    is_uri,
    is_within,
    join,
    normalize_cluster_path,
    normalize_uri,
    relative_to,
    split_uri,
)
from .factory import ufs_for
from .filesystem import UnderFileSystem
from .local_roots import local_locations, within_allowed
from .names import PLAIN_NAME, canonical_uri, names_generation
from .options import check_options
from .redaction import redact_options


@dataclass(frozen=True)
class MountPoint:
    """A cluster path (`/data`) bound to a UFS root (`file:///srv/data`) and its options.

    Its options may hold credentials: `to_record` (what the registry stores) keeps them,
    while `to_dict` (what the API, the CLI and the client see) and `repr` (what logs see)
    show them as `"***"`.
    """

    path: str
    ufs: str
    options: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"MountPoint({self.path!r}, {self.ufs!r}, {redact_options(self.options)!r})"

    def to_dict(self) -> dict[str, object]:
        """The API.md shape, credentials redacted."""
        return {"path": self.path, "ufs": self.ufs, "options": redact_options(self.options)}

    def to_record(self) -> dict[str, object]:
        """The API.md shape with every option as given: for the registry only."""
        return {"path": self.path, "ufs": self.ufs, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MountPoint:
        """Read the API.md shape; InvalidArgument on missing or mistyped fields."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a mount point is an object, not {data!r}")
        path, ufs = data.get("path"), data.get("ufs")
        if not isinstance(path, str) or not isinstance(ufs, str):
            raise InvalidArgument("a mount point needs string fields 'path' and 'ufs'")
        return cls(path, ufs, check_options(data.get("options") or {}))


PARENT_MEMO = 10_000  # parent directories remembered per mount table
DIRECTORY_MEMO = 10_000  # UFS directories remembered, for all tables
FEW_MOUNTS = 8

# (mount set, directory text) -> (mount path, the directory's URI and a slash, and for a
# cluster path its normalized text and a slash, else None); valid while fsspec's registry
# stays the same (`names_generation`).
_directories: dict[tuple[str, str], tuple[str, str, str | None]] = {}
_directories_generation = [-1]


class MountTable:
    """An immutable set of mount points that turns either path form into the other.

    Guarantees: lookups pick the longest mount path / UFS root that contains the path on a
    segment boundary (`/data` never matches `/database`); every path is normalized first,
    so `..` can only move within the text of the path, and a result that lands under no
    mount point is an InvalidArgument naming the path. Mount points are normalized on the
    way in (validation of new ones is `check_mount`'s job).
    """

    def __init__(self, mount_points: Iterable[MountPoint] = ()) -> None:
        self._by_path: dict[str, MountPoint] = {}
        self._by_ufs: dict[str, MountPoint] = {}
        # The mount over each parent directory looked up so far (None: under none). Files
        # of one directory share it, so a job's batch costs one walk up per directory.
        self._under_parent: dict[str, MountPoint | None] = {}
        for given in mount_points:
            mount = MountPoint(
                normalize_cluster_path(given.path), canonical_uri(given.ufs), given.options
            )
            for index, key in ((self._by_path, mount.path), (self._by_ufs, mount.ufs)):
                if key in index:
                    raise Conflict(f"{key} appears in two mount points")
                index[key] = mount
        # The mount set, as text: tables of the same mount points share what they resolved.
        self._key = "\n".join(f"{m.path} {m.ufs}" for m in self.list())

    def __repr__(self) -> str:
        return f"MountTable({self.list()!r})"

    def __len__(self) -> int:
        return len(self._by_path)

    def list(self) -> list[MountPoint]:
        return [self._by_path[path] for path in sorted(self._by_path)]

    def get(self, path: str) -> MountPoint:
        """The mount point mounted exactly at cluster path `path`; NotFound if none."""
        mount = self._by_path.get(normalize_cluster_path(path))
        if mount is None:
            raise NotFound(f"{path} is not a mount point")
        return mount

    def resolve(self, path: str) -> tuple[MountPoint, str]:
        """`(mount point, full UFS URI)` for a cluster path or a UFS URI.

        Asked for every file a job names or a client reads, so what a directory (a UFS
        URI's or a cluster path's, as written) resolves to is remembered (per set of mount
        points, for every table of that set: each worker has its own): a sibling with a
        plain name (nothing to normalize) is that directory's URI plus its name, under the
        same mount, unless a mount root is that file itself (or a mount point that path).
        """
        if type(path) is str:
            parent, _, name = path.rpartition("/")
            if _directories_generation[0] != names_generation():
                _directories.clear()
                _directories_generation[0] = names_generation()
            plain = PLAIN_NAME.match(name) is not None
            known = _directories.get((self._key, parent)) if plain else None
            if known is not None:
                uri = known[1] + name
                # Unless the sibling is a mount root (a URI) or a mount point (a path).
                if (
                    uri not in self._by_ufs
                    if known[2] is None
                    else known[2] + name not in self._by_path
                ):
                    return self._by_path[known[0]], uri
            mount, uri = self._resolve(path)
            if plain and uri != mount.ufs and uri.endswith("/" + name):
                if len(_directories) >= DIRECTORY_MEMO:
                    _directories.clear()
                directory = None if is_uri(path) else normalize_cluster_path(path)[: -len(name)]
                _directories[(self._key, parent)] = (
                    mount.path,
                    uri[: len(uri) - len(name)],
                    directory,
                )
            return mount, uri
        return self._resolve(path)

    def _resolve(self, path: str) -> tuple[MountPoint, str]:
        if is_uri(path):
            uri = canonical_uri(path)
            return self._longest(self._by_ufs, uri, path), uri
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgument(
                f"{path!r} is neither an absolute cluster path nor a UFS URI (scheme://...)"
            )
        cluster_path = normalize_cluster_path(path)
        mount = self._longest(self._by_path, cluster_path, path)
        return mount, join(mount.ufs, relative_to(cluster_path, mount.path))

    def to_ufs_uri(self, cluster_path: str) -> str:
        return self.resolve(cluster_path)[1]

    def to_cluster_path(self, ufs_uri: str) -> str:
        if not is_uri(ufs_uri):
            raise InvalidArgument(f"{ufs_uri!r} is not a UFS URI (scheme://...)")
        mount, uri = self.resolve(ufs_uri)
        return join(mount.path, relative_to(uri, mount.ufs))

    def _longest(self, index: Mapping[str, MountPoint], key: str, original: str) -> MountPoint:
        # Try the key, then each parent: the first hit is the longest prefix on a segment
        # boundary, and a lookup costs one dict probe per segment however many mounts exist.
        # Keys are normalized (no empty segments), so keys with one parent text share the
        # walk from that parent up, which is remembered. Cluster paths and URIs never share
        # a parent text, so one memo serves both indexes.
        mount = index.get(key)
        if mount is not None:
            return mount
        if len(index) <= FEW_MOUNTS:  # a prefix test per mount beats a walk up the path
            best = ""
            for root in index:
                if len(root) > len(best) and _contains(root, key):
                    best = root
            if not best:
                raise InvalidArgument(f"{original} is not under any mount point")
            return index[best]
        parent = key.rpartition("/")[0]
        if parent in self._under_parent:
            mount = self._under_parent[parent]
        else:
            mount = next(
                (index[c] for c in _self_and_parents(key) if c != key and c in index), None
            )
            if len(self._under_parent) >= PARENT_MEMO:
                self._under_parent.clear()
            self._under_parent[parent] = mount
        if mount is None:
            raise InvalidArgument(f"{original} is not under any mount point")
        return mount


def directories_forget() -> None:
    """Forget every remembered directory (for tests that must start afresh)."""
    _directories.clear()


def _contains(root: str, key: str) -> bool:
    """`key` is below `root` on a segment boundary (both normalized)."""
    return key.startswith(root) and (root.endswith("/") or key[len(root) : len(root) + 1] == "/")


def _self_and_parents(key: str) -> Iterable[str]:
    """`/a/b`, `/a`, `/` (or `file:///a/b` ... `file:///`), longest first."""
    if is_uri(key):
        scheme, rest = split_uri(key)
        prefix = f"{scheme}://" + ("/" if rest.startswith("/") else "")
    else:
        prefix, rest = "/", key
    segments = [segment for segment in rest.split("/") if segment]
    for count in range(len(segments), -1, -1):
        yield prefix + "/".join(segments[:count])


UfsFactory = Callable[[str, Mapping[str, str]], UnderFileSystem]


def check_mount(
    new: MountPoint,
    existing: MountTable,
    allowed_local_roots: Sequence[str],
    *,
    ufs_factory: UfsFactory = ufs_for,
) -> MountPoint:
    """Validate a mount request (POST /mount) and return it normalized.

    400 (InvalidArgument): malformed path or not a direct child of `/`, bad URI, unknown
    scheme, non-string options, a root on the local disk (any protocol, symlinks resolved)
    outside `allowed_local_roots`, a root
    that does not exist or is not a directory. 409 (Conflict): the path is mounted, or the
    same UFS root or one nested in it (either way) is mounted elsewhere. The checks that
    read the UFS come last, so a request rejected on its face never reaches it.
    """
    if not isinstance(new.path, str) or not isinstance(new.ufs, str):
        raise InvalidArgument("a mount point needs a string 'path' and a string 'ufs'")
    path = normalize_cluster_path(new.path)
    if path == "/" or path.count("/") != 1:
        raise InvalidArgument(f"mount path {new.path!r} must be a direct child of '/', like /data")
    options = check_options(new.options)
    ufs_root = canonical_uri(new.ufs)
    scheme, location = split_uri(ufs_root)
    for local in local_locations(scheme, location, options):
        _check_local_root(local, allowed_local_roots, new.ufs)
    ufs = ufs_factory(ufs_root, options)  # unknown scheme or bad options: InvalidArgument

    identity = _identity(ufs_root)
    for mount in existing.list():
        if mount.path == path:
            raise Conflict(f"{path} is already mounted (on {mount.ufs})")
    for mount in existing.list():
        other = _identity(mount.ufs)
        if is_within(identity, other) or is_within(other, identity):
            how = "is" if identity == other else "overlaps"
            raise Conflict(
                f"{ufs_root} {how} the UFS root {mount.ufs} already mounted at {mount.path}"
            )

    try:
        reachable = ufs.is_dir(ufs_root)
        exists = reachable or ufs.exists(ufs_root)
    except UfsError as exc:
        raise InvalidArgument(f"UFS root {ufs_root} is not reachable: {exc.message}") from None
    if not reachable:
        if exists:
            problem = "is not a directory"
        else:
            problem = "does not exist" + _missing_bucket(ufs, ufs_root)
        raise InvalidArgument(f"UFS root {ufs_root} {problem}")
    return MountPoint(path, ufs_root, options)


_BUCKET_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs"})


def _missing_bucket(ufs: UnderFileSystem, ufs_root: str) -> str:
    """` (no bucket 'b')` when an object store's root is missing because its bucket is."""
    scheme, location = split_uri(ufs_root)
    bucket = location.strip("/").split("/")[0]
    if scheme not in _BUCKET_SCHEMES or not bucket:
        return ""
    try:
        return "" if ufs.exists(f"{scheme}://{bucket}") else f" (no bucket {bucket!r})"
    except UfsError:
        return ""


def _check_local_root(location: str, allowed_roots: Sequence[str], original: str) -> None:
    if not within_allowed(location, allowed_roots):
        allowed = [os.path.realpath(root) for root in allowed_roots]
        where = ", ".join(allowed) if allowed else "none are configured"
        raise InvalidArgument(
            f"local UFS root {original} is not under an allowed local root ({where})"
        )


def _identity(ufs_root: str) -> str:
    # Two spellings of one local directory (symlinks, `..`) are the same root.
    scheme, location = split_uri(ufs_root)
    if scheme == "file":
        return normalize_uri("file://" + os.path.realpath(location))
    return ufs_root
