"""`PeerCopy` from a peer on this host that hands its data files over: the pages are
copied from them and kept only if the peer dropped nothing meanwhile; else (or for what
the peer does not hold) the bytes come as before, and nothing wrong is ever kept."""

from __future__ import annotations

import os
from pathlib import Path

from ringcache.cluster.cache.page_io import FileRange
from ringcache.cluster.worker import peer_copy
from ringcache.cluster.worker.peers import PEER_NOT_HELD, ActorPeerPages

from .fakes import PAGE, WORKER_A, WORKER_B, Parts, PeerRefs


class Handed:
    """Ranges handed over open; `unchanged` answers `still` (a drop on the peer: False)."""

    def __init__(self, ranges: list[FileRange | None], fds: list[int], still: bool) -> None:
        self.ranges = ranges
        self.fds = fds
        self.still = still

    def unchanged(self) -> bool:
        return self.still

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class Handing(ActorPeerPages):
    """A holder in this process that also hands over its data files, as a peer on this
    host does; with `garbled`, what it hands is other bytes (a punched page reads as
    zeros) and `unchanged` says the peer dropped pages meanwhile."""

    def __init__(self, peers: PeerRefs, holder: Parts, garbled: Path | None = None) -> None:
        super().__init__(peers)
        self.holder = holder
        self.garbled = garbled
        self.handed: list[Handed] = []

    async def hand_over(self, peer, asks):  # type: ignore[no-untyped-def]
        store, ranges, fds = self.holder.store, [], []
        for path, version, offset, length in asks:
            held = store.held([path])[0]
            span = store.span(path, offset, length, 0.0) if held and held[0] == version else None
            if span is None:
                ranges.append(None)
                continue
            source = os.devnull if length == 0 else self.garbled or span.path  # empty: no file
            fds.append(os.open(source, os.O_RDONLY))
            ranges.append(FileRange(fds[-1], span.offset, span.length))
        self.handed.append(Handed(ranges, fds, still=self.garbled is None))
        return self.handed[-1]


def loaded_on_holder(tmp_path: Path, run, datas: list[bytes]):  # type: ignore[no-untyped-def]
    holder = Parts(tmp_path, WORKER_A)
    peers = PeerRefs(**{WORKER_A: holder.transfers})
    fetcher = Parts(tmp_path, WORKER_B, peers=peers)
    fetcher.transfers.copier.bundle_bytes = 4 * PAGE  # the larger ones come by ranges
    fetcher.transfers.copier.chunk_bytes = 3 * PAGE
    uris = [holder.write(f"f{i}.bin", data) for i, data in enumerate(datas)]
    run(holder.mounts.refresh())
    run(fetcher.mounts.refresh())
    assert {a.status for a in run(holder.loads.load_batch(uris))} == {"LOADED"}
    entries = []
    for i, uri in enumerate(uris):
        entries.append((uri, *holder.store.file_info(uri).version, [WORKER_A]))
        (holder.ufs_root / f"f{i}.bin").unlink()  # from now on, only the peer has them
    return holder, peers, fetcher, uris, entries


DATAS = [b"", os.urandom(100), os.urandom(2 * PAGE + 3), os.urandom(10 * PAGE + 5)]


def test_handed_files_are_copied_without_asking_for_their_bytes(tmp_path: Path, run) -> None:
    holder, peers, fetcher, uris, entries = loaded_on_holder(tmp_path, run, DATAS)
    handing = fetcher.transfers.copier.peer_pages = Handing(peers, holder)
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 4
    assert peers.calls == []  # no byte asked of the peer: all copied from its files
    assert len(handing.handed) == 2  # the bundle of small files, and the large one
    assert all(not handed.fds for handed in handing.handed)  # every descriptor closed
    for uri, data in zip(uris, DATAS, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data


def test_pages_the_peer_may_have_dropped_while_copied_are_never_kept(tmp_path: Path, run) -> None:
    holder, peers, fetcher, uris, entries = loaded_on_holder(tmp_path, run, DATAS)
    zeros = tmp_path / "punched"
    zeros.write_bytes(bytes(20 * PAGE))
    handing = fetcher.transfers.copier.peer_pages = Handing(peers, holder, garbled=zeros)
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 4
    # The bundle asked again in one call, the large file's ranges one by one.
    assert peers.calls == ["read_cached_many"] + ["read_cached"] * 4
    assert all(not handed.fds for handed in handing.handed)
    for uri, data in zip(uris, DATAS, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data


def test_what_the_peer_does_not_hold_is_not_held_and_the_ufs_is_asked(tmp_path: Path, run) -> None:
    holder, peers, fetcher, uris, entries = loaded_on_holder(tmp_path, run, DATAS)
    fetcher.transfers.copier.peer_pages = Handing(peers, holder)
    run(holder.transfers.prune_batch(uris[1:]))
    for i, data in enumerate(DATAS):
        fetcher.write(f"f{i}.bin", data)
    entries = [
        (*e[:2], (fetcher.ufs_root / f"f{i}.bin").stat().st_mtime, *e[3:])
        for i, e in enumerate(entries)
    ]
    answers = run(fetcher.transfers.fetch_batch(entries[1:]))
    assert [(a.status, a.source, a.reason) for a in answers] == [
        ("LOADED", "ufs", PEER_NOT_HELD)
    ] * 3
    for uri, data in zip(uris[1:], DATAS[1:], strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data


def test_a_bundle_is_handed_over_a_few_files_at_a_time(tmp_path: Path, run, monkeypatch) -> None:
    """Each file handed over is a descriptor held open until copied: so many at a time."""
    monkeypatch.setattr(peer_copy, "HANDED_FILES", 2)
    holder, peers, fetcher, uris, entries = loaded_on_holder(tmp_path, run, DATAS)
    handing = fetcher.transfers.copier.peer_pages = Handing(peers, holder)
    answers = run(fetcher.transfers.fetch_batch(entries[:3]))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 3
    assert [len(handed.ranges) for handed in handing.handed] == [2, 1]
    assert peers.calls == []
    for uri, data in zip(uris[:3], DATAS[:3], strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data
