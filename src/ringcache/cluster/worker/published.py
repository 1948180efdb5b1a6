"""Cached files a reader on the worker's host may read without asking: a table in a file
that the worker writes and its same-host readers map.

A same-host read of a wholly cached file is answered with the descriptor of its data
file (`dataserver.local_reads`): one round trip to the owner per file, which for a small
file costs many times the read itself. So when the owner answers such a read, and the
file may be read again without asking (`Reads.reusable_span`: every page cached, no rule
that could make the copy unservable without dropping it), it also writes where the file's
bytes are into this table. A reader that finds the file here reads the data file itself,
by its path, and tells the owner afterwards (`client.read_notes`), which counts the hit
and keeps the pages recent, as if it had asked. The entry also says the cached version's
size, mtime and etag, so a reader can answer a `stat` of the file without asking.

    header (one slot long)  magic, slots, generation, valid_until (CLOCK_MONOTONIC seconds)
    slot i                  seq, epoch, generation, base, size, name hash, mtime, and the
                            data file's path and the version's etag (UTF-8)

A slot is found by the hash of the name the reader asked by (its UFS URI), probing
PROBES slots from `hash % slots`. An entry is valid only while

- the worker's `ChangeEpoch` is stable at the `epoch` the entry was written at: any
  change that may take bytes away from a cached page (an eviction, a file forgotten)
  moves it on, which invalidates every entry at once, as it does held descriptors;
- its `generation` is the header's: the worker moves the header's on when the rules or
  the mount table in force change, and when it starts;
- the header's `valid_until` is ahead: the worker renews it every RENEW_SECONDS for
  LEASE_SECONDS, so a table whose worker stopped or hangs lapses by itself.

A reader takes the epoch (stable), finds a valid entry, reads the data file and then
finds the epoch still there: then no byte it read can have been dropped meanwhile (the
same seqlock as a descriptor handed over). Each slot is written under a sequence count of
its own (odd while written), so a reader never takes half of one entry and half of
another. One writer (the worker's event loop); x86's store order is relied on, as the
epoch's counters do.
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from .epoch import begun, stable

SLOTS = 1 << 16  # files published at once, at most (a sparse file: 16 MiB if all are used)
PROBES = 8  # slots tried per name
LEASE_SECONDS = 2.0  # a table not renewed for this long is no longer read
RENEW_SECONDS = 0.5  # how often the worker renews it (and looks for changed rules)
MAGIC = 0x5243505542460001  # "RCPUBF" and the layout's version

_HEADER = struct.Struct("<QQQd")
_SEQ = struct.Struct("<Q")
# epoch, generation, base, size, name hash, mtime (NaN: none), path bytes, etag bytes
_ENTRY = struct.Struct("<QQQQ16sdHB")
SLOT_BYTES = 256
MOST_TEXT = SLOT_BYTES - _SEQ.size - _ENTRY.size  # a longer path and etag: not published
_ENTRY_AT = _SEQ.size
_TEXT_AT = _SEQ.size + _ENTRY.size
_HASH_AT = _ENTRY_AT + struct.calcsize("<QQQQ")  # where an entry's name hash is
_NO_MTIME = float("nan")


def name_hash(name: str) -> bytes:
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _slot_offset(slot: int) -> int:
    return SLOT_BYTES * (1 + slot)  # the header takes the first slot's room


class PublishedFiles:
    """The worker's side: writes entries and keeps the table's lease (see the module's doc).

    Guarantees: the file is never truncated (a reader's mapping stays valid across
    restarts); opening it moves the generation on, so nothing a previous run wrote is
    read; `withdraw_all` (at stop) makes the table lapse at once. One writer: called
    from one thread (the worker's event loop)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = _slot_offset(SLOTS)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        magic, slots, generation, _ = _HEADER.unpack_from(self._map, 0)
        self.generation = generation + 1 if (magic, slots) == (MAGIC, SLOTS) else 1
        _HEADER.pack_into(self._map, 0, MAGIC, SLOTS, self.generation, 0.0)

    def renew(self, changed: bool) -> None:
        """Extend the lease; with `changed` (the rules or mounts in force changed), every
        entry written so far is invalid first."""
        if changed:
            self.generation += 1
        _HEADER.pack_into(
            self._map, 0, MAGIC, SLOTS, self.generation, time.monotonic() + LEASE_SECONDS
        )

    def withdraw_all(self) -> None:
        self.generation += 1
        _HEADER.pack_into(self._map, 0, MAGIC, SLOTS, self.generation, 0.0)

    def publish(
        self,
        name: str,
        data_path: str,
        base: int,
        size: int,
        epoch: int,
        mtime: float | None = None,
        etag: str | None = None,
    ) -> bool:
        """The file a reader asks for by `name` is `[base, base + size)` of `data_path`
        (at the version of `mtime` and `etag`) while the change epoch stays at `epoch`;
        False if the path and etag are too long to keep."""
        path = os.fsencode(data_path)
        tag = b"" if etag is None else etag.encode("utf-8", "surrogatepass")
        if len(path) + len(tag) > MOST_TEXT or len(tag) > 255:
            return False
        wanted = name_hash(name)
        at = _slot_offset(self._slot_for(wanted, epoch))
        table = self._map
        (seq,) = _SEQ.unpack_from(table, at)
        seq |= 1  # odd: being written (a slot left odd by a crash is rewritten whole)
        _SEQ.pack_into(table, at, seq)
        when = _NO_MTIME if mtime is None else mtime
        entry = (epoch, self.generation, base, size, wanted, when, len(path), len(tag))
        _ENTRY.pack_into(table, at + _ENTRY_AT, *entry)
        table[at + _TEXT_AT : at + _TEXT_AT + len(path) + len(tag)] = path + tag
        _SEQ.pack_into(table, at, seq + 1)
        return True

    def _slot_for(self, wanted: bytes, epoch: int) -> int:
        """The slot holding `wanted` already, else the first one holding nothing valid,
        else the first probed (its file is asked for again, and published again)."""
        first = int.from_bytes(wanted[:8], "little") % SLOTS
        free = None
        for probe in range(PROBES):
            slot = (first + probe) % SLOTS
            at = _slot_offset(slot) + _ENTRY_AT
            held_epoch, generation, _, _, held, _, _, _ = _ENTRY.unpack_from(self._map, at)
            if held == wanted:
                return slot
            if free is None and (held_epoch != epoch or generation != self.generation):
                free = slot
        return first if free is None else free


@dataclass(frozen=True)
class PublishedFile:
    """Where a published file's bytes are: `[base, base + size)` of `path`, while the
    change epoch stays at `epoch`; and the cached version's `mtime` and `etag`."""

    path: str
    base: int
    size: int
    epoch: int
    mtime: float | None = None
    etag: str | None = None


class PublishedView:
    """A reader's side: the table (`table`, a mapping of the file) and the worker's change
    epoch (`epoch`, a mapping of its counters), read only."""

    def __init__(self, table: mmap.mmap, epoch: mmap.mmap) -> None:
        self.table = table
        self.epoch = epoch

    @classmethod
    def open(cls, path: str, epoch: mmap.mmap) -> PublishedView | None:
        """A view of the table at `path`; None if there is none this process may map."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < _slot_offset(SLOTS):
                return None
            table = mmap.mmap(fd, _slot_offset(SLOTS), prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        magic, slots, _, _ = _HEADER.unpack_from(table, 0)
        return cls(table, epoch) if (magic, slots) == (MAGIC, SLOTS) else None

    def generation_now(self) -> int | None:
        """The table's generation, while its lease is ahead; else None."""
        _, _, generation, valid_until = _HEADER.unpack_from(self.table, 0)
        return generation if time.monotonic() < valid_until else None

    def find(self, name: str) -> PublishedFile | None:
        """The file asked for by `name`, if it is published and valid now."""
        table = self.table
        wanted = name_hash(name)
        first = int.from_bytes(wanted[:8], "little") % SLOTS
        for probe in range(PROBES):
            at = _slot_offset((first + probe) % SLOTS)
            if table[at + _HASH_AT : at + _HASH_AT + len(wanted)] != wanted:
                continue  # (a miss, the common case for a file not cached: no more read)
            _, _, generation, valid_until = _HEADER.unpack_from(table, 0)
            epoch = stable(self.epoch)
            if epoch is None or time.monotonic() >= valid_until:
                return None
            (seq,) = _SEQ.unpack_from(table, at)
            entry = _ENTRY.unpack_from(table, at + _ENTRY_AT)
            if entry[4] != wanted:
                continue
            held_epoch, held_generation, base, size, _, mtime, length, tagged = entry
            text = table[at + _TEXT_AT : at + _TEXT_AT + length + tagged]
            if seq & 1 or _SEQ.unpack_from(table, at)[0] != seq:
                return None  # being written: ask instead
            if held_epoch != epoch or held_generation != generation:
                return None
            path, tag = os.fsdecode(text[:length]), text[length:]
            etag = tag.decode("utf-8", "surrogatepass") if tagged else None
            return PublishedFile(
                path, base, size, epoch, None if math.isnan(mtime) else mtime, etag
            )
        return None

    def still(self, found: PublishedFile) -> bool:
        """Whether no change that may take bytes away began since `found` was found: what
        was read from it since is right."""
        return begun(self.epoch) == found.epoch
