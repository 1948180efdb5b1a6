"""Files over the peer's real data server, on 127.0.0.1, in a bundle of small ones and in
ranges of a large one: each file (or range) sent by the kernel and checked before its
last byte, stored by the fetcher as it arrives; an answer cut because the peer dropped
pages while sending keeps the files that came whole, and the others come from the UFS,
never with a wrong byte."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.cluster.worker.peers import PEER_SHORT_READ, PeerAddresses
from ringcache.dataserver import DataServer, HttpPeerPages, bind_socket
from ringcache.dataserver.peer_api import PeerPagesApi
from ringcache.dataserver.span_sender import SpanSender

from ..worker.fakes import WORKER_A, WORKER_B, Parts
from .test_peer_pages_contract import Records, not_here

# A bundle over and under the size the server copies instead of sending by `sendfile`,
# then a file too large for bundles: ranges of 140 KiB, 140 KiB and 20 KiB + 5 (copied).
DATAS = [os.urandom(100 * 1024), os.urandom(70 * 1024 + 5), os.urandom(10), b""]
DATAS.append(os.urandom(300 * 1024 + 5))
BUNDLED = 4


def fetched_over_http(tmp_path: Path, dropping_at: int | None) -> tuple[Parts, list, list[str]]:
    """The files loaded on a holder, then fetched by another worker from its data
    server; with `dropping_at`, the holder drops pages while it sends file number
    `dropping_at` (from 0) of the bundle. The fetcher, its answers, and the files."""

    async def main() -> tuple[Parts, list, list[str]]:
        epoch = ChangeEpoch(tmp_path / "epoch")
        holder = Parts(tmp_path, WORKER_A, dropping=epoch.changing)
        fetcher = Parts(tmp_path, WORKER_B)
        uris = [holder.write(f"f{i}.bin", data) for i, data in enumerate(DATAS)]
        await holder.mounts.refresh()
        await fetcher.mounts.refresh()
        assert {a.status for a in await holder.loads.load_batch(uris)} == {"LOADED"}
        api = PeerPagesApi(holder.store, holder.clock, asyncio.to_thread, epoch)
        server = DataServer(api.routing(not_here), bind_socket("127.0.0.1", 0))
        await server.start()
        pages = HttpPeerPages(PeerAddresses(Records({WORKER_A: server.address})), handover=False)
        fetcher.transfers.copier.peer_pages = pages
        fetcher.transfers.copier.bundle_bytes = 256 * 1024  # the small ones in one bundle
        fetcher.transfers.copier.chunk_bytes = 140 * 1024
        entries = [(uri, *holder.store.file_info(uri).version, [WORKER_A]) for uri in uris]
        try:
            answers = await fetcher.transfers.fetch_batch(entries)
        finally:
            pages.close()
            await server.stop()
        return fetcher, answers, uris

    sent = SpanSender.send_span

    async def sending(self, span, valid, opened=None):  # type: ignore[no-untyped-def]
        if span.length and len(spans_sent) == dropping_at:
            with ChangeEpoch(tmp_path / "epoch").changing():
                pass  # as an eviction elsewhere in the holder's store would
        spans_sent.append(span)
        await sent(self, span, valid, opened)

    spans_sent: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpanSender, "send_span", sending)
        fetcher, answers, uris = asyncio.run(main())
    # The bundle's four files, then the large file's two ranges sent by `sendfile` (the
    # third is copied).
    assert len(spans_sent) >= (6 if dropping_at is None else dropping_at + 1)
    return fetcher, answers, uris


def test_a_bundle_comes_whole_and_byte_exact(tmp_path: Path) -> None:
    fetcher, answers, uris = fetched_over_http(tmp_path, dropping_at=None)
    assert [(a.status, a.source, a.reason) for a in answers] == [("LOADED", "peer", "")] * 5
    for uri, data in zip(uris, DATAS, strict=True):
        assert bytes(fetcher.store.read(uri, 0, None, 0.0)) == data


@pytest.mark.parametrize("dropping_at", [0, 1, 2])
def test_pages_dropped_while_sent_cut_the_answer_and_nothing_wrong_is_kept(
    tmp_path: Path, dropping_at: int
) -> None:
    fetcher, answers, uris = fetched_over_http(tmp_path, dropping_at)
    # The bundle's files before the drop came whole from the peer, the rest from the UFS;
    # the large file, asked for afresh, from the peer.
    expected = [("LOADED", "peer", "")] * dropping_at
    expected += [("LOADED", "ufs", PEER_SHORT_READ)] * (BUNDLED - dropping_at)
    expected += [("LOADED", "peer", "")]
    assert [(a.status, a.source, a.reason) for a in answers] == expected
    for uri, data in zip(uris, DATAS, strict=True):
        assert bytes(fetcher.store.read(uri, 0, None, 0.0)) == data


@pytest.mark.parametrize("dropping_at", [4, 5])
def test_a_large_file_whose_pages_were_dropped_while_sent_comes_from_the_ufs(
    tmp_path: Path, dropping_at: int
) -> None:
    """A drop while its first or second range is sent: none of its pages is kept, even
    those of ranges that came whole, and the UFS gives it."""
    fetcher, answers, uris = fetched_over_http(tmp_path, dropping_at)
    expected = [("LOADED", "peer", "")] * BUNDLED + [("LOADED", "ufs", PEER_SHORT_READ)]
    assert [(a.status, a.source, a.reason) for a in answers] == expected
    for uri, data in zip(uris, DATAS, strict=True):
        assert bytes(fetcher.store.read(uri, 0, None, 0.0)) == data
