"""The `PeerPages` contract, passed by each implementation: over actor calls (the
simulator's) and over the peer's data server (the real runtimes'). A real page store on
tmp_path holds the peer's pages; the data server is real, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from ringcache.cluster.cache.store import PageStore
from ringcache.cluster.ring.membership import NodeRecord, node_key
from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.cluster.worker.peers import (
    PEER_NOT_HELD,
    PEER_UNAVAILABLE,
    ActorPeerPages,
    Arriving,
    PeerAddresses,
    PeerFetchFailed,
    PeerPages,
)
from ringcache.dataserver import DataServer, HttpPeerPages, bind_socket
from ringcache.dataserver.alluxio import file_id, status_answer
from ringcache.dataserver.peer_api import PeerPagesApi
from ringcache.dataserver.peer_handover import PeerHandoverServer

from ..worker.fakes import PAGE, WORKER_A, Parts, PeerRefs


@dataclass
class Side:
    """A peer holding pages (`holder`), the `pages` seam reaching it, and how to make the
    peer go away."""

    holder: Parts
    pages: PeerPages
    vanish: Callable[[], Awaitable[None]]


class Records:
    """A registry holding one node record per worker (all `PeerAddresses` reads)."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = addresses

    async def call(self, method: str, key: str) -> Any:
        assert method == "get"
        for worker_id, address in self.addresses.items():
            if key == node_key(worker_id):
                record = NodeRecord(worker_id, "127.0.0.1", None, 0, 0.0, data_address=address)
                return SimpleNamespace(value=record.encode())
        return None


@asynccontextmanager
async def over_actor_calls(tmp_path: Path) -> AsyncIterator[Side]:
    holder = Parts(tmp_path, WORKER_A)
    refs = PeerRefs(**{WORKER_A: holder.transfers})

    async def vanish() -> None:
        refs.workers.clear()

    yield Side(holder, ActorPeerPages(refs), vanish)


async def not_here(request: Any) -> Any:
    return status_answer(404, "only peer calls here")


@asynccontextmanager
async def over_http(tmp_path: Path) -> AsyncIterator[Side]:
    """The data server, and the hand-over server for peers on this host beside it."""
    epoch = ChangeEpoch(tmp_path / "epoch")
    holder = Parts(tmp_path, WORKER_A, dropping=epoch.changing)
    api = PeerPagesApi(holder.store, holder.clock, asyncio.to_thread, epoch)
    server = DataServer(api.routing(not_here), bind_socket("127.0.0.1", 0))
    await server.start()
    handover = PeerHandoverServer(holder.store, holder.clock, epoch, WORKER_A, port=server.port)
    await handover.start()
    pages = HttpPeerPages(PeerAddresses(Records({WORKER_A: server.address})))

    async def vanish() -> None:
        await server.stop()
        await handover.stop()

    try:
        yield Side(holder, pages, vanish)
    finally:
        pages.close()
        await vanish()


@pytest.fixture(params=[over_actor_calls, over_http], ids=["actor", "http"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Callable:
    """Run `test(side)` against one implementation, on a fresh event loop."""

    def run(test: Callable[[Side], Awaitable[None]]) -> None:
        async def main() -> None:
            async with request.param(tmp_path) as built:
                await test(built)

        asyncio.run(main())

    return run


async def cached(side: Side, files: dict[str, bytes]) -> dict[str, FileVersion]:
    """The files written to the UFS and loaded by the holder; their versions."""
    holder = side.holder
    uris = [holder.write(name, data) for name, data in files.items()]
    await holder.mounts.refresh()
    answers = await holder.loads.load_batch(uris)
    assert {a.status for a in answers} <= {"LOADED"}
    return {uri: holder.store.file_info(uri).version for uri in uris}


def test_a_range_comes_back_exact(side) -> None:
    data = os.urandom(5 * PAGE + 33)

    async def test(side: Side) -> None:
        ((uri, version),) = (await cached(side, {"a.bin": data})).items()
        for offset, length in [(0, len(data)), (PAGE, 2 * PAGE), (4 * PAGE, PAGE + 33), (7, 1)]:
            got = await side.pages.fetch(WORKER_A, uri, version, offset, length)
            assert bytes(got) == data[offset : offset + length]
        many = [side.pages.fetch(WORKER_A, uri, version, i * PAGE, PAGE) for i in range(5)]
        assert b"".join(bytes(p) for p in await asyncio.gather(*many)) == data[: 5 * PAGE]

    side(test)


def test_whole_files_come_back_in_order_none_for_what_is_not_held(side) -> None:
    files = {f"f{i}.bin": os.urandom(i * PAGE + i) for i in range(4)}  # f0 is empty

    async def test(side: Side) -> None:
        versions = await cached(side, files)
        asked = list(versions.items())
        newer = (asked[1][0], FileVersion(asked[1][1].size, 1.0, None))
        never = (side.holder.uri("never.bin"), FileVersion(3, 1.0, None))
        answers = await side.pages.fetch_whole(WORKER_A, [*asked, newer, never])
        assert [bytes(a) for a in answers[:4]] == list(files.values())
        assert answers[4:] == [None, None]

    side(test)


def test_another_version_or_a_page_not_held_is_refused_never_read_through(side) -> None:
    data = os.urandom(3 * PAGE)

    async def test(side: Side) -> None:
        holder = side.holder
        ((uri, version),) = (await cached(side, {"a.bin": data})).items()
        other = FileVersion(version.size, version.mtime + 1, version.etag)
        with pytest.raises(PeerFetchFailed) as refused:
            await side.pages.fetch(WORKER_A, uri, other, 0, PAGE)
        assert refused.value.reason == PEER_NOT_HELD
        # In the UFS but not cached: refused, and the holder did not cache it meanwhile.
        unread = holder.write("b.bin", data)
        version_b = FileVersion(len(data), (holder.ufs_root / "b.bin").stat().st_mtime, None)
        with pytest.raises(PeerFetchFailed) as missing:
            await side.pages.fetch(WORKER_A, unread, version_b, 0, PAGE)
        assert missing.value.reason == PEER_NOT_HELD
        assert holder.store.file_info(unread) is None
        # One page of three held: the range over the others is refused.
        part = holder.uri("part.bin")
        holder.store.put_page(part, 0, data[:PAGE], 0.0, version=version_b)
        assert bytes(await side.pages.fetch(WORKER_A, part, version_b, 0, PAGE)) == data[:PAGE]
        with pytest.raises(PeerFetchFailed) as partial:
            await side.pages.fetch(WORKER_A, part, version_b, 0, 2 * PAGE)
        assert partial.value.reason == PEER_NOT_HELD

    side(test)


def test_a_peer_gone_is_unavailable(side) -> None:
    data = os.urandom(2 * PAGE)

    async def test(side: Side) -> None:
        ((uri, version),) = (await cached(side, {"a.bin": data})).items()
        assert bytes(await side.pages.fetch(WORKER_A, uri, version, 0, len(data))) == data
        await side.vanish()
        with pytest.raises(PeerFetchFailed) as gone:
            await side.pages.fetch(WORKER_A, uri, version, 0, len(data))
        assert gone.value.reason == PEER_UNAVAILABLE
        with pytest.raises(PeerFetchFailed) as bundle:
            await side.pages.fetch_whole(WORKER_A, [(uri, version)])
        assert bundle.value.reason == PEER_UNAVAILABLE
        with pytest.raises(PeerFetchFailed) as unknown:
            await side.pages.fetch("worker-unknown", uri, version, 0, len(data))
        assert unknown.value.reason == PEER_UNAVAILABLE

    side(test)


def test_bad_peer_calls_are_answered_4xx_with_a_status(tmp_path: Path) -> None:
    async def main() -> None:
        async with over_http(tmp_path) as side:
            ((uri, version),) = (await cached(side, {"a.bin": os.urandom(PAGE)})).items()
            address = await side.pages.addresses.resolve(WORKER_A)  # type: ignore[attr-defined]
            host, _, port = address.rpartition(":")
            good = f"/v1/peer/range/{file_id(uri)}?ufsFullPath={quote(uri, safe='')}"
            for target, status in [
                (f"{good}&offset=0&length={PAGE}&size={PAGE}&mtime={version.mtime!r}", 200),
                (f"{good}&offset=0&length={PAGE}&size={PAGE}&mtime=nan", 400),
                (f"{good}&offset=1&length={PAGE}&size={PAGE}", 400),  # past the end
                (f"{good}&offset=0&length=1", 400),  # no size
                ("/v1/peer/files?files=" + quote("[[1, 2]]"), 400),
                ("/v1/peer/files?files=nope", 400),
                ("/v1/peer/elsewhere", 404),
            ]:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
                body = await reader.readexactly(length)
                writer.close()
                assert int(head.split(" ")[1]) == status, (target, head, body)
                if status != 200:
                    assert "status" in json.loads(body)

    asyncio.run(main())


def test_a_hand_over_is_exact_or_nothing(side) -> None:
    """Each implementation may hand nothing over (a peer elsewhere, or no data files to
    hand): then None; what it hands holds exactly the bytes asked, or None per range, and
    a peer gone hands nothing."""
    data = os.urandom(3 * PAGE + 1)

    async def test(side: Side) -> None:
        ((uri, version),) = (await cached(side, {"a.bin": data})).items()
        asks = [(uri, version, PAGE, 2 * PAGE + 1)]
        handed = await side.pages.hand_over(WORKER_A, asks)
        if handed is None:
            return
        try:
            ((where),) = handed.ranges
            assert where is None or os.pread(where.fd, where.length, where.offset) == data[PAGE:]
        finally:
            handed.close()
        await side.vanish()
        assert await side.pages.hand_over(WORKER_A, asks) is None

    side(test)


def test_what_is_received_is_exact_or_nothing(side, tmp_path: Path) -> None:
    """Each implementation may not stream (then False, and the sink is never called);
    what it streams, stored as it arrives, is the exact bytes asked: whole files only
    for those held, and a range not held is PEER_NOT_HELD, before any byte."""
    files = {f"f{i}.bin": os.urandom(i * PAGE + 5) for i in range(3)}
    store = PageStore(tmp_path / "received", 1 << 20, page_size=PAGE)

    async def test(side: Side) -> None:
        versions = await cached(side, files)
        asked = [*versions.items(), (side.holder.uri("never.bin"), FileVersion(3, 1.0, None))]
        sunk: list[int] = []

        def keep(i: int, arriving: Arriving) -> None:
            sunk.append(i)
            path, version = asked[i]
            pages = arriving.pages(PAGE)
            store.put_pages(path, 0, pages, 0.0, version=version, unchanged=arriving.arrived)

        if not await side.pages.receive_whole(WORKER_A, asked, keep):
            assert sunk == []
            return
        assert sunk == [0, 1, 2]
        for (path, _), data in zip(asked, files.values(), strict=False):
            assert store.read(path, 0, None, 0.0) == data
        (uri, version) = asked[2]
        store.remove_file(uri)

        def take(arriving: Arriving) -> None:
            pages = arriving.pages(PAGE)
            store.put_pages(uri, 1, pages, 0.0, version=version, unchanged=arriving.arrived)

        assert await side.pages.receive(WORKER_A, uri, version, PAGE, PAGE + 5, take)
        assert store.read(uri, PAGE, None, 0.0) == files["f2.bin"][PAGE:]
        other = FileVersion(version.size, 1.0, None)
        with pytest.raises(PeerFetchFailed) as refused:
            await side.pages.receive(WORKER_A, uri, other, 0, PAGE, take)
        assert refused.value.reason == PEER_NOT_HELD
        assert store.missing_pages(uri) == [0]  # nothing of the refused range

    side(test)
