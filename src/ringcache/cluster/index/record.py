"""One version of a UFS file, as the file index keeps it and workers report it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One version of a UFS file: its canonical URI, length and version tags."""

    path: str
    length: int
    mtime: float | None = None
    etag: str | None = None

    def row(self) -> tuple[str, int, float | None, str | None]:
        return (self.path, self.length, self.mtime, self.etag)
