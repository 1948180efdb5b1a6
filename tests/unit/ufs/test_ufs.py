from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec
import pytest
from fsspec.spec import AbstractFileSystem

from ringcache.cluster.errors import InvalidArgument, UfsError, UfsNotFound
from ringcache.cluster.ufs.factory import ufs_for
from ringcache.cluster.ufs.filesystem import (
    FileStatus,
    FileVersion,
    UnderFileSystem,
)
from ringcache.cluster.ufs.names import canonical_uri

# Listing order: by path segments, so "a/..." precedes "a.txt" although "a.txt" < "a/b".
TREE = [
    "a/b",
    "a/c/d",
    "a/c/e",
    "a.txt",
    "b",
    "c/z/1",
    "c/z/2",
    "d/e/f/g",
    "e",
]


def make_tree(root: Path, names: list[str] = TREE) -> str:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    return "file://" + str(root)


def listed(ufs: UnderFileSystem, uri: str, **kwargs) -> list[str]:
    return [status.path for page in ufs.list_files(uri, **kwargs) for status in page]


def relative(paths: list[str], root_uri: str) -> list[str]:
    return [path[len(root_uri) + 1 :] for path in paths]


def test_stat_returns_size_mtime_and_full_uri(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    os.utime(tmp_path / "f.bin", (1000.0, 2000.0))
    ufs = UnderFileSystem("file:///")
    status = ufs.stat(f"file://{tmp_path}/f.bin")
    assert status == FileStatus(f"file://{tmp_path}/f.bin", 10, 2000.0, None)
    assert status.version == FileVersion(10, 2000.0, None)


def test_stat_missing_file_is_ufs_not_found(tmp_path: Path) -> None:
    ufs = UnderFileSystem("file:///")
    with pytest.raises(UfsNotFound) as caught:
        ufs.stat(f"file://{tmp_path}/nope")
    assert caught.value.reason == "UFS_NOT_FOUND"
    with pytest.raises(UfsNotFound):
        ufs.read(f"file://{tmp_path}/nope")


def test_stat_of_a_directory_is_a_ufs_error(tmp_path: Path) -> None:
    with pytest.raises(UfsError) as caught:
        UnderFileSystem("file:///").stat(f"file://{tmp_path}")
    assert not isinstance(caught.value, UfsNotFound)


def test_ranged_reads(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(bytes(range(100)))
    ufs = UnderFileSystem("file:///")
    uri = f"file://{tmp_path}/f"
    assert ufs.read(uri) == bytes(range(100))
    assert ufs.read(uri, 10, 5) == bytes(range(10, 15))
    assert ufs.read(uri, 95) == bytes(range(95, 100))
    assert ufs.read(uri, 95, 50) == bytes(range(95, 100))
    assert ufs.read(uri, 3, 0) == b""
    assert ufs.read(uri, 200) == b"" and ufs.read(uri, 100, 5) == b""  # past its end
    with pytest.raises(InvalidArgument):
        ufs.read(uri, -1, 3)


@pytest.mark.timeout(30)
def test_a_pipe_or_directory_is_refused_without_opening_it_for_reading(tmp_path: Path) -> None:
    # A FIFO opened for reading would wait for a writer: it is never opened so.
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    for ufs in (UnderFileSystem("file:///"), UnderFileSystem("file:///", allowed_roots=["/"])):
        for name in ("pipe", "dir"):
            uri = f"file://{tmp_path}/{name}"
            for call in (ufs.read, ufs.open_local, ufs.stat):
                with pytest.raises(UfsError, match="not a regular file"):
                    call(uri)


def test_dot_dot_is_resolved_before_the_filesystem_sees_it(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "f").write_bytes(b"data")
    ufs = UnderFileSystem("file:///")
    assert ufs.read(f"file://{tmp_path}/sub/../f") == b"data"
    assert ufs.stat(f"file://{tmp_path}/./sub/../f").path == f"file://{tmp_path}/f"


def test_is_dir_and_exists(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    ufs = UnderFileSystem(root)
    assert ufs.is_dir(root + "/a") and not ufs.is_dir(root + "/a.txt")
    assert ufs.exists(root + "/a.txt") and not ufs.exists(root + "/zzz")


def test_listing_order_is_by_path_segments(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    paths = listed(UnderFileSystem(root), root)
    assert relative(paths, root) == TREE
    assert paths.index(root + "/a/c/e") < paths.index(root + "/a.txt")


def test_listing_returns_statuses(tmp_path: Path) -> None:
    root = make_tree(tmp_path, ["x/y"])
    [[status]] = list(UnderFileSystem(root).list_files(root))
    assert status.path == root + "/x/y" and status.size == 3 and status.mtime is not None


def test_listing_pages_hold_at_most_page_size(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    pages = list(UnderFileSystem(root).list_files(root, page_size=4))
    assert [len(page) for page in pages] == [4, 4, 1]
    assert relative([s.path for page in pages for s in page], root) == TREE


def test_listing_a_file_yields_the_file(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    assert listed(UnderFileSystem(root), root + "/a.txt") == [root + "/a.txt"]
    assert listed(UnderFileSystem(root), root + "/a.txt", start_after=root + "/a.txt") == []


def test_listing_a_missing_directory_is_ufs_not_found(tmp_path: Path) -> None:
    ufs = UnderFileSystem("file:///")
    pages = ufs.list_files(f"file://{tmp_path}/missing")
    with pytest.raises(UfsNotFound):
        next(pages)


@pytest.mark.parametrize("cut", range(len(TREE)))
def test_start_after_resumes_with_exactly_the_rest(tmp_path: Path, cut: int) -> None:
    root = make_tree(tmp_path)
    rest = listed(UnderFileSystem(root), root, start_after=f"{root}/{TREE[cut]}")
    assert relative(rest, root) == TREE[cut + 1 :]


def test_start_after_a_path_that_no_longer_exists(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    # "a/c/zz" sorts after "a/c/e" and before "a.txt"; "a.s" between "a/..." and "a.txt".
    assert (
        relative(listed(UnderFileSystem(root), root, start_after=root + "/a/c/zz"), root)
        == (TREE[3:])
    )
    assert (
        relative(listed(UnderFileSystem(root), root, start_after=root + "/a.s"), root) == (TREE[3:])
    )


def test_start_after_skips_earlier_subtrees_without_listing_them(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    ufs = UnderFileSystem(root)
    seen: list[str] = []
    original = ufs.fs.ls

    def spy(path, *args, **kwargs):
        seen.append(path)
        return original(path, *args, **kwargs)

    ufs.fs.ls = spy
    rest = listed(ufs, root, start_after=root + "/c/z/1")
    assert relative(rest, root) == ["c/z/2", "d/e/f/g", "e"]
    assert str(tmp_path / "a") not in seen and str(tmp_path / "a" / "c") not in seen


def test_start_after_outside_the_listed_directory_is_rejected(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    with pytest.raises(InvalidArgument):
        UnderFileSystem(root).list_files(root + "/a", start_after=root + "/b")


def test_symlinked_files_are_listed_and_symlinked_dirs_are_not_followed(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", ["d/f"])
    (tmp_path / "t" / "file-link").symlink_to(tmp_path / "t" / "d" / "f")
    (tmp_path / "t" / "loop").symlink_to(tmp_path / "t")
    (tmp_path / "t" / "broken").symlink_to(tmp_path / "nowhere")
    paths = listed(UnderFileSystem(root), root)
    assert relative(paths, root) == ["d/f", "file-link"]


def test_the_local_disk_lists_as_fsspec_would(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", [*TREE, "d/e f", "d/g.bin"])
    (tmp_path / "t" / "d" / "g.bin").write_bytes(b"x" * 1234)
    (tmp_path / "t" / "file-link").symlink_to(tmp_path / "t" / "d" / "g.bin")
    (tmp_path / "t" / "dir-link").symlink_to(tmp_path / "t" / "a")
    os.mkfifo(tmp_path / "t" / "pipe")  # neither a file nor a directory: not listed
    scandir, generic = UnderFileSystem(root), UnderFileSystem(root)
    generic._local = False  # through fsspec's `ls`, as any other filesystem
    for after in (None, root + "/a/c/d", root + "/d/e f"):
        pages = scandir.list_files(root, page_size=3, start_after=after)
        assert list(pages) == list(generic.list_files(root, page_size=3, start_after=after))
    assert scandir.list_dir(root + "/d") == generic.list_dir(root + "/d")
    assert next(s for s in listed(scandir, root) if s.endswith("file-link"))


def test_the_local_disk_stats_as_fsspec_would(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", ["d/g.bin", ".hidden/h.bin"])
    (tmp_path / "t" / "file-link").symlink_to(tmp_path / "t" / "d" / "g.bin")
    os.mkfifo(tmp_path / "t" / "pipe")
    direct, generic = UnderFileSystem(root), UnderFileSystem(root)
    generic._local = False  # through fsspec's `info`, as any other filesystem
    names = ["d/g.bin", "file-link", "d/../d/g.bin", ".hidden/h.bin", "d//g.bin"]
    for name in names:
        uri = f"{root}/{name}"
        assert direct.stat(uri) == generic.stat(uri), name
        with direct.open_local(uri) as opened:
            assert opened.status == generic.stat(uri), name
            assert opened.read(0, opened.status.size) == generic.read(uri), name
    for name, error in [("pipe", UfsError), ("d", UfsError), ("nope", UfsNotFound)]:
        for ufs in (direct, generic):
            with pytest.raises(error) as caught:
                ufs.stat(f"{root}/{name}")
            assert type(caught.value) is error, name
    with pytest.raises(InvalidArgument):  # a NUL is refused before any filesystem call
        direct.stat(f"{root}/d/g\x00.bin")


def test_unknown_scheme_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="unknown UFS scheme 'nosuchfs'"):
        UnderFileSystem("nosuchfs://bucket/key")
    with pytest.raises(InvalidArgument):
        ufs_for("nosuchfs://bucket/key", {})


def test_a_uri_of_another_scheme_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        UnderFileSystem("file:///").stat("memory:///x")


def test_options_must_be_strings() -> None:
    with pytest.raises(InvalidArgument):
        UnderFileSystem("memory:///", {"x": 1})  # type: ignore[dict-item]


class StrictFileSystem(AbstractFileSystem):
    """A filesystem whose constructor takes no options at all."""

    protocol = "ringcache-strict-test"

    def __init__(self) -> None:
        super().__init__()


def test_bad_options_for_the_filesystem_are_invalid_argument() -> None:
    fsspec.register_implementation(StrictFileSystem.protocol, StrictFileSystem, clobber=True)
    assert UnderFileSystem("ringcache-strict-test://x").scheme == "ringcache-strict-test"
    with pytest.raises(InvalidArgument, match="options"):
        UnderFileSystem("ringcache-strict-test://x", {"no_such_option": "1"})


def test_memory_filesystem_works_and_keeps_its_scheme() -> None:
    base = f"memory:///{uuid.uuid4().hex}"
    memory = fsspec.filesystem("memory")
    memory.pipe(base + "/dir/b", b"bb")
    memory.pipe(base + "/dir.txt", b"t")
    memory.pipe(base + "/dir/a/x", b"xxx")
    try:
        ufs = UnderFileSystem(base)
        assert listed(ufs, base) == [base + "/dir/a/x", base + "/dir/b", base + "/dir.txt"]
        assert ufs.stat(base + "/dir/a/x").size == 3
        assert ufs.read(base + "/dir/a/x", 1, 1) == b"x"
        # Two spellings of one memory path name the same file.
        short = "memory://" + base[len("memory:///") :]
        assert ufs.stat(short + "/dir/b").path == base + "/dir/b"
        assert canonical_uri(short) == base
    finally:
        memory.rm(base, recursive=True)


def test_ufs_for_shares_one_instance_per_scheme_and_options() -> None:
    assert ufs_for("memory:///a", {}) is ufs_for("memory:///b", {})
    assert ufs_for("memory:///a", {}) is not ufs_for("file:///", {})


def test_canonical_uri_normalizes_text() -> None:
    assert canonical_uri("file:///srv//data/./x/../") == "file:///srv/data"
    assert canonical_uri("FILE:///srv") == "file:///srv"
    assert canonical_uri("nosuchfs://b/k/") == "nosuchfs://b/k"  # text only, no fsspec
    with pytest.raises(InvalidArgument):
        canonical_uri("file:///..")


def test_canonical_uri_answers_from_a_remembered_parent_as_the_full_rewrite_does() -> None:
    from ringcache.cluster.ufs import names as ufs_module

    uris = [
        "memory://x/dir/a.bin", "memory://x/dir/b.bin", "memory://x/dir/..", "memory://x/dir/.",
        "memory://x/dir/c d", "memory://x/dir/", "file:///srv/d/1", "file:///srv/d/2",
        "file:///srv/d/../e", "FILE:///srv/d/3", "s3://bucket/k1", "s3://bucket/k2",
        "nosuchfs://b/k1", "nosuchfs://b/k2", "file:///a", "file:///b",
    ]  # fmt: skip
    for uri in uris + uris:  # the second pass answers from the memo where it can
        assert canonical_uri(uri) == ufs_module._canonical(uri), uri
    assert ufs_module._parents["memory://x/dir"] == "memory:///x/dir"
    with pytest.raises(InvalidArgument):
        canonical_uri("file:///srv/d/x\x00y")


class RecordingFileSystem(AbstractFileSystem):
    protocol = "ringcache-recording-test"

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.received = kwargs


def test_options_reach_the_filesystem_with_boolean_words_as_booleans() -> None:
    fsspec.register_implementation(RecordingFileSystem.protocol, RecordingFileSystem, clobber=True)
    ufs = UnderFileSystem("ringcache-recording-test://b", {"anon": "False", "endpoint": "http://h"})
    assert ufs.fs.received == {"anon": False, "endpoint": "http://h"}
