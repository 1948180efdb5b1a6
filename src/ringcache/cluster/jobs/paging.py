"""How a job's listing is cut into pages, and how many pages are in flight at once.

A page is planned as a whole, so a fixed page spread over many workers would make every
batch tiny (1,000 files over 1,000 workers: one file a batch). A page therefore holds
PAGE_BATCHES full batches for every worker, within bounds: the pages in flight hold at
most FILES_IN_FLIGHT file statuses, so big pages go two at a time rather than four.
"""

from __future__ import annotations

MIN_PAGE_FILES = 1000
PAGE_BATCHES = 10  # full batches per worker in a page: fewer syncs and checkpoints a file
PAGES_IN_FLIGHT = 4  # listed ahead while earlier pages load, when they are small
FILES_IN_FLIGHT = 400_000  # bounds a run's memory (a few hundred bytes a file status)
MAX_PAGE_FILES = FILES_IN_FLIGHT // 2


def page_shape(batch_size: int, workers: int, replicas: int) -> tuple[int, int]:
    """(files per page, pages in flight) for a job over `workers` live workers.

    `replicas` is how many workers each file goes to; 0 for a free job, which sends the
    whole page to every live worker, so its pages stay small.
    """
    if not replicas:
        return max(MIN_PAGE_FILES, batch_size), PAGES_IN_FLIGHT
    wanted = batch_size * PAGE_BATCHES * max(1, workers) // replicas
    size = max(MIN_PAGE_FILES, batch_size, min(MAX_PAGE_FILES, wanted))
    return size, min(PAGES_IN_FLIGHT, max(2, FILES_IN_FLIGHT // size))
