"""`Transfers`: the rebalance listing leaves out what the ring settles; files come from a
peer when one holds them whole, else from the UFS; owners answer only for whole files."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ringcache.cluster.errors import InvalidArgument
from ringcache.cluster.ring.hash_ring import HashRing
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker import peer_copy
from ringcache.cluster.worker.peers import (
    PEER_NOT_HELD,
    PEER_SHORT_READ,
    PEER_UNAVAILABLE,
    ActorPeerPages,
    PeerFetchFailed,
)

from .fakes import PAGE, WORKER_A, WORKER_B, Parts, PeerRefs


class CutAfter(ActorPeerPages):
    """Peer pages whose answers for `path` are cut after `ranges` range reads of it."""

    def __init__(self, peers: PeerRefs, path: str, ranges: int) -> None:
        super().__init__(peers)
        self.path = path
        self.ranges = ranges
        self.asked: list[tuple[int, int]] = []

    async def fetch(self, peer, path, version, offset, length):  # type: ignore[no-untyped-def]
        if path != self.path:
            return await super().fetch(peer, path, version, offset, length)
        self.asked.append((offset, length))
        if len(self.asked) > self.ranges:
            raise PeerFetchFailed(f"{peer} went away mid-answer", PEER_SHORT_READ)
        return await super().fetch(peer, path, version, offset, length)


def test_owned_alone_and_whole_is_skipped_everything_else_is_listed(tmp_path: Path, run):
    parts = Parts(tmp_path)
    data = parts.ufs_root
    for i in range(40):
        (data / f"f{i:02d}.bin").write_bytes(os.urandom(1000 + i))
    run(parts.mounts.refresh())
    uris = [f"file://{data}/f{i:02d}.bin" for i in range(40)]
    answers = run(parts.loads.load_batch(uris, {}))
    assert {a.status for a in answers} == {"LOADED"}
    # One more file, held in part (its first page only): never settled.
    page_size = PAGE
    (data / "part.bin").write_bytes(os.urandom(2 * page_size + 1))
    partial = f"file://{data}/part.bin"
    version = FileVersion(2 * page_size + 1, (data / "part.bin").stat().st_mtime, None)
    parts.store.put_page(partial, 0, b"x" * page_size, 0.0, version=version)
    other = f"worker-{uuid.UUID(int=5)}"
    shape = HashRing([parts.worker_id, other], virtual_nodes=50)
    named = {"ring": shape.fingerprint(), "virtualNodes": 50, "replicas": 1}
    # A ring the worker does not know is asked for by name first: it wants the workers.
    assert run(parts.transfers.list_unsettled(None, 7, named)) == {"unknownRing": True}
    ring = {**named, "workers": [parts.worker_id, other]}
    mine = {u for u in uris if shape.owners(u) == [parts.worker_id]}
    assert 0 < len(mine) < 40
    uris.append(partial)

    listed, skipped, after, pages = [], [], None, 0
    while True:  # after the first page, the name is enough
        page = run(parts.transfers.list_unsettled(after, 7, ring if after is None else named))
        pages += 1
        listed += [e["path"] for e in page["entries"]]
        skipped += page["skipped"]
        assert page["last"] == max([after or "", *listed, *skipped])
        after = page["last"]
        if page["done"]:
            break
    assert skipped == sorted(mine)
    assert listed == sorted(set(uris) - mine)
    assert pages == 41 // 7 + 1  # the last page is short: done
    entries = run(parts.transfers.list_unsettled(None, 100, ring))["entries"]
    assert entries == [e for e in run(parts.holdings.list_cached(None, 100)) if e in entries]
    assert [e["complete"] for e in entries if e["path"] == partial] == [False]

    both = {**named, "replicas": 2}  # two owners each: nothing is settled by one worker
    answer = run(parts.transfers.list_unsettled(None, 100, both))
    assert answer["skipped"] == [] and len(answer["entries"]) == 41
    with pytest.raises(InvalidArgument):
        run(parts.transfers.list_unsettled(None, 0, ring))


def test_owners_and_peers_answer_for_whole_files_of_the_version_asked(tmp_path: Path, run):
    """`held_whole` (asked before a rebalance drops other copies) is True only for a file
    held whole at the version named; `read_cached_many` serves only that version."""
    parts = Parts(tmp_path)
    data = parts.ufs_root
    (data / "whole.bin").write_bytes(os.urandom(3000))
    run(parts.mounts.refresh())
    whole = f"file://{data}/whole.bin"
    assert run(parts.loads.load_batch([whole], {}))[0].status == "LOADED"
    version = parts.store.file_info(whole).version
    page_size = PAGE
    partial = f"file://{data}/part.bin"  # its first page of three only
    part_version = FileVersion(2 * page_size + 1, 1.0, None)
    parts.store.put_page(partial, 0, b"x" * page_size, 0.0, version=part_version)
    other = FileVersion(version.size, version.mtime + 1, None)  # a newer version

    asked = [
        (whole, *version),
        (partial, *part_version),
        (whole, *other),
        ("file:///nope", 1, None, None),
    ]
    assert run(parts.transfers.held_whole(asked)) == [True, False, False, False]
    answers = run(
        parts.transfers.read_cached_many(
            [(whole, tuple(version)), (whole, tuple(other)), (partial, tuple(part_version))]
        )
    )
    assert bytes(answers[0]) == (data / "whole.bin").read_bytes()
    assert answers[1:] == [None, None]  # another version; a file not held whole


def _version(parts: Parts, uri: str) -> tuple:
    info = parts.store.file_info(uri)
    return (uri, *info.version)


def test_a_large_batch_of_small_files_is_split_so_every_lane_has_bundles(
    tmp_path: Path, run, monkeypatch
) -> None:
    """16 files of 2 pages, 4 lanes, 2 bundles per lane: 8 calls of 2 files each, none
    larger than `bundle_bytes` (and never split below MIN_BUNDLE_BYTES)."""
    monkeypatch.setattr(peer_copy, "MIN_BUNDLE_BYTES", PAGE)
    holder = Parts(tmp_path, WORKER_A)
    peers = PeerRefs(**{WORKER_A: holder.transfers})
    fetcher = Parts(tmp_path, WORKER_B, peers=peers)
    asked: list[int] = []
    many = holder.transfers.read_cached_many

    async def counted(items):  # type: ignore[no-untyped-def]
        asked.append(len(items))
        return await many(items)

    holder.transfers.read_cached_many = counted
    datas = [os.urandom(2 * PAGE) for _ in range(16)]
    uris = [holder.write(f"f{i}.bin", data) for i, data in enumerate(datas)]
    run(holder.mounts.refresh())
    assert {a.status for a in run(holder.loads.load_batch(uris))} == {"LOADED"}
    entries = [(*_version(holder, uri), [WORKER_A]) for uri in uris]
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 16
    assert asked == [2] * 8
    for uri, data in zip(uris, datas, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data
    monkeypatch.setattr(peer_copy, "MIN_BUNDLE_BYTES", 16 * PAGE)
    asked.clear()
    run(fetcher.transfers.prune_batch(uris))
    run(fetcher.transfers.fetch_batch(entries))
    assert asked == [8, 8]  # bundles of at least MIN_BUNDLE_BYTES


def test_bundles_are_taken_from_each_peer_in_turn(tmp_path: Path, run, monkeypatch) -> None:
    """Lanes taking one peer's bundles first would keep that peer busy and the others
    idle: the bundles of two peers are asked in turn (one lane here, to see the order)."""
    monkeypatch.setattr(peer_copy, "MIN_BUNDLE_BYTES", PAGE)
    monkeypatch.setattr(peer_copy, "BUNDLE_LANES", 1)
    monkeypatch.setattr(peer_copy, "BUNDLES_PER_LANE", 4)
    holders = {w: Parts(tmp_path / w, w) for w in (WORKER_A, WORKER_B)}
    fetcher_id = f"worker-{uuid.UUID(int=3)}"
    peers = PeerRefs(**{w: parts.transfers for w, parts in holders.items()})
    fetcher = Parts(tmp_path / "fetcher", fetcher_id, peers=peers)
    asked: list[str] = []
    entries = []
    for worker_id, holder in holders.items():
        many = holder.transfers.read_cached_many

        async def counted(items, worker_id=worker_id, many=many):  # type: ignore[no-untyped-def]
            asked.append(worker_id)
            return await many(items)

        holder.transfers.read_cached_many = counted
        uris = [holder.write(f"f{i}.bin", os.urandom(2 * PAGE)) for i in range(4)]
        run(holder.mounts.refresh())
        assert {a.status for a in run(holder.loads.load_batch(uris))} == {"LOADED"}
        entries += [(*_version(holder, uri), [worker_id]) for uri in uris]
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 8
    # 16 pages, 1 lane taking 4 bundles: bundles of up to 4 pages, 2 a peer.
    assert asked == [WORKER_A, WORKER_B, WORKER_A, WORKER_B]


def test_files_come_from_a_peer_that_holds_them_whole(tmp_path: Path, run) -> None:
    holder = Parts(tmp_path, WORKER_A)
    peers = PeerRefs(**{WORKER_A: holder.transfers})
    fetcher = Parts(tmp_path, WORKER_B, peers=peers)
    datas = [os.urandom(PAGE * i + 7) for i in range(3)]
    uris = [holder.write(f"f{i}.bin", data) for i, data in enumerate(datas)]
    run(holder.mounts.refresh())
    run(fetcher.mounts.refresh())
    assert {a.status for a in run(holder.loads.load_batch(uris))} == {"LOADED"}
    entries = [(*_version(holder, uri), [WORKER_A]) for uri in uris]
    for i in range(3):
        (holder.ufs_root / f"f{i}.bin").unlink()  # from now on, only the peer has them
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source) for a in answers] == [("LOADED", "peer")] * 3
    assert peers.calls == ["read_cached_many"]  # small files: one bundle, one call
    for uri, data in zip(uris, datas, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data
    again = run(fetcher.transfers.fetch_batch(entries))
    assert [a.status for a in again] == ["SKIPPED"] * 3


def test_a_file_no_peer_can_give_comes_from_the_ufs(tmp_path: Path, run) -> None:
    gone = f"worker-{uuid.UUID(int=9)}"
    fetcher = Parts(tmp_path, WORKER_B, peers=PeerRefs())
    data = os.urandom(2 * PAGE)
    uri = fetcher.write("a.bin", data)
    run(fetcher.mounts.refresh())
    stat = (fetcher.ufs_root / "a.bin").stat()
    (answer,) = run(fetcher.transfers.fetch_batch([(uri, len(data), stat.st_mtime, None, [gone])]))
    assert (answer.status, answer.source, answer.reason) == ("LOADED", "ufs", PEER_UNAVAILABLE)
    assert gone in answer.message
    assert fetcher.store.file_info(uri).complete
    (missing,) = run(fetcher.transfers.fetch_batch([(fetcher.uri("nope"), 5, 1.0, None, [])]))
    assert missing.status == "FAILED"


def test_prune_drops_what_is_held_and_answers_for_what_is_not(tmp_path: Path, run) -> None:
    parts = Parts(tmp_path)
    uri = parts.write("a.bin", os.urandom(PAGE + 1))
    run(parts.mounts.refresh())
    run(parts.loads.load_batch([uri]))
    answers = run(parts.transfers.prune_batch([uri, parts.uri("b.bin")], {"bandwidth": 10**9}))
    assert [(r.path, r.status, r.bytes) for r in answers] == [
        (uri, "FREED", PAGE + 1),
        (parts.uri("b.bin"), "NOT_CACHED", 0),
    ]
    assert parts.store.file_info(uri) is None


def test_a_large_file_comes_in_ranges_and_a_peer_cut_mid_file_leaves_the_ufs_copy(
    tmp_path: Path, run
) -> None:
    """A file larger than a bundle comes in `chunk_bytes` ranges; when the peer goes away
    after some of them, nothing it gave is kept: the file comes whole from the UFS, LOADED
    from "ufs" with the peer's failure named, and a file the peer no longer holds too."""
    holder = Parts(tmp_path, WORKER_A)
    peers = PeerRefs(**{WORKER_A: holder.transfers})
    fetcher = Parts(tmp_path, WORKER_B, peers=peers)
    copier = fetcher.transfers.copier
    copier.bundle_bytes, copier.chunk_bytes = 2 * PAGE, 3 * PAGE
    datas = [os.urandom(10 * PAGE + 5), os.urandom(4 * PAGE)]
    uris = [holder.write(f"big{i}.bin", data) for i, data in enumerate(datas)]
    run(holder.mounts.refresh())
    run(fetcher.mounts.refresh())
    assert {a.status for a in run(holder.loads.load_batch(uris))} == {"LOADED"}
    entries = [(*_version(holder, uri), [WORKER_A]) for uri in uris]

    answers = run(fetcher.transfers.fetch_batch(entries[:1]))
    assert [(a.status, a.source, a.reason) for a in answers] == [("LOADED", "peer", "")]
    assert bytes(run(fetcher.transfers.read_cached(uris[0]))) == datas[0]
    assert peers.calls == ["read_cached"] * 4  # 10 pages and 5 bytes in 3-page ranges

    cut = CutAfter(peers, uris[0], ranges=2)
    copier.peer_pages = cut
    run(fetcher.transfers.prune_batch(uris))
    run(holder.transfers.prune_batch(uris[1:]))  # the second is no longer held by the peer
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source, a.reason) for a in answers] == [
        ("LOADED", "ufs", PEER_SHORT_READ),
        ("LOADED", "ufs", PEER_NOT_HELD),
    ]
    assert cut.asked == [(0, 3 * PAGE), (3 * PAGE, 3 * PAGE), (6 * PAGE, 3 * PAGE)]
    for uri, data in zip(uris, datas, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data


class Broken(ActorPeerPages):
    """Peer pages whose asking fails with a fault no `PeerPages` should raise."""

    async def fetch(self, *args):  # type: ignore[no-untyped-def]
        raise ValueError("a record that makes no sense")

    async def fetch_whole(self, *args):  # type: ignore[no-untyped-def]
        raise ValueError("a record that makes no sense")


def test_any_fault_in_asking_a_peer_is_the_peers_and_the_ufs_answers(tmp_path: Path, run) -> None:
    fetcher = Parts(tmp_path, WORKER_B)
    fetcher.transfers.copier.peer_pages = Broken(PeerRefs())
    fetcher.transfers.copier.bundle_bytes = PAGE  # the big file is asked by ranges
    datas = [os.urandom(100), os.urandom(3 * PAGE)]
    uris = [fetcher.write(f"f{i}.bin", data) for i, data in enumerate(datas)]
    run(fetcher.mounts.refresh())
    entries = [
        (uri, len(data), (fetcher.ufs_root / f"f{i}.bin").stat().st_mtime, None, [WORKER_A])
        for i, (uri, data) in enumerate(zip(uris, datas, strict=True))
    ]
    answers = run(fetcher.transfers.fetch_batch(entries))
    assert [(a.status, a.source, a.reason) for a in answers] == [
        ("LOADED", "ufs", PEER_UNAVAILABLE)
    ] * 2
    assert all("makes no sense" in a.message for a in answers)
    for uri, data in zip(uris, datas, strict=True):
        assert bytes(run(fetcher.transfers.read_cached(uri))) == data
