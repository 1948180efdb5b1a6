"""Same-host hand-overs (`peer_handover`): a worker hands a peer on its host the data files
holding the ranges asked, each exact at the version named or none, with the epoch that
tells the peer whether it copied right bytes; anything else leaves the peer to HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from ringcache.cluster.ufs.filesystem import FileVersion
from ringcache.cluster.worker.epoch import ChangeEpoch
from ringcache.cluster.worker.peers import PeerAddresses
from ringcache.dataserver import HttpPeerPages
from ringcache.dataserver.peer_handover import (
    MAX_ASKS,
    PeerHandoverServer,
    handover_socket_name,
)

from ..worker.fakes import PAGE, Parts
from .test_peer_pages_contract import Records

TOKEN = "s3cret"
PORT = 28080  # the data server port a holder publishes: part of its socket's name


def serving(
    tmp_path: Path, test: Callable[[Parts, PeerHandoverServer, HttpPeerPages], Awaitable[None]]
) -> None:
    """`test(holder, server, pages)`: a holder's hand-over server (its id unique, as the
    socket's namespace is the host's) and a peer's pages reaching it."""
    epoch = ChangeEpoch(tmp_path / "epoch")
    holder = Parts(tmp_path, f"worker-{uuid.uuid4()}", dropping=epoch.changing)

    async def main() -> None:
        server = PeerHandoverServer(
            holder.store, holder.clock, epoch, holder.worker_id, TOKEN, port=PORT
        )
        await server.start()
        address = {holder.worker_id: f"127.0.0.1:{PORT}"}  # its data server's, by name only
        pages = HttpPeerPages(PeerAddresses(Records(address)), token=TOKEN)
        try:
            await test(holder, server, pages)
        finally:
            pages.close()
            await server.stop()

    asyncio.run(main())


async def cached(holder: Parts, files: dict[str, bytes]) -> dict[str, FileVersion]:
    uris = [holder.write(name, data) for name, data in files.items()]
    await holder.mounts.refresh()
    assert {a.status for a in await holder.loads.load_batch(uris)} == {"LOADED"}
    return {uri: holder.store.file_info(uri).version for uri in uris}


def read(where) -> bytes:  # type: ignore[no-untyped-def]
    return os.pread(where.fd, where.length, where.offset)


def test_ranges_come_exact_or_none_and_stay_right_while_the_epoch_holds(tmp_path: Path) -> None:
    datas = {"a.bin": os.urandom(5 * PAGE + 33), "empty.bin": b""}

    async def test(holder: Parts, server: PeerHandoverServer, pages: HttpPeerPages) -> None:
        versions = await cached(holder, datas)
        (a, version), (empty, nothing) = versions.items()
        data = datas["a.bin"]
        other = FileVersion(version.size, version.mtime + 1, None)
        asks = [
            (a, version, 0, len(data)),
            (a, version, PAGE + 7, 2 * PAGE),
            (empty, nothing, 0, 0),
            (a, other, 0, PAGE),  # another version
            (holder.uri("never.bin"), version, 0, PAGE),
        ]
        handed = await pages.hand_over(holder.worker_id, asks)
        assert handed is not None
        whole, part, none, *refused = handed.ranges
        assert read(whole) == data and read(part) == data[PAGE + 7 : 3 * PAGE + 7]
        assert none.length == 0 and refused == [None, None]
        assert handed.unchanged()
        holder.store.remove_file(a)  # a drop: what was copied can no longer be vouched for
        assert not handed.unchanged()
        handed.close()
        # More ranges than one call carries: several calls, one answer.
        versions = await cached(holder, datas)
        a, version = next(iter(versions.items()))
        many = [(a, version, i, 1) for i in range(MAX_ASKS + 5)]
        handed = await pages.hand_over(holder.worker_id, many)
        assert [read(where) for where in handed.ranges] == [data[i : i + 1] for i in range(133)]
        assert handed.unchanged()
        handed.close()

    serving(tmp_path, test)


def test_nothing_is_handed_while_pages_are_dropped_or_by_a_peer_elsewhere(tmp_path: Path) -> None:
    async def test(holder: Parts, server: PeerHandoverServer, pages: HttpPeerPages) -> None:
        ((a, version),) = (await cached(holder, {"a.bin": os.urandom(PAGE)})).items()
        with server.epoch.changing():
            assert await pages.hand_over(holder.worker_id, [(a, version, 0, PAGE)]) is None
        assert await pages.hand_over(holder.worker_id, [(a, version, 0, PAGE)]) is not None
        elsewhere = f"worker-{uuid.uuid4()}"  # no socket of that name on this host
        assert await pages.hand_over(elsewhere, [(a, version, 0, PAGE)]) is None
        await server.stop()  # gone: the kept connection fails, a fresh one is refused
        assert await pages.hand_over(holder.worker_id, [(a, version, 0, PAGE)]) is None

    serving(tmp_path, test)


def test_bad_or_unauthorized_calls_are_answered_with_a_status(tmp_path: Path) -> None:
    async def test(holder: Parts, server: PeerHandoverServer, pages: HttpPeerPages) -> None:
        ((a, version),) = (await cached(holder, {"a.bin": os.urandom(PAGE)})).items()
        ask = [a, *version, 0, PAGE]
        calls = [
            ({"asks": [ask]}, 401),  # no token
            ({"asks": [ask], "token": "wrong"}, 401),
            ({"asks": [], "token": TOKEN}, 400),
            ({"asks": [ask] * (MAX_ASKS + 1), "token": TOKEN}, 400),
            ({"asks": [[a, *version, 1, PAGE]], "token": TOKEN}, 400),  # past the end
            ({"asks": [[a, "1", None, None, 0, 1]], "token": TOKEN}, 400),
            ({"asks": [[a, 1]], "token": TOKEN}, 400),
            ([1, 2], 400),
        ]

        def ask_all() -> list[dict]:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(handover_socket_name(holder.worker_id, PORT))
                replies = []
                for call, _ in [*calls, ({"asks": [ask], "token": TOKEN}, None)]:
                    sock.sendall(json.dumps(call).encode() + b"\n")
                    line, fds, _, _ = socket.recv_fds(sock, 65536, 4)
                    for fd in fds:
                        os.close(fd)
                    replies.append(json.loads(line))
                sock.sendall(b"not json\n")
                replies.append(json.loads(sock.recv(65536)))
                return replies

        replies = await asyncio.to_thread(ask_all)
        assert [r.get("code") for r in replies[: len(calls)]] == [code for _, code in calls]
        assert all("status" in r for r in replies[: len(calls)])
        assert replies[len(calls)]["ranges"][0][2] == PAGE  # still serving, after them all
        assert replies[-1]["code"] == 400

    serving(tmp_path, test)


def test_with_hand_overs_off_peers_on_this_host_are_never_asked(tmp_path: Path) -> None:
    """`[worker] peer_handover = false`: no hand-over is attempted, though the holder on this
    host would hand its files over (the peer copies over HTTP, as between hosts)."""

    async def test(holder: Parts, server: PeerHandoverServer, pages: HttpPeerPages) -> None:
        ((a, version),) = (await cached(holder, {"a.bin": os.urandom(PAGE)})).items()
        asks = [(a, version, 0, PAGE)]
        handed = await pages.hand_over(holder.worker_id, asks)  # on: it is handed
        assert handed is not None
        handed.close()
        address = {holder.worker_id: f"127.0.0.1:{PORT}"}
        off = HttpPeerPages(PeerAddresses(Records(address)), token=TOKEN, handover=False)
        try:
            assert off.same_host is None  # no hand-over client at all
            assert await off.hand_over(holder.worker_id, asks) is None
        finally:
            off.close()

    serving(tmp_path, test)
