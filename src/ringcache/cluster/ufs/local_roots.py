"""Where a UFS reaches the local disk, and keeping it inside the roots it may read.

A mount is checked against the allowed local roots when it is made (`check_mount`), but a
symlink created inside it afterwards (to `/etc/passwd`, or a directory link out of the
tree) would still be followed by a load or a read. `LocalConfinement` checks the real path
of every file a local-disk UFS stats, reads or hands out, so nothing outside is touched.

Where Linux allows (`/proc/self/fd` and `O_PATH`), a file is opened once and its
descriptor's own path is what is checked: what is then read or stat'ed is the file that
passed, even if its path is made a link elsewhere right after (`LocalConfinement.open`,
`stat`). Elsewhere the path is resolved and then opened, with a moment between the two.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from stat import S_ISREG

from fsspec.implementations.local import LocalFileSystem

from ..errors import FailureReason, InvalidArgument, UfsError
from ..paths import is_within
from .names import filesystem_class


class OutsideLocalRoots(UfsError):
    """A file whose real path (symlinks resolved) leaves its mount root or the allowed
    local roots: nothing of it is read. A job fails it with `OUTSIDE_LOCAL_ROOTS`; a read
    answers 403."""

    status_code = 403

    def __init__(self, message: str, **details: object) -> None:
        details.pop("reason", None)
        super().__init__(message, reason=FailureReason.OUTSIDE_LOCAL_ROOTS, **details)


def reaches_local_disk(protocol: object) -> bool:
    """Whether fsspec's filesystem for `protocol` is the local disk (`file`, `local`)."""
    try:
        return issubclass(filesystem_class(str(protocol)), LocalFileSystem)
    except InvalidArgument:
        return False


def local_locations(scheme: str, location: str, options: Mapping[str, str]) -> list[str]:
    """The local paths a UFS location reaches, whatever the protocol: its own when its
    fsspec filesystem is the local disk (`file`, `local`), or when it wraps one
    (`simplecache`, `filecache`, `dir`, ... with a local `target_protocol`; `dir` roots it
    at `path`), and an archive's local file (`fo`). Each must be under an allowed root."""
    target = options.get("target_protocol")
    found = []
    if reaches_local_disk(scheme) or (target is not None and reaches_local_disk(target)):
        base = options.get("path")
        found.append(os.path.join(str(base), location.lstrip("/")) if base else location)
    archive = options.get("fo")
    if archive is not None and (target is None or reaches_local_disk(target)):
        found.append(str(archive).removeprefix("file://"))
    return found


def within_allowed(location: str, allowed_roots: Sequence[str]) -> bool:
    """Whether `location`'s real path is under the real path of one of `allowed_roots`."""
    real = os.path.realpath(location)
    return any(is_within(real, os.path.realpath(root)) for root in allowed_roots)


_PROC_FDS = "/proc/self/fd"
_BY_DESCRIPTOR = os.path.isdir(_PROC_FDS) and hasattr(os, "O_PATH")


def real_path(path: str) -> str:
    """`os.path.realpath(path)`, in a quarter of the time where Linux allows: the kernel
    resolves the path once in an `O_PATH` open (which reads no byte) and names what it
    reached, where `realpath` costs an lstat and Python work per segment (it was a seventh
    of a small file's load). A path that does not resolve falls back to `realpath`."""
    if _BY_DESCRIPTOR:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return os.path.realpath(path)
        try:
            return os.readlink(f"{_PROC_FDS}/{fd}")
        finally:
            os.close(fd)
    return os.path.realpath(path)


def descriptor_path(fd: int) -> str:
    """The real path of what `fd` is open on, as the kernel names it (`/proc/self/fd`;
    OSError where there is none)."""
    return os.readlink(f"{_PROC_FDS}/{fd}")


class RealRoots:
    """Real paths (symlinks resolved), and whether a real path is one of them or under one
    (a string test: the caller resolves the path)."""

    __slots__ = ("roots", "_prefixes")

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = tuple(roots)
        self._prefixes = tuple(root.rstrip("/") + "/" for root in self.roots)

    def __repr__(self) -> str:
        return f"RealRoots({self.roots!r})"

    def hold(self, real: str) -> bool:
        return real in self.roots or real.startswith(self._prefixes)


class LocalConfinement:
    """Keeps a local-disk UFS inside its mount root, itself inside the allowed roots.

    Guarantees: `check` passes a path only if its real path, resolved at the time of the
    call (so a symlink made after the mount counts), is the real mount root or below it,
    and that real root is under an allowed root; otherwise it raises `OutsideLocalRoots`
    naming the file. The mount root's real path is taken once, when the UFS is opened: a
    root whose link is later pointed elsewhere leaves every file outside. A check costs
    one `real_path` and a string prefix test.
    """

    def __init__(self, roots: Sequence[str], allowed_roots: Sequence[str]) -> None:
        real = [os.path.realpath(root) for root in roots]
        self.inside = RealRoots(root for root in real if within_allowed(root, allowed_roots))

    def __repr__(self) -> str:
        return f"LocalConfinement({self.inside.roots!r})"

    def check(self, path: str, uri: str) -> None:
        """Raise OutsideLocalRoots unless `path` (the local path of `uri`) stays inside."""
        self._passes(real_path(path), uri)

    def stat(self, path: str, uri: str) -> os.stat_result:
        """`os.stat(path)`, of the file whose real path was checked (raises as `check`,
        and FileNotFoundError if there is none)."""
        if not _BY_DESCRIPTOR:
            self.check(path, uri)
            return os.stat(path)
        reached = self._reach(path, uri)
        try:
            return os.fstat(reached)
        finally:
            os.close(reached)

    def open(self, path: str, uri: str) -> tuple[int, os.stat_result]:
        """`open_regular(path)`, of the file whose real path was checked (raises as
        `stat`): nothing outside is opened for reading."""
        if not _BY_DESCRIPTOR:
            self.check(path, uri)
            return open_regular(path, uri)
        return _reopened(self._reach(path, uri), uri)

    def _reach(self, path: str, uri: str) -> int:
        """An `O_PATH` descriptor (it reads nothing) of what `path` resolves to now, whose
        own real path passed; the caller closes it."""
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            self._passes(descriptor_path(fd), uri)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _passes(self, real: str, uri: str) -> None:
        if self.inside.hold(real):
            return
        raise OutsideLocalRoots(
            f"{uri} resolves to {real}, outside its mount root and the allowed local roots: "
            "nothing was read",
            path=uri,
        )


def open_regular(path: str, uri: str) -> tuple[int, os.stat_result]:
    """A descriptor of `path` open for reading, and its status, if it is a regular file
    (else UfsError; FileNotFoundError if there is none): no pipe or device is opened for
    reading, so none blocks or acts. The caller closes it."""
    if _BY_DESCRIPTOR:
        return _reopened(os.open(path, os.O_PATH | os.O_CLOEXEC), uri)
    require_regular(os.stat(path), uri)  # no pipe opened, unless made in its place meanwhile
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        status = os.fstat(fd)
        require_regular(status, uri)
    except BaseException:
        os.close(fd)
        raise
    return fd, status


def _reopened(reached: int, uri: str) -> tuple[int, os.stat_result]:
    """What the `O_PATH` descriptor `reached` is (it is closed), opened for reading
    through it (the same file, whatever its path names now), and its status."""
    try:
        status = os.fstat(reached)
        require_regular(status, uri)
        return os.open(f"{_PROC_FDS}/{reached}", os.O_RDONLY | os.O_CLOEXEC), status
    finally:
        os.close(reached)


def require_regular(status: os.stat_result, uri: str) -> None:
    """Raise UfsError unless `status` is of a regular file (`uri`'s)."""
    if not S_ISREG(status.st_mode):
        raise UfsError(f"{uri} is not a regular file", path=uri)
