"""The UFS adapter over a real S3 server (moto): stat, listing pages, ETag versions, ranges."""

from __future__ import annotations

import os

import pytest

from ringcache.cluster.errors import UfsError, UfsNotFound
from ringcache.cluster.ufs.filesystem import UnderFileSystem
from tests.s3_fixture import S3Server, ThrottlingProxy
from tests.unit.ufs.test_ufs import TREE

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def ufs(s3_server: S3Server) -> UnderFileSystem:
    return UnderFileSystem("s3://any", s3_server.options())


def put(s3_server: S3Server, bucket: str, key: str, data: bytes) -> None:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)


def test_stat_gives_size_etag_mtime_and_the_full_uri(s3_server, bucket, ufs) -> None:
    put(s3_server, bucket, "p/a.bin", b"x" * 1234)
    status = ufs.stat(f"s3://{bucket}/p/a.bin")
    assert status.path == f"s3://{bucket}/p/a.bin"
    assert status.size == 1234
    assert status.etag and '"' not in status.etag
    assert status.mtime is not None and status.mtime > 0


def test_stat_of_a_missing_object_is_ufs_not_found(bucket, ufs) -> None:
    with pytest.raises(UfsNotFound):
        ufs.stat(f"s3://{bucket}/nothing")


def test_ranged_reads_are_byte_exact(s3_server, bucket, ufs) -> None:
    data = os.urandom(300_000)
    put(s3_server, bucket, "r.bin", data)
    uri = f"s3://{bucket}/r.bin"
    assert ufs.read(uri) == data
    assert ufs.read(uri, 1000, 5000) == data[1000:6000]
    assert ufs.read(uri, 299_990) == data[299_990:]
    assert ufs.read(uri, 10, 0) == b""


def test_a_rewritten_object_is_a_new_version(s3_server, bucket, ufs) -> None:
    uri = f"s3://{bucket}/v.bin"
    put(s3_server, bucket, "v.bin", b"one")
    first = ufs.stat(uri).version
    put(s3_server, bucket, "v.bin", b"two")
    second = ufs.stat(uri).version
    assert first.size == second.size and first.etag != second.etag
    assert ufs.read(uri) == b"two"


def test_listing_pages_come_in_listing_order_and_resume_after_a_cursor(
    s3_server, bucket, ufs
) -> None:
    for name in TREE:
        put(s3_server, bucket, f"top/{name}", name.encode())
    put(s3_server, bucket, "other/x", b"x")  # outside the listed prefix
    root = f"s3://{bucket}/top"
    pages = list(ufs.list_files(root, page_size=4))
    assert [len(page) for page in pages] == [4, 4, 1]
    paths = [status.path for page in pages for status in page]
    assert paths == [f"{root}/{name}" for name in TREE]
    assert all(status.size == len(status.path) - len(root) - 1 for p in pages for status in p)
    rest = [s.path for page in ufs.list_files(root, start_after=paths[3]) for s in page]
    assert rest == paths[4:]


def test_directories_and_missing_buckets(s3_server, bucket, ufs) -> None:
    put(s3_server, bucket, "d/e/f", b"f")
    assert ufs.is_dir(f"s3://{bucket}/d") and ufs.is_dir(f"s3://{bucket}/d/e")
    assert not ufs.is_dir(f"s3://{bucket}/d/e/f") and ufs.exists(f"s3://{bucket}/d/e/f")
    assert not ufs.exists("s3://rc-no-such-bucket/d")
    entries = ufs.list_dir(f"s3://{bucket}/d")
    assert [(status.path, is_dir) for status, is_dir in entries] == [(f"s3://{bucket}/d/e", True)]


def test_bad_credentials_are_a_ufs_error_saying_access_was_denied(s3_server, bucket) -> None:
    ufs = UnderFileSystem("s3://any", s3_server.options(key="AKIANOSUCHKEY", secret="wrong"))
    with pytest.raises(UfsError) as caught:
        ufs.is_dir(f"s3://{bucket}")
    assert "denied" in caught.value.message
    assert "wrong" not in caught.value.message


def test_throttled_reads_are_retried_until_they_succeed(s3_server, bucket) -> None:
    put(s3_server, bucket, "t.bin", b"0123456789")
    with ThrottlingProxy(s3_server, throttle=2) as proxy:
        ufs = UnderFileSystem("s3://any", proxy.server.options())
        assert ufs.read(f"s3://{bucket}/t.bin", 2, 5) == b"23456"
    assert proxy.object_reads == 3


def test_reads_throttled_past_the_retries_are_a_ufs_error_that_says_so(s3_server, bucket) -> None:
    put(s3_server, bucket, "t.bin", b"0123456789")
    with ThrottlingProxy(s3_server, throttle=1_000) as proxy:
        options = proxy.server.options(config_kwargs='{"retries": {"max_attempts": 1}}')
        ufs = UnderFileSystem("s3://any", options)
        with pytest.raises(UfsError) as caught:
            ufs.read(f"s3://{bucket}/t.bin")
    assert proxy.object_reads > 1  # retried
    assert "throttled" in caught.value.message
    assert caught.value.reason == "UFS_READ_FAILED"
