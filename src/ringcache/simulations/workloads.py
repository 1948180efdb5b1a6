"""Read workloads for `ringcache simulate train`: who reads which bytes, in what order.

A workload is a list of windows (an epoch, or a slice of a Zipf or trace run); each window
holds one list of reads per client, read in order by that client. Every pattern is
deterministic from its seed: the same arguments give the same reads.

- `epochs`: each epoch reads every file of the dataset once, whole, in a fresh seeded
  shuffle; the epoch's order is dealt round-robin to the clients (read `i` of the shuffle
  goes to client `i mod C`), as a data loader's workers split a shuffled epoch.
- `zipf`: `reads` whole-file reads, file popularity Zipf with exponent `s` over a seeded
  ranking of the files (s=0 is uniform), cut into `windows` equal windows, each window's
  reads dealt round-robin to the clients.
- `trace`: reads from a text file, one a line::

      # time path offset length
      0.000 /data/dir-0000/part-00000007.bin 0 -
      0.013 /data/dir-0000/part-00000003.bin 65536 131072

  `time` is seconds from the start of the replay (a read is not issued before it);
  `path` is a cluster path under the simulated mount (`/data/...`) or the file's UFS URI;
  `offset` is a byte offset; `length` a byte count, or `-` for "to the end of the file".
  Blank lines and lines starting with `#` are skipped; any other malformed line is an
  error naming its line number. Lines are dealt round-robin to the clients in file order,
  and cut into `windows` windows of equal line counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cluster.errors import InvalidArgument
from ..cluster.units import parse_size
from .namespace import SizeDistribution

PATTERNS = ("epochs", "zipf", "trace")


@dataclass(frozen=True)
class Read:
    """One read: `path` (a file of the dataset), its byte range (`length` None: to the end),
    and `at`, the replay time (seconds) before which it is not issued."""

    path: str
    offset: int = 0
    length: int | None = None
    at: float = 0.0


@dataclass(frozen=True)
class Window:
    """A stretch of the workload reported on its own: `label` ("epoch 1", "window 3") and
    each client's reads, in order."""

    label: str
    clients: list[list[Read]]

    @property
    def reads(self) -> int:
        return sum(len(reads) for reads in self.clients)


def parse_size_distribution(text: str) -> SizeDistribution:
    """`fixed:SIZE`, `lognormal:MEDIAN[:SIGMA[:MAX]]` or `uniform:MIN:MAX` (sizes as
    `64KiB`, `2MB` or bytes) as a `SizeDistribution`; InvalidArgument otherwise."""
    kind, _, rest = (text or "").partition(":")
    parts = rest.split(":") if rest else []
    try:
        if kind == "fixed" and len(parts) == 1:
            size = parse_size(parts[0])
            return SizeDistribution("fixed", median=size, min=size, max=size)
        if kind == "lognormal" and 1 <= len(parts) <= 3:
            sigma = float(parts[1]) if len(parts) > 1 else 1.0
            if not 0 <= sigma < 10:
                raise InvalidArgument(f"sigma must be in [0, 10), not {sigma}")
            top = parse_size(parts[2]) if len(parts) > 2 else SizeDistribution.max
            return SizeDistribution("lognormal", median=parse_size(parts[0]), sigma=sigma, max=top)
        if kind == "uniform" and len(parts) == 2:
            low, high = parse_size(parts[0]), parse_size(parts[1])
            if low > high:
                raise InvalidArgument(f"uniform needs MIN <= MAX, not {low} > {high}")
            return SizeDistribution("uniform", min=low, max=high)
    except ValueError as exc:
        raise InvalidArgument(f"bad size distribution {text!r}: {exc}") from None
    raise InvalidArgument(
        f"--size-dist is fixed:SIZE, lognormal:MEDIAN[:SIGMA[:MAX]] or uniform:MIN:MAX, "
        f"not {text!r}"
    )


def _deal(reads: list[Read], clients: int) -> list[list[Read]]:
    return [reads[c::clients] for c in range(clients)]


def _check(clients: int, files: int) -> None:
    if clients < 1:
        raise InvalidArgument(f"need at least one client, not {clients}")
    if files < 1:
        raise InvalidArgument(f"need at least one file, not {files}")


def epochs_workload(paths: list[str], epochs: int, clients: int, seed: int) -> list[Window]:
    """`epochs` epochs, each a seeded shuffle of every file, whole-file reads."""
    _check(clients, len(paths))
    if epochs < 1:
        raise InvalidArgument(f"need at least one epoch, not {epochs}")
    generator = np.random.Generator(np.random.PCG64(seed))
    windows = []
    for epoch in range(epochs):
        order = generator.permutation(len(paths)).tolist()
        reads = [Read(paths[i]) for i in order]
        windows.append(Window(f"epoch {epoch + 1}", _deal(reads, clients)))
    return windows


def zipf_workload(
    paths: list[str], reads: int, s: float, windows: int, clients: int, seed: int
) -> list[Window]:
    """`reads` whole-file reads of Zipf(`s`) popularity over a seeded ranking of the files."""
    _check(clients, len(paths))
    if reads < 1 or windows < 1 or not 0 <= s < 100:
        raise InvalidArgument(
            f"need reads >= 1, windows >= 1 and 0 <= s < 100, not {reads}, {windows}, {s}"
        )
    generator = np.random.Generator(np.random.PCG64(seed))
    rank = generator.permutation(len(paths))  # file i is the rank[i]-th most popular
    weights = 1.0 / np.power(rank + 1.0, s)
    chosen = generator.choice(len(paths), size=reads, p=weights / weights.sum()).tolist()
    return _cut([Read(paths[i]) for i in chosen], windows, clients)


def _cut(reads: list[Read], windows: int, clients: int) -> list[Window]:
    bounds = np.linspace(0, len(reads), min(windows, len(reads)) + 1).astype(int).tolist()
    return [
        Window(f"window {w + 1}", _deal(reads[bounds[w] : bounds[w + 1]], clients))
        for w in range(len(bounds) - 1)
    ]


def parse_trace(text: str) -> list[Read]:
    """The reads of a trace file's text (format in the module docstring)."""
    reads = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            if len(fields) != 4:
                raise ValueError("want 4 fields: time path offset length")
            at, path, offset = float(fields[0]), fields[1], int(fields[2])
            length = None if fields[3] == "-" else int(fields[3])
            if not at >= 0 or offset < 0 or (length is not None and length < 0):
                raise ValueError("time, offset and length must not be negative")
        except ValueError as exc:
            raise InvalidArgument(f"trace line {number}: {exc}: {line.strip()[:200]!r}") from None
        reads.append(Read(path, offset, length, at))
    if not reads:
        raise InvalidArgument("the trace holds no reads")
    return reads


def trace_workload(trace: str | Path, windows: int, clients: int) -> list[Window]:
    """A trace file's reads, dealt to `clients` in order and cut into `windows`."""
    if clients < 1 or windows < 1:
        raise InvalidArgument(f"need clients >= 1 and windows >= 1, not {clients}, {windows}")
    try:
        text = Path(trace).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read the trace {str(trace)!r}: {exc}") from None
    return _cut(parse_trace(text), windows, clients)
