"""A file of a local-disk UFS opened once, so that every byte read of it, here or by
whoever it is handed to, is of the file whose path was checked when it was opened."""

from __future__ import annotations

import os

from .status import FileStatus, FileVersion, local_status


class LocalFile:
    """An open, readable descriptor of a local UFS file and its status when opened.

    Guarantees: `fd` stays the same file for as long as it is open, whatever its path
    names later (a rename over it, a link made in its place); `version_now` is that file's
    version now (a write to it changes it; a new file at its path does not). Its holder
    closes it (`close`, or `with`); one dropped unclosed is closed when collected, so a
    read that fails half-way leaks no descriptor.
    """

    __slots__ = ("fd", "status")

    def __init__(self, fd: int, status: FileStatus) -> None:
        self.fd = fd
        self.status = status

    def __repr__(self) -> str:
        return f"LocalFile({self.status.path!r}, fd={self.fd})"

    @property
    def version(self) -> FileVersion:
        return self.status.version

    def version_now(self) -> FileVersion:
        return local_status(self.status.path, os.fstat(self.fd)).version

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer only at the file's end)."""
        parts = []
        while length > 0:
            data = os.pread(self.fd, length, offset)
            if not data:
                break
            parts.append(data)
            offset += len(data)
            length -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
