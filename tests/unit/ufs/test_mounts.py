from __future__ import annotations

import random
import uuid
from pathlib import Path

import fsspec
import pytest

from ringcache.cluster.errors import Conflict, InvalidArgument, NotFound
from ringcache.cluster.paths import normalize_cluster_path, normalize_uri
from ringcache.cluster.ufs import mounts
from ringcache.cluster.ufs.mounts import MountPoint, MountTable, check_mount


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/", "/"),
        ("/data", "/data"),
        ("/data/", "/data"),
        ("//data//train/", "/data/train"),
        ("/data/./train/.", "/data/train"),
        ("/data/train/../test", "/data/test"),
        ("/data/..", "/"),
        ("/a/b/../../c", "/c"),
    ],
)
def test_normalize_cluster_path(raw: str, normal: str) -> None:
    assert normalize_cluster_path(raw) == normal


@pytest.mark.parametrize("bad", ["/..", "/data/../..", "/../etc", "data/a", "", "/a\x00b"])
def test_normalize_cluster_path_rejects_escapes_and_relative_paths(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize_cluster_path(bad)
    assert repr(bad) in caught.value.message


def test_normalize_uri() -> None:
    assert normalize_uri("file:///srv/data/") == "file:///srv/data"
    assert normalize_uri("S3://bucket//a/./b/../c/") == "s3://bucket/a/c"
    for bad in ["file:///..", "s3://bucket/../..", "file://relative/path", "s3://", "/plain"]:
        with pytest.raises(InvalidArgument):
            normalize_uri(bad)


TABLE = MountTable(
    [
        MountPoint("/data", "file:///srv/data", {}),
        MountPoint("/database", "file:///srv/database", {}),
        MountPoint("/s3", "s3://bucket/prefix", {"endpoint_url": "http://127.0.0.1:9000"}),
        MountPoint("/deep", "file:///srv/data2/inner", {}),
    ]
)


def test_resolve_a_cluster_path() -> None:
    mount, uri = TABLE.resolve("/data/train/a.bin")
    assert mount.path == "/data" and uri == "file:///srv/data/train/a.bin"
    assert TABLE.resolve("/s3/k/v")[1] == "s3://bucket/prefix/k/v"
    assert TABLE.resolve("/data")[1] == "file:///srv/data"
    assert TABLE.resolve("/data/x/../y/")[1] == "file:///srv/data/y"


def test_resolve_a_ufs_uri() -> None:
    mount, uri = TABLE.resolve("file:///srv/data/train/a.bin")
    assert mount.path == "/data" and uri == "file:///srv/data/train/a.bin"
    assert TABLE.resolve("file:///srv//data/./train/")[1] == "file:///srv/data/train"
    assert TABLE.resolve("s3://bucket/prefix/k")[0].path == "/s3"


def test_prefixes_match_on_segment_boundaries() -> None:
    assert TABLE.resolve("/database/x")[0].path == "/database"
    assert TABLE.resolve("file:///srv/database/x")[0].path == "/database"
    assert TABLE.resolve("file:///srv/data/x")[0].path == "/data"
    for outside in ["/dat/x", "/datab", "file:///srv/dat", "s3://bucket/prefix2/k", "/"]:
        with pytest.raises(InvalidArgument):
            TABLE.resolve(outside)


def test_longest_prefix_wins() -> None:
    table = MountTable(
        [MountPoint("/a", "file:///srv", {}), MountPoint("/a/b", "file:///other/b", {})]
    )
    assert table.resolve("/a/b/c")[1] == "file:///other/b/c"
    assert table.resolve("/a/bc")[1] == "file:///srv/bc"
    nested = MountTable(
        [MountPoint("/outer", "file:///srv", {}), MountPoint("/inner", "file:///srv/in", {})]
    )
    assert nested.resolve("file:///srv/in/x")[0].path == "/inner"
    assert nested.resolve("file:///srv/inx")[0].path == "/outer"


@pytest.mark.parametrize("extra_mounts", [0, 12])  # a few mounts, and enough for the memo
def test_repeated_lookups_in_one_directory_give_the_same_answers(extra_mounts: int) -> None:
    # With many mounts, the second round is answered from the remembered parents.
    extra = [MountPoint(f"/m{i}", f"file:///m/{i}", {}) for i in range(extra_mounts)]
    table = MountTable(
        [MountPoint("/a", "file:///srv", {}), MountPoint("/a/b", "file:///other/b", {}), *extra]
    )
    paths = ["/a/b", "/a/b/c", "/a/b/d/e", "/a/x", "/a/bc", "/a/b/c/", "file:///srv/b/1"]
    first = [table.resolve(path) for path in paths]
    assert [table.resolve(path) for path in paths] == first
    assert [uri for _, uri in first] == [
        "file:///other/b",
        "file:///other/b/c",
        "file:///other/b/d/e",
        "file:///srv/x",
        "file:///srv/bc",
        "file:///other/b/c",
        "file:///srv/b/1",
    ]
    for outside in ("/z/1", "/z/2", "file:///elsewhere/1"):
        with pytest.raises(InvalidArgument):
            table.resolve(outside)


def test_resolving_from_remembered_directories_answers_as_resolving_afresh() -> None:
    # Siblings share their directory's answer, across tables of the same mount points; a
    # mount root among them, a name to normalize, an unmounted path, cluster paths and a
    # table of other mount points must still get their own answers.
    mounts.directories_forget()
    points = [
        MountPoint("/outer", "memory:///srv", {}),
        MountPoint("/inner", "memory:///srv/in", {}),
        MountPoint("/leaf", "memory:///srv/d/f1", {}),
        MountPoint("/outer/nest", "memory:///nest", {}),
    ]
    tables = [MountTable(points), MountTable(points[::-1]), MountTable(points[1:])]
    rng = random.Random(7)
    names = ["f0", "f1", "f2", "in", "nest", "..", ".", "a.b", "x y"]
    dirs = ["memory:///srv", "memory:///srv/d", "memory:///srv/in", "memory:///srv/d/", "/outer/d"]
    dirs += ["memory:///elsewhere", "/outer", "/nowhere", "/outer/d/..", "/inner/../outer"]

    def answer(resolve, path: str) -> object:
        try:
            mount, uri = resolve(path)
        except InvalidArgument as exc:
            return exc.message
        return mount.path, uri

    for _ in range(600):
        table, path = rng.choice(tables), f"{rng.choice(dirs)}/{rng.choice(names)}"
        assert answer(table.resolve, path) == answer(table._resolve, path), path
    twins = [
        tables[0].resolve("memory:///srv/d/f0"),
        tables[1].resolve("memory:///srv/d/f1"),  # a sibling that is a mount root
        tables[0].resolve("/outer/f0"),
        tables[1].resolve("/outer/nest"),  # a sibling that is a mount point
    ]
    assert [(m.path, uri) for m, uri in twins] == [
        ("/outer", "memory:///srv/d/f0"),
        ("/leaf", "memory:///srv/d/f1"),
        ("/outer", "memory:///srv/f0"),
        ("/outer/nest", "memory:///nest"),
    ]


def test_a_root_mounted_ufs_resolves() -> None:
    table = MountTable([MountPoint("/all", "file:///", {})])
    assert table.resolve("/all/etc/hosts")[1] == "file:///etc/hosts"
    assert table.to_cluster_path("file:///etc/hosts") == "/all/etc/hosts"


def test_dot_dot_never_escapes_a_mount() -> None:
    with pytest.raises(InvalidArgument, match="/etc"):
        TABLE.resolve("/data/../etc/passwd")
    with pytest.raises(InvalidArgument, match="file:///srv/data/../../etc/passwd"):
        TABLE.resolve("file:///srv/data/../../etc/passwd")
    with pytest.raises(InvalidArgument):
        TABLE.resolve("/data/../../..")
    # `..` that lands inside a mount is just another spelling of that path.
    assert TABLE.resolve("/data/../database/x")[1] == "file:///srv/database/x"


def test_unmounted_path_error_names_the_path() -> None:
    with pytest.raises(InvalidArgument, match="/nowhere/file"):
        TABLE.resolve("/nowhere/file")
    with pytest.raises(InvalidArgument, match="relative"):
        TABLE.resolve("relative/path")


def test_conversions_both_ways() -> None:
    assert TABLE.to_ufs_uri("/deep/x") == "file:///srv/data2/inner/x"
    assert TABLE.to_cluster_path("file:///srv/data2/inner/x") == "/deep/x"
    assert TABLE.to_cluster_path("s3://bucket/prefix") == "/s3"
    with pytest.raises(InvalidArgument):
        TABLE.to_cluster_path("/data/x")


def test_list_and_get() -> None:
    assert [m.path for m in TABLE.list()] == ["/data", "/database", "/deep", "/s3"]
    assert TABLE.get("/data/").ufs == "file:///srv/data"
    with pytest.raises(NotFound):
        TABLE.get("/data/train")


def test_duplicate_mount_points_are_a_conflict() -> None:
    with pytest.raises(Conflict):
        MountTable([MountPoint("/a", "file:///x", {}), MountPoint("/a", "file:///y", {})])


def test_mount_point_record_round_trip() -> None:
    mount = MountPoint("/s3", "s3://b/p", {"key": "v"})
    assert mount.to_record() == {"path": "/s3", "ufs": "s3://b/p", "options": {"key": "v"}}
    assert MountPoint.from_dict(mount.to_record()) == mount
    assert MountPoint.from_dict({"path": "/a", "ufs": "file:///a"}).options == {}
    with pytest.raises(InvalidArgument):
        MountPoint.from_dict({"path": "/a"})


# -- check_mount -------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, list[str]]:
    allowed = tmp_path / "allowed"
    for name in ["data", "data/sub", "database", "other"]:
        (allowed / name).mkdir(parents=True)
    (allowed / "file.txt").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    return allowed, [str(allowed)]


def mount(path: str, ufs: str, **options: str) -> MountPoint:
    return MountPoint(path, ufs, dict(options))


def test_check_mount_accepts_and_normalizes(roots) -> None:
    allowed, allowed_roots = roots
    result = check_mount(mount("/data/", f"file://{allowed}/data/"), MountTable(), allowed_roots)
    assert result == MountPoint("/data", f"file://{allowed}/data", {})


@pytest.mark.parametrize("path", ["/", "/a/b", "data", "", "/..", "/a/../.."])
def test_check_mount_rejects_paths_that_are_not_direct_children_of_root(roots, path) -> None:
    allowed, allowed_roots = roots
    with pytest.raises(InvalidArgument):
        check_mount(mount(path, f"file://{allowed}/data"), MountTable(), allowed_roots)


@pytest.mark.parametrize("ufs", ["not a uri", "/srv/data", "file://relative", "s3://"])
def test_check_mount_rejects_bad_uris(roots, ufs) -> None:
    with pytest.raises(InvalidArgument):
        check_mount(mount("/data", ufs), MountTable(), roots[1])


def test_check_mount_rejects_an_unknown_scheme(roots) -> None:
    with pytest.raises(InvalidArgument, match="nosuchfs"):
        check_mount(mount("/data", "nosuchfs://bucket/x"), MountTable(), roots[1])


def test_check_mount_rejects_non_string_options(roots) -> None:
    allowed, allowed_roots = roots
    bad = MountPoint("/data", f"file://{allowed}/data", {"retries": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgument, match="strings"):
        check_mount(bad, MountTable(), allowed_roots)


def test_check_mount_rejects_local_roots_outside_the_allowed_ones(tmp_path, roots) -> None:
    allowed, allowed_roots = roots
    with pytest.raises(InvalidArgument, match=str(allowed)):
        check_mount(mount("/x", f"file://{tmp_path}/outside"), MountTable(), allowed_roots)
    # `..` and symlinks are resolved before the check.
    with pytest.raises(InvalidArgument):
        check_mount(mount("/x", f"file://{allowed}/../outside"), MountTable(), allowed_roots)
    (allowed / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidArgument):
        check_mount(mount("/x", f"file://{allowed}/link"), MountTable(), allowed_roots)
    with pytest.raises(InvalidArgument, match="none are configured"):
        check_mount(mount("/x", f"file://{allowed}/data"), MountTable(), [])


def test_check_mount_rejects_unreachable_roots(roots) -> None:
    allowed, allowed_roots = roots
    with pytest.raises(InvalidArgument, match="does not exist"):
        check_mount(mount("/x", f"file://{allowed}/missing"), MountTable(), allowed_roots)
    with pytest.raises(InvalidArgument, match="not a directory"):
        check_mount(mount("/x", f"file://{allowed}/file.txt"), MountTable(), allowed_roots)


def test_check_mount_rejects_a_path_already_mounted(roots) -> None:
    allowed, allowed_roots = roots
    table = MountTable([MountPoint("/data", f"file://{allowed}/data", {})])
    with pytest.raises(Conflict, match="/data"):
        check_mount(mount("/data", f"file://{allowed}/other"), table, allowed_roots)


def test_check_mount_rejects_the_same_or_nested_ufs_roots(roots) -> None:
    allowed, allowed_roots = roots
    table = MountTable([MountPoint("/data", f"file://{allowed}/data", {})])
    for ufs in [f"file://{allowed}/data", f"file://{allowed}/data/sub", f"file://{allowed}"]:
        with pytest.raises(Conflict, match="/data"):
            check_mount(mount("/other", ufs), table, allowed_roots)
    # A sibling whose name merely starts the same is not nested.
    result = check_mount(mount("/db", f"file://{allowed}/database"), table, allowed_roots)
    assert result.ufs == f"file://{allowed}/database"


def test_check_mount_sees_through_symlinked_spellings_of_a_mounted_root(roots) -> None:
    allowed, allowed_roots = roots
    (allowed / "alias").symlink_to(allowed / "data")
    table = MountTable([MountPoint("/data", f"file://{allowed}/data", {})])
    with pytest.raises(Conflict):
        check_mount(mount("/alias", f"file://{allowed}/alias"), table, allowed_roots)


def test_check_mount_works_for_non_local_schemes() -> None:
    base = f"memory:///{uuid.uuid4().hex}"
    memory = fsspec.filesystem("memory")
    memory.pipe(base + "/bucket/k", b"v")
    try:
        short = "memory://" + base[len("memory:///") :]
        result = check_mount(mount("/mem", short + "/bucket/"), MountTable(), [])
        assert result.ufs == base + "/bucket"
        with pytest.raises(InvalidArgument, match="does not exist"):
            check_mount(mount("/mem", base + "/nothing"), MountTable(), [])
        with pytest.raises(Conflict):
            check_mount(mount("/again", base + "/bucket"), MountTable([result]), [])
    finally:
        memory.rm(base, recursive=True)


def test_check_mount_does_not_touch_the_ufs_for_a_rejected_request(roots) -> None:
    allowed, allowed_roots = roots
    calls = []

    def factory(uri, options):
        calls.append(uri)
        raise AssertionError("the UFS must not be opened for a malformed request")

    with pytest.raises(InvalidArgument):
        check_mount(
            mount("/a/b", f"file://{allowed}/data"),
            MountTable(),
            allowed_roots,
            ufs_factory=factory,
        )
    assert calls == []
