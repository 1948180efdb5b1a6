"""`put_pages` with `unchanged`: ranges of a file that may change while copied (a peer's
data file) are listed only if the source says, once they are written, that it did not change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringcache.cluster.cache.page_io import FileRange
from ringcache.cluster.cache.store import PageStore, SourceChanged
from ringcache.cluster.ufs.filesystem import FileVersion

PAGE = 4096


def test_pages_are_listed_only_if_the_source_held_still(tmp_path: Path) -> None:
    data = os.urandom(3 * PAGE + 5)
    (tmp_path / "src").write_bytes(data)
    version = FileVersion(len(data), 1.0, None)
    store = PageStore(tmp_path / "pages", 1 << 20, PAGE)
    checks: list[bool] = []

    def answering(answer: bool):  # type: ignore[no-untyped-def]
        def unchanged() -> bool:
            checks.append(answer)
            return answer

        return unchanged

    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        pages = [FileRange(fd, at, min(PAGE, len(data) - at)) for at in range(0, len(data), PAGE)]
        store.set_file("file:///a", version, 0.0)
        with pytest.raises(SourceChanged):
            store.put_pages("file:///a", 0, pages, 0.0, version=version, unchanged=answering(False))
        assert checks == [False]  # asked once the run was written
        assert store.read("file:///a", 0, None, 1.0) is None
        assert store.file_info("file:///a").cached_bytes == 0
        assert store.stats().used_bytes == 0  # nothing left reserved either
        store.put_pages("file:///a", 0, pages, 0.0, version=version, unchanged=answering(True))
        assert checks == [False, True]
        assert store.read("file:///a", 0, None, 1.0) == data
    finally:
        os.close(fd)
