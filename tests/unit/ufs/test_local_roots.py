"""A local-disk UFS reads nothing whose real path leaves its mount root or the allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.cluster.errors import FailureReason
from ringcache.cluster.ufs.factory import ConfinedUfsFactory
from ringcache.cluster.ufs.filesystem import UnderFileSystem
from ringcache.cluster.ufs.local_roots import OutsideLocalRoots, real_path


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """`root` (the mount, with `inside.txt` and `sub/`) and `outside` (with `secret.txt`)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "inside.txt").write_bytes(b"inside")
    (root / "sub" / "deep.txt").write_bytes(b"deep")
    (outside / "secret.txt").write_bytes(b"secret")
    return root, outside


def confined(root: Path, allowed: list[str]) -> UnderFileSystem:
    return UnderFileSystem(f"file://{root}", allowed_roots=allowed)


def refused(ufs: UnderFileSystem, uri: str) -> None:
    for call in (ufs.read, ufs.stat, ufs.local_path, ufs.open_local):
        with pytest.raises(OutsideLocalRoots) as caught:
            call(uri)
        assert caught.value.status_code == 403
        assert caught.value.reason == FailureReason.OUTSIDE_LOCAL_ROOTS
        assert uri in caught.value.message


def test_a_file_symlink_out_of_the_root_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    ufs = confined(root, [str(root.parent)])  # `outside` is allowed, but not this mount's
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    refused(ufs, f"file://{root}/escape.txt")


def test_a_directory_symlink_out_of_the_root_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    ufs = confined(root, ["/"])
    (root / "door").symlink_to(outside)
    refused(ufs, f"file://{root}/door/secret.txt")


def test_symlinks_that_stay_inside_are_followed(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    ufs = confined(root, [str(root)])
    (root / "alias.txt").symlink_to(root / "inside.txt")
    (root / "subway").symlink_to(root / "sub")
    assert ufs.read(f"file://{root}/alias.txt") == b"inside"
    assert ufs.read(f"file://{root}/subway/deep.txt", 1, 2) == b"ee"
    uri = f"file://{root}/alias.txt"
    with ufs.open_local(uri) as opened:
        assert (opened.status, opened.read(0, 100)) == (ufs.stat(uri), b"inside")
    assert ufs.stat(f"file://{root}/subway/deep.txt").size == 4
    assert ufs.local_path(f"file://{root}/inside.txt") == f"{root}/inside.txt"


def test_a_root_outside_the_allowed_roots_reads_nothing(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    refused(confined(root, [str(outside)]), f"file://{root}/inside.txt")


def test_a_root_whose_link_moves_later_reads_nothing(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    link = root.parent / "link"
    link.symlink_to(root)
    ufs = confined(link, [str(root.parent)])
    assert ufs.read(f"file://{link}/inside.txt") == b"inside"
    link.unlink()
    link.symlink_to(outside)
    (outside / "inside.txt").write_bytes(b"elsewhere")
    refused(ufs, f"file://{link}/inside.txt")


def test_a_wrapped_local_disk_is_confined_too(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    ufs = UnderFileSystem(
        f"simplecache://{root}", {"target_protocol": "file"}, allowed_roots=[str(root)]
    )
    assert ufs.read(f"simplecache://{root}/inside.txt") == b"inside"
    with pytest.raises(OutsideLocalRoots):
        ufs.read(f"simplecache://{root}/escape.txt")


def test_the_confined_factory_confines_each_mount_root_on_its_own(
    layout: tuple[Path, Path],
) -> None:
    root, outside = layout
    factory = ConfinedUfsFactory([str(root.parent)])
    mine, theirs = factory(f"file://{root}", {}), factory(f"file://{outside}", {})
    assert mine is factory(f"file://{root}", {})  # shared per root
    assert mine.read(f"file://{root}/inside.txt") == b"inside"
    assert theirs.read(f"file://{outside}/secret.txt") == b"secret"
    with pytest.raises(OutsideLocalRoots):
        mine.read(f"file://{outside}/secret.txt")


def test_without_allowed_roots_nothing_is_confined(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    assert UnderFileSystem(f"file://{root}").read(f"file://{root}/escape.txt") == b"secret"


def test_real_path_agrees_with_realpath(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    (root / "door").symlink_to(outside)
    (root / "dangling").symlink_to(root / "nowhere")
    for name in ("inside.txt", "sub", "door/secret.txt", "dangling", "missing/x", "sub/../sub"):
        path = f"{root}/{name}"
        assert real_path(path) == os.path.realpath(path), name


def test_a_root_mounted_again_after_its_link_moved_is_confined_to_its_new_place(
    layout: tuple[Path, Path],
) -> None:
    root, outside = layout
    link = root.parent / "link"
    link.symlink_to(root)
    factory = ConfinedUfsFactory([str(root.parent)])
    assert factory(f"file://{link}", {}).read(f"file://{link}/inside.txt") == b"inside"
    link.unlink()
    link.symlink_to(outside)
    assert factory(f"file://{link}", {}).read(f"file://{link}/secret.txt") == b"secret"


def test_a_link_swapped_in_right_after_the_check_is_not_followed(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone who may write inside the root puts a link out in a checked file's place in
    # the moment after its real path passed: what is read, stat'ed or handed out is still
    # the file checked (opened once), never the one outside.
    root, outside = layout
    (outside / "secret.txt").write_bytes(b"a longer secret")
    ufs = confined(root, [str(root)])
    uri, path = f"file://{root}/inside.txt", root / "inside.txt"
    real_readlink = os.readlink

    def swapping(link: str) -> str:
        found = real_readlink(link)
        if found == str(path):  # the check of the file, done: swap it for a link out
            path.rename(root / "kept.txt")
            path.symlink_to(outside / "secret.txt")
        return found

    def unswap() -> None:
        path.unlink()
        (root / "kept.txt").rename(path)

    monkeypatch.setattr(os, "readlink", swapping)
    assert ufs.read(uri) == b"inside"
    unswap()
    assert ufs.stat(uri).size == len(b"inside")
    unswap()
    with ufs.open_local(uri) as opened:
        assert path.is_symlink()  # swapped before the file was opened for reading
        assert (opened.status.size, opened.read(0, 100)) == (6, b"inside")
