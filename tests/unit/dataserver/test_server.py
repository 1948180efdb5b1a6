"""The data server over one worker's services (a real page store on tmp_path, fakes for
the rest): Alluxio's calls answer byte-exact, bad requests 4xx with a JSON status."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ringcache.dataserver import AlluxioWorkerApi, DataServer, bind_socket, file_id
from ringcache.dataserver.entries import FileEntries

from ..worker.fakes import PAGE, Parts

SIZES = [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17]

Get = Callable[..., Awaitable[tuple[int, bytes]]]


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, dict[str, str], bytes]:
    writer.write(raw)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
    body = await reader.readexactly(int(headers["content-length"]))
    return int(head[0].split(" ")[1]), headers, body


def serving(parts: Parts, test: Callable[[int], Awaitable[None]], token: str | None = None) -> None:
    """Run `test(port)` against a data server over `parts`, on a fresh event loop."""

    async def main() -> None:
        await parts.mounts.refresh()
        api = AlluxioWorkerApi(
            parts.reads, FileEntries(parts.store, parts.mounts, asyncio.to_thread), PAGE
        )
        server = DataServer(api.answer, bind_socket("127.0.0.1", 0), token=token)
        await server.start()
        try:
            await test(server.port)
        finally:
            await server.stop()

    asyncio.run(main())


async def get(port: int, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        status, _, body = await request(reader, writer, raw)
        return status, body
    finally:
        writer.close()


def range_url(uri: str, offset: int, length: int) -> str:
    return f"/v1/range/{file_id(uri)}?ufsFullPath={uri}&offset={offset}&length={length}"


def test_ranges_pages_and_whole_files_are_byte_exact_on_miss_and_hit(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    files = {size: os.urandom(size) for size in SIZES}
    uris = {size: parts.write(f"f{size}.bin", data) for size, data in files.items()}

    async def test(port: int) -> None:
        for attempt in ("miss", "hit"):
            for size, data in files.items():
                uri = uris[size]
                cuts = [(0, size), (0, 1), (PAGE - 1, 2), (PAGE, PAGE), (1, 3 * PAGE), (size, 5)]
                for offset, length in cuts:
                    status, body = await get(port, range_url(uri, offset, length))
                    assert (status, body) == (200, data[offset : offset + length]), (attempt, size)
                status, body = await get(port, f"/v1/chunk/{file_id(uri)}?ufsFullPath={uri}")
                assert (status, body) == (200, data)
                for index in range(-(-size // PAGE)):
                    page = data[index * PAGE : (index + 1) * PAGE]
                    url = f"/v1/file/{file_id(uri)}/page/{index}?ufsFullPath={uri}"
                    assert await get(port, url) == (200, page)
                    status, body = await get(port, f"{url}&offset=3&length=5")
                    # Past the end of a short last page: nothing there to answer.
                    assert (status, body) == (200, page[3:8]) if len(page) > 3 else status == 416

    serving(parts, test)
    assert parts.counters["hits"] > 0 and parts.counters["misses"] > 0
    assert parts.counters["bytesServed"] > parts.counters["bytesFromUfs"]


def test_a_connection_is_kept_alive_across_requests(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    data = os.urandom(2 * PAGE)
    uri = parts.write("a.bin", data)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for offset in (0, 10, PAGE, 0):
            raw = f"GET {range_url(uri, offset, PAGE)} HTTP/1.1\r\n\r\n".encode()
            status, headers, body = await request(reader, writer, raw)
            assert (status, body) == (200, data[offset : offset + PAGE])
            assert headers["connection"] == "keep-alive"
        raw = f"GET {range_url(uri, 0, 4)} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
        status, headers, body = await request(reader, writer, raw)
        assert (status, headers["connection"], body) == (200, "close", data[:4])
        assert await reader.read() == b""  # closed by the server
        writer.close()

    serving(parts, test)


def test_with_a_token_a_request_without_it_is_refused_401(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    data = os.urandom(PAGE + 5)
    uri = parts.write("a.bin", data)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        target = range_url(uri, 3, PAGE)
        for authorization in ("", "Authorization: Bearer wrong\r\n", "Authorization: s3cret\r\n"):
            raw = f"GET {target} HTTP/1.1\r\n{authorization}\r\n".encode()
            status, headers, body = await request(reader, writer, raw)
            assert status == 401 and headers["content-type"] == "application/json"
            assert "Bearer" in json.loads(body)["status"]
        # The same connection goes on: with the token, the bytes.
        raw = f"GET {target} HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n".encode()
        assert (await request(reader, writer, raw))[::2] == (200, data[3 : 3 + PAGE])
        writer.close()

    serving(parts, test, token="s3cret")
    assert parts.counters["bytesServed"] == PAGE  # the refused requests read nothing


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)

    async def main() -> None:
        await parts.mounts.refresh()
        api = AlluxioWorkerApi(
            parts.reads, FileEntries(parts.store, parts.mounts, asyncio.to_thread), PAGE
        )
        server = DataServer(api.answer, bind_socket("127.0.0.1", 0), idle_timeout=0.2)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
        writer.close()
        await server.stop()

    asyncio.run(main())


def test_bad_requests_answer_4xx_with_a_json_status_and_serving_goes_on(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    data = os.urandom(PAGE + 5)
    uri = parts.write("a.bin", data)
    (tmp_path / "secret.bin").write_bytes(b"secret")
    outside = f"file://{tmp_path}/secret.bin"
    traversal = f"{parts.uri('')}/../secret.bin"
    fid = file_id(uri)
    bad = [
        f"/v1/range/{fid}?ufsFullPath={outside}&offset=0&length=5",  # the wrong id
        f"/v1/range/{file_id(outside)}?ufsFullPath={outside}&offset=0&length=5",  # unmounted
        f"/v1/range/{file_id(traversal)}?ufsFullPath={traversal}&offset=0&length=5",
        f"/v1/range/{fid}?offset=0&length=5",  # no ufsFullPath
        f"/v1/range/{fid}?ufsFullPath={uri}&offset=-1&length=5",
        f"/v1/range/{fid}?ufsFullPath={uri}&offset=x&length=5",
        f"/v1/range/{fid}?ufsFullPath={uri}&offset=0&length=-2",
        f"/v1/file/{fid}/page/-1?ufsFullPath={uri}",
        f"/v1/file/{fid}/page/one?ufsFullPath={uri}",
        f"/v1/file/{fid}/page/2?ufsFullPath={uri}",  # past the end
        f"/v1/file/{fid}/page/0?ufsFullPath={uri}&offset={PAGE}&length=1",
        f"/v1/file/{fid}/page/0?ufsFullPath={file_id(outside)}",
        "/v1/file/abc/page/0",
        "/v1/info",
        f"/v1/info?path={outside}",
        f"/v1/info?path={parts.uri('missing.bin')}",
        f"/v1/files?path={parts.uri('a.bin')}",  # not a directory
        "/v2/anything",
        "/",
    ]

    async def test(port: int) -> None:
        for target in bad:
            status, body = await get(port, target)
            assert 400 <= status < 500, (target, status, body)
            assert isinstance(json.loads(body)["status"], str), target
        for raw in (
            b"POST /v1/info HTTP/1.1\r\n\r\n",
            b"GET /v1/info HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"NONSENSE\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status, _, body = await request(reader, writer, raw)
            writer.close()
            assert 400 <= status < 600 and status != 500, (raw[:40], status)
            assert json.loads(body)["status"]
        assert await get(port, range_url(uri, 1, 10)) == (200, data[1:11])

    serving(parts, test)


def test_a_ufs_failure_answers_5xx_with_its_reason(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    (parts.ufs_root / "dir.bin").mkdir()
    uri = parts.uri("dir.bin")

    async def test(port: int) -> None:
        status, body = await get(port, range_url(uri, 0, 10))
        assert status >= 500 and json.loads(body)["reason"] == "UFS_READ_FAILED"
        data = os.urandom(10)
        good = parts.write("good.bin", data)
        assert await get(port, range_url(good, 0, 10)) == (200, data)

    serving(parts, test)


def test_info_and_listing_carry_alluxio_entry_fields(tmp_path: Path) -> None:
    parts = Parts(tmp_path, capacity=64 * PAGE)
    data = os.urandom(PAGE + 1)
    uri = parts.write("dir/a.bin", data)
    parts.write("dir/sub/b.bin", b"b")

    async def test(port: int) -> None:
        await get(port, range_url(uri, 0, PAGE))  # one of two pages cached
        status, body = await get(port, f"/v1/info?path={uri}")
        (entry,) = json.loads(body)
        assert status == 200 and entry["mType"] == "file" and entry["mName"] == "a.bin"
        assert entry["mPath"] == "/data/dir/a.bin" and entry["mUfsPath"] == uri
        assert entry["mLength"] == len(data) and entry["mInAlluxioPercentage"] == 99
        assert entry["mLastModificationTimeMs"] > 0
        status, body = await get(port, f"/v1/files?path={parts.uri('dir')}")
        listed = sorted((e["mName"], e["mType"], e["mLength"]) for e in json.loads(body))
        assert listed == [("a.bin", "file", len(data)), ("sub", "directory", 0)]

    serving(parts, test)


def test_a_streamed_miss_is_byte_exact_and_cut_short_when_the_ufs_fails(
    tmp_path: Path, monkeypatch
) -> None:
    from ringcache.cluster.errors import UfsError
    from ringcache.cluster.ufs.filesystem import UnderFileSystem
    from ringcache.cluster.worker import streamed

    monkeypatch.setattr(streamed, "STREAM_PAGES", 2)
    monkeypatch.setattr(UnderFileSystem, "open_local", lambda self, uri: None)  # as S3 is
    parts = Parts(tmp_path)
    data = os.urandom(9 * PAGE + 3)
    good, bad = parts.write("good.bin", data), parts.write("bad.bin", data)
    fetcher = parts.reads.fetcher
    real_read = fetcher.read

    def failing_read(ufs, uri, version, start, stop):
        if uri == bad and start > 0:
            raise UfsError("the UFS went away mid-answer")
        return real_read(ufs, uri, version, start, stop)

    fetcher.read = failing_read  # type: ignore[method-assign]

    async def test(port: int) -> None:
        assert await get(port, range_url(good, 5, -1)) == (200, data[5:])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {range_url(bad, 0, -1)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            assert head.startswith("HTTP/1.1 200") and f"Content-Length: {len(data)}" in head
            with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
                async with asyncio.timeout(30):  # not left waiting: cut short, never whole
                    await reader.readexactly(len(data))
        finally:
            writer.close()

    serving(parts, test)
