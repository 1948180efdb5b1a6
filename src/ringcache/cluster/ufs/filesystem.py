"""Under file system access, through fsspec only.

Every URI handed in or out keeps its scheme (`file:///srv/a`, `s3://b/k`): fsspec strips
protocols from the paths it returns, so this module adds them back. URIs are normalized
as text first (`paths.normalize_uri`), so a raw `..` never reaches a filesystem.

Listing order (the order `UnderFileSystem.list_files` yields files and the order its
`start_after` cursor is compared in): depth first, the entries of each directory visited
sorted by name (Python string order, i.e. by Unicode code point, which is also UTF-8 byte
order). Equivalently: files sorted by the tuple of their path segments below the listed
directory, so `a/b` (`("a", "b")`) comes before `a.txt` (`("a.txt",)`) even though the
raw string `"a.txt"` sorts before `"a/b"`. Where a store has both a file `a` and a
directory `a/` (S3 can), the file comes first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from ..errors import InvalidArgument, RingcacheError, UfsError, UfsNotFound
from ..paths import normalize_uri, relative_to, split_uri
from .failures import explain
from .local_file import LocalFile
from .local_roots import LocalConfinement, local_locations, open_regular, require_regular
from .names import filesystem_class
from .options import check_options, constructor_kwargs
from .redaction import redact_options
from .status import FileStatus, local_status
from .status import FileVersion as FileVersion  # where most callers import it from

_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")
_ETAG_KEYS = ("ETag", "etag")


class UnderFileSystem:
    """One fsspec filesystem (a scheme plus its options) behind the UFS calls a worker needs.

    Guarantees: every error is a `UfsNotFound` (the file does not exist) or a `UfsError`
    (anything else the UFS did), never a bare fsspec/OS exception; returned paths are full
    URIs with the caller's scheme; listings stream one directory at a time and resume
    exactly after a cursor. `uri` may be any URI on the filesystem (usually a mount root):
    only its scheme matters, and calls accept any URI of that scheme. With `allowed_roots`
    on a filesystem that reaches the local disk, `uri` is the mount root and every stat,
    read and local path is of a file whose real path (symlinks resolved at that moment)
    stays under it and under an allowed root, else `OutsideLocalRoots`, nothing read.
    """

    def __init__(
        self,
        uri: str,
        options: Mapping[str, str] | None = None,
        *,
        allowed_roots: Sequence[str] | None = None,
    ) -> None:
        self.scheme, location = split_uri(uri)
        cls = filesystem_class(self.scheme)
        self.options = check_options(options or {})
        try:
            self.fs = cls(**constructor_kwargs(cls, self.scheme, self.options))
        except Exception as exc:
            raise InvalidArgument(
                f"cannot open a {self.scheme}:// filesystem with options "
                f"{redact_options(self.options)}: {exc}"
            ) from None
        # The local disk is listed with os.scandir: fsspec's `ls` builds a dict of ten
        # fields per file, which made listing most of a small-file load's coordinator time.
        self._local = isinstance(self.fs, LocalFileSystem)
        self._confinement: LocalConfinement | None = None
        if allowed_roots is not None:
            roots = local_locations(self.scheme, location, self.options)
            if roots:
                self._confinement = LocalConfinement(roots, allowed_roots)

    def __repr__(self) -> str:
        return f"UnderFileSystem({self.scheme!r}, options={sorted(self.options)})"

    def stat(self, uri: str) -> FileStatus:
        """Size and version of a file; UfsNotFound if missing, UfsError for a directory."""
        path = self._fs_path(uri)
        if self._local:
            return self._local_status(uri, path)
        if self._confinement is not None:
            self._confine(path, uri)
        info = self._call(uri, self._info, path)
        if info.get("type") != "file":
            raise UfsError(f"{self._uri(path)} is not a regular file", path=self._uri(path))
        return self._status(info)

    def read(self, uri: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset + length)` of a file (to its end if `length` is None)."""
        if offset < 0 or (length is not None and length < 0):
            raise InvalidArgument(f"offset {offset} and length {length} must not be negative")
        path = self._fs_path(uri)
        if self._local:  # from the file checked, opened once
            with self._call(uri, self._open_local, uri, path) as opened:
                size = opened.status.size if length is None else offset + length
                return opened.read(offset, max(0, size - offset))
        if self._confinement is not None:
            self._confine(path, uri)
        if length == 0:
            return b""
        end = None if length is None else offset + length
        return self._call(uri, self.fs.cat_file, path, start=offset, end=end)

    def open_local(self, uri: str) -> LocalFile | None:
        """`uri` opened for reading when this UFS is the local disk, else None: every byte
        read through it is of the file whose real path was checked then (see
        `LocalConfinement.open`). The caller closes it."""
        if self.scheme != "file":
            return None
        return self._call(uri, self._open_local, uri, self._fs_path(uri))

    def local_path(self, uri: str) -> str | None:
        """The operating-system path of `uri` when this UFS is the local disk, else None
        (lets a worker copy local files with the kernel instead of through Python)."""
        if self.scheme != "file":
            return None
        path = self._fs_path(uri)
        if self._confinement is not None:
            self._confinement.check(path, uri)
        return path

    def local_roots(self) -> tuple[str, ...]:
        """The real paths every local file this UFS reads is confined to (see
        `LocalConfinement`); () if it is not the local disk, or not confined."""
        return () if self._confinement is None else self._confinement.inside.roots

    def is_dir(self, uri: str) -> bool:
        return self._call(uri, self.fs.isdir, self._fs_path(uri))

    def exists(self, uri: str) -> bool:
        return self._call(uri, self.fs.exists, self._fs_path(uri))

    def list_files(
        self, uri: str, *, page_size: int = 1000, start_after: str | None = None
    ) -> Iterator[list[FileStatus]]:
        """Every file under `uri` (or `uri` itself if it is a file), in pages, in listing order.

        See the module docstring for the order. `start_after` is the last path a previous
        run yielded: the listing resumes right after it, and directories that sort wholly
        before it are never listed. Symlinked directories are not followed (no loops, no
        way out of the root); symlinked files are listed. Arguments are checked here,
        the UFS is first touched when the iterator is advanced.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidArgument(f"page_size must be a positive integer, not {page_size!r}")
        top = self._fs_path(uri)
        cursor: tuple[str, ...] | None = None
        if start_after is not None:
            below = relative_to(self._fs_path(start_after), top)
            cursor = tuple(below.split("/")) if below else ()
        return self._pages(uri, top, cursor, page_size)

    def list_dir(self, uri: str) -> list[tuple[FileStatus, bool]]:
        """The entries directly under a directory, in listing order, each with `is_dir`."""
        directory = self._fs_path(uri)
        if not self.is_dir(uri):
            raise UfsNotFound(f"{uri} is not a directory on the UFS", path=uri)
        entries = []
        for entry in self._children(directory, None):
            if isinstance(entry, FileStatus):
                entries.append((entry, False))
            else:
                entries.append((FileStatus(self._uri(entry[0]), 0, None, None), True))
        return entries

    # -- internals ---------------------------------------------------------------------

    def _pages(
        self, uri: str, top: str, cursor: tuple[str, ...] | None, page_size: int
    ) -> Iterator[list[FileStatus]]:
        info = self._call(uri, self._info, top)
        if info.get("type") == "file":
            if cursor is None:
                yield [self._status(info)]
            return
        page: list[FileStatus] = []
        for status in self._walk(top, cursor or None):
            page.append(status)
            if len(page) >= page_size:
                yield page
                page = []
        if page:
            yield page

    def _walk(self, top: str, cursor: tuple[str, ...] | None) -> Iterator[FileStatus]:
        # An explicit stack of per-directory generators: one listing per level in memory,
        # and no recursion limit on deep trees.
        stack = [self._children(top, cursor)]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
            elif isinstance(entry, FileStatus):
                yield entry
            else:
                stack.append(self._children(*entry))

    def _children(
        self, directory: str, cursor: tuple[str, ...] | None
    ) -> Iterator[FileStatus | tuple[str, tuple[str, ...] | None]]:
        """Files (as FileStatus) and subdirectories (as `(path, cursor)`) in listing order."""
        try:
            if self._local:
                entries = _local_entries(directory)
            else:
                self.fs.invalidate_cache(directory)
                entries = self._entries(directory, self.fs.ls(directory, detail=True))
        except FileNotFoundError:
            return  # removed since its parent was listed: nothing left to yield
        except Exception as exc:
            raise UfsError(f"cannot list {self._uri(directory)}: {explain(exc)}") from None
        entries.sort(key=lambda entry: (entry[0], entry[1]))
        for name, is_dir, info in entries:
            sub_cursor: tuple[str, ...] | None = None
            if cursor is not None:
                head = cursor[0]
                if name < head:
                    continue  # wholly before the cursor: skipped without listing it
                if name == head:
                    if not is_dir:
                        continue  # the cursor itself, or a file sorting before `head/...`
                    sub_cursor = cursor[1:] or None
                else:
                    cursor = None  # everything from here on comes after the cursor
            if is_dir:
                yield (info["name"].rstrip("/"), sub_cursor)
            elif self._local:  # `_local_entries` gives the size and mtime exactly: no guessing
                yield FileStatus(self._uri(info["name"]), info["size"], info["mtime"], None)
            else:
                yield self._status(info)

    def _entries(self, directory: str, listing: list[dict[str, Any]]) -> list[_Entry]:
        entries = []
        for info in listing:
            kind = self._kind(info)
            name = info["name"].rstrip("/").rsplit("/", 1)[-1]
            if kind is not None and info["name"].rstrip("/") != directory.rstrip("/"):
                entries.append((name, kind == "directory", info))
        return entries

    def _kind(self, info: dict[str, Any]) -> str | None:
        kind = info.get("type")
        if kind == "other" and info.get("islink"):
            # fsspec's local `ls` reports every symlink as "other"; follow file links only.
            try:
                target = self._info(info["name"])
            except OSError:
                return None  # a broken link
            if target.get("type") == "file":
                info.update(size=target["size"], mtime=target.get("mtime"))
                return "file"
            return None
        return kind if kind in ("file", "directory") else None

    def _info(self, path: str) -> dict[str, Any]:
        self.fs.invalidate_cache(path)  # a stale listing cache would hide a new version
        return self.fs.info(path)

    def _local_status(self, uri: str, path: str) -> FileStatus:
        """A local file's status from one `stat` (what fsspec's `info` reads of it), of
        the file whose real path was checked if confined."""
        confinement = self._confinement
        stat = os.stat if confinement is None else partial(confinement.stat, uri=uri)
        found = self._call(uri, stat, path)
        require_regular(found, self._uri(path))
        return local_status(self._uri(path), found)

    def _open_local(self, uri: str, path: str) -> LocalFile:
        confinement = self._confinement
        fd, found = (open_regular if confinement is None else confinement.open)(path, uri)
        return LocalFile(fd, local_status(self._uri(path), found))

    def _status(self, info: dict[str, Any]) -> FileStatus:
        return FileStatus(
            path=self._uri(info["name"].rstrip("/")),
            size=int(info.get("size") or 0),
            mtime=_mtime(info),
            etag=_etag(info),
        )

    def _fs_path(self, uri: str) -> str:
        if self.scheme == "file" and _canonical_file(uri):
            return uri[7:]  # as mount resolution gives them: nothing to parse or normalize
        scheme, _ = split_uri(uri)
        if scheme != self.scheme:
            raise InvalidArgument(f"{uri!r} is not on this {self.scheme}:// filesystem")
        return self.fs._strip_protocol(normalize_uri(uri))

    def _confine(self, fs_path: str, uri: str) -> None:
        # The local disk's own path, or the ones a wrapper of it (`simplecache`, `dir`) reaches.
        local = [fs_path] if self._local else local_locations(self.scheme, fs_path, self.options)
        for location in local:
            self._confinement.check(location, uri)  # type: ignore[union-attr]

    def _uri(self, fs_path: str) -> str:
        return f"{self.scheme}://{fs_path}"

    def _call(self, uri: str, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except RingcacheError:
            raise
        except FileNotFoundError:
            raise UfsNotFound(f"{uri} does not exist on the UFS", path=uri) from None
        except PermissionError as exc:
            raise UfsError(
                f"access to {uri} was denied (bad credentials or no permission): {exc}",
                path=uri,
            ) from None
        except Exception as exc:
            raise UfsError(f"UFS call on {uri} failed: {explain(exc)}", path=uri) from None


def _canonical_file(uri: str) -> bool:
    """Whether `uri` is a `file:///` URI that normalizing leaves as it is (no `.`, `..`,
    `//`, trailing slash or NUL), so its local path is the text after `file://`."""
    return (
        uri.startswith("file:///")
        and "/." not in uri
        and "//" not in uri[8:]
        and not uri.endswith("/")
        and "\x00" not in uri
    )


_Entry = tuple[str, bool, dict[str, Any]]  # name, is a directory, fsspec-style info


def _local_entries(directory: str) -> list[_Entry]:
    """A local directory's files and subdirectories as fsspec's local `ls` and `_kind`
    would give them: symlinks to files are files (with the target's size and mtime),
    symlinks to directories, broken links and special files are left out."""
    entries: list[_Entry] = []
    with os.scandir(directory) as listing:
        for entry in listing:
            try:
                if entry.is_dir(follow_symlinks=False):
                    entries.append((entry.name, True, {"name": entry.path}))
                    continue
                if not entry.is_file(follow_symlinks=True):
                    continue
                stat = entry.stat(follow_symlinks=True)
            except OSError:  # removed, or a broken link, since the directory was read
                continue
            info = {"name": entry.path, "size": stat.st_size, "mtime": stat.st_mtime}
            entries.append((entry.name, False, info))
    return entries


def _mtime(info: Mapping[str, Any]) -> float | None:
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _etag(info: Mapping[str, Any]) -> str | None:
    for key in _ETAG_KEYS:
        value = info.get(key)
        if value:
            return str(value).strip('"')
    return None
