"""A generated UFS namespace: file names and sizes computed from an index, not stored.

File `i` of `n` lives at `<root>/dir-<i // files_per_dir>/part-<i>.bin`, numbers
zero-padded to one width, so name order is number order and the UFS listing order
(segment by segment, see `cluster/ufs.py`) is simply index order. Only the sizes are
kept: one int64 per file (8 MB for a million files), drawn from the seed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..cluster.errors import InvalidArgument
from ..cluster.paths import normalize_uri

MiB = 1024**2


@dataclass(frozen=True)
class SizeDistribution:
    """File sizes in bytes: `fixed` (all `median`), `uniform` in [min, max], or `lognormal`
    around `median` with shape `sigma`; every draw is clipped to [min, max]."""

    kind: str = "lognormal"
    median: int = 2 * MiB
    sigma: float = 1.0
    min: int = 0
    max: int = 256 * MiB

    def draw(self, count: int, seed: int) -> np.ndarray:
        """`count` sizes as int64; the same seed always gives the same sizes."""
        generator = np.random.Generator(np.random.PCG64(seed))
        if self.kind == "fixed":
            sizes = np.full(count, self.median, dtype=np.float64)
        elif self.kind == "uniform":
            sizes = generator.uniform(self.min, self.max + 1, count)
        elif self.kind == "lognormal":
            sizes = generator.lognormal(math.log(max(self.median, 1)), self.sigma, count)
        else:
            raise InvalidArgument(f"unknown size distribution {self.kind!r}")
        return np.clip(np.floor(sizes), self.min, self.max).astype(np.int64)


class SimNamespace:
    """`files` files under `root` in directories of `files_per_dir`, with seeded sizes.

    Guarantees: `path(i)` and `index(path)` are inverse on the namespace's files;
    listing order equals index order; nothing per file is held but its size.
    """

    def __init__(
        self,
        root: str,
        files: int,
        *,
        files_per_dir: int = 1000,
        sizes: SizeDistribution | None = None,
        seed: int = 0,
        mtime: float = 1_700_000_000.0,
    ) -> None:
        if files < 0 or files_per_dir < 1:
            raise InvalidArgument(
                f"need files >= 0 and files_per_dir >= 1, not {files}, {files_per_dir}"
            )
        self.root = normalize_uri(root)
        self.files = files
        self.files_per_dir = files_per_dir
        self.dirs = -(-files // files_per_dir)
        self.mtime = mtime
        self.sizes = (sizes or SizeDistribution()).draw(files, seed)
        self.total_bytes = int(self.sizes.sum())
        self._dir_width = max(4, len(str(max(self.dirs - 1, 0))))
        self._file_width = max(8, len(str(max(files - 1, 0))))
        self._dir_prefix = self.root + "/"
        # One format per name kind, built once: names are made for every file many times.
        # A file's URI is its directory's head (kept per directory) and its number.
        self._dir_format = f"dir-{{:0{self._dir_width}d}}"
        self._number = f"%0{self._file_width}d.bin"
        self._heads: dict[int, str] = {}  # a directory's URI + "/part-", by its number
        # Every file URI has one length and its number at one place: a fast inverse of path().
        self._file_uri_length = len(self.path(0)) if files else -1
        self._digits_at = self._file_uri_length - len(".bin") - self._file_width
        self._digits_end = self._digits_at + self._file_width

    def __repr__(self) -> str:
        return f"SimNamespace({self.root!r}, files={self.files}, dirs={self.dirs})"

    # -- names -----------------------------------------------------------------------------

    def dir_name(self, d: int) -> str:
        return self._dir_format.format(d)

    def file_name(self, i: int) -> str:
        return "part-" + self._number % i

    def dir_uri(self, d: int) -> str:
        return self._dir_prefix + self.dir_name(d)

    def path(self, i: int) -> str:
        return self._head(i // self.files_per_dir) + self._number % i

    def size(self, i: int) -> int:
        return self.sizes.item(i)  # a Python int, without a numpy scalar on the way

    def paths(self, first: int, stop: int) -> list[str]:
        """`path(i)` for files `first <= i < stop`, made at once (a directory at a time: its
        head once, then a number per file)."""
        per_dir, number = self.files_per_dir, self._number
        paths: list[str] = []
        while first < stop:
            d = first // per_dir
            end = min(stop, (d + 1) * per_dir)
            head = self._head(d)
            paths += [head + number % i for i in range(first, end)]
            first = end
        return paths

    def chunks(self, size: int) -> Iterator[tuple[int, list[str]]]:
        """Every file's path, `size` at a time in index order: `(first index, paths)`. A
        pass over ten million files holds one chunk's paths, not all of them."""
        for first in range(0, self.files, size):
            yield first, self.paths(first, min(self.files, first + size))

    def paths_and_sizes(self, first: int, stop: int) -> zip[tuple[str, int]]:
        """`(path(i), size(i))` for files `first <= i < stop`: a listing page at once."""
        return zip(self.paths(first, stop), self.sizes[first:stop].tolist(), strict=True)

    def segments(self, i: int) -> tuple[str, str]:
        """File `i`'s path below the root, as segments: its key in listing order."""
        return (self.dir_name(i // self.files_per_dir), self.file_name(i))

    def dir_range(self, d: int) -> range:
        start = d * self.files_per_dir
        return range(start, min(self.files, start + self.files_per_dir))

    # -- lookups ---------------------------------------------------------------------------

    def index(self, uri: str) -> int | None:
        """The index of the file at `uri` (exactly as `path` spells it), else None."""
        if len(uri) == self._file_uri_length:
            digits = uri[self._digits_at : self._digits_end]
            if digits.isascii() and digits.isdigit():
                i = int(digits)
                # The number is in place, so the rest must be the text around it: what
                # `path(i)` would make, compared without making it.
                d = i // self.files_per_dir
                head = self._heads.get(d) or self._head(d)
                if i < self.files and uri.endswith(".bin") and uri.startswith(head):
                    return i
        return None

    def _head(self, d: int) -> str:
        """Directory `d`'s URI and "/part-": every file URI in it but the number."""
        head = self._heads.get(d)
        if head is None:
            head = self._heads[d] = f"{self.dir_uri(d)}/part-"
        return head

    def locate(self, uri: str) -> tuple[str, int] | None:
        """`("root", 0)`, `("dir", d)` or `("file", i)` for a URI of the namespace, else None."""
        i = self.index(uri)
        if i is not None:
            return ("file", i)
        if uri == self.root:
            return ("root", 0)
        if not uri.startswith(self._dir_prefix):
            return None
        parts = uri[len(self._dir_prefix) :].split("/")
        d = _number(parts[0], "dir-", "", self._dir_width)
        if d is None or d >= self.dirs:
            return None
        if len(parts) == 1:
            return ("dir", d)
        if len(parts) == 2:
            i = _number(parts[1], "part-", ".bin", self._file_width)
            if i is not None and i in self.dir_range(d):
                return ("file", i)
        return None

    def first_after(self, cursor: tuple[str, ...], files: range, depth: int) -> int:
        """The first index in `files` whose segments below `depth` sort after `cursor`."""
        position = bisect_right(
            files, cursor, key=lambda i: self.segments(i)[depth:]
        )  # `files` is sorted in listing order, so a bisection finds the cut
        return files.start + position


def _number(name: str, prefix: str, suffix: str, width: int) -> int | None:
    """The number in `<prefix><digits><suffix>` if written exactly as the namespace writes it."""
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    digits = name[len(prefix) : len(name) - len(suffix)]
    if not digits.isascii() or not digits.isdigit() or len(digits) < width:
        return None
    value = int(digits)
    # Exactly one spelling per file: "dir-01" or "dir-00001" are not "dir-0001".
    return value if digits == f"{value:0{width}d}" else None
