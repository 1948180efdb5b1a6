"""Walks over what a page store holds, a page of its listing at a time."""

from __future__ import annotations

from collections.abc import Iterator

from ..cache.model import CachedFile
from ..cache.store import PageStore

LIST_PAGE = 1000


def all_files(store: PageStore) -> Iterator[CachedFile]:
    """Every cached file, sorted by path."""
    cursor = None
    while page := store.list_files(start_after=cursor, limit=LIST_PAGE):
        yield from page
        cursor = page[-1].path


def files_under(store: PageStore, root: str) -> Iterator[CachedFile]:
    """Every cached file at `root` or below it (on a segment boundary)."""
    below = root if root.endswith("/") else root + "/"
    exact = store.file_info(root)
    if exact is not None:
        yield exact
    cursor = root
    while page := store.list_files(start_after=cursor, limit=LIST_PAGE):
        for cached in page:
            if cached.path.startswith(below):
                yield cached
            elif cached.path > below:
                return  # sorted by path: past everything under the root
        cursor = page[-1].path


def held_paths(store: PageStore) -> list[str]:
    return [cached.path for cached in all_files(store)]
