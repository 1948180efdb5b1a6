"""How a job's listing is cut into pages, and how many pages are in flight at once.

A page is planned as a whole, so a fixed page spread over many workers would make every
batch tiny (1,000 files over 1,000 workers: one file a batch). A page therefore holds
PAGE_BATCHES full batches for every worker, within a quarter of the files in flight: on
a big cluster a page holds about one batch a worker, and several pages load at once, so
every worker has the next page's batches queued while the last one's slowest worker
finishes.

Memory: the pages still loading hold at most `files_in_flight` file statuses between them
(a page that has loaded keeps only its counters until it is committed), the lister keeps
LISTED_AHEAD pages ready, and one more is being listed (its directories' listings run
ahead by a quarter page at most, see `source.list_concurrency`). `files_in_flight` is
FILES_IN_FLIGHT, and on a cluster of more than 2,500 workers FILES_IN_FLIGHT_PER_WORKER a
worker: a fixed bound spread over 10,000 workers would leave each a batch of a few files
at a time, every one paying a whole call.

The first page holds one batch a worker, or what a few rounds of listing calls answer if
that is less (10,000 workers' batches are more files than a job may have), so loading
starts while the listing goes on; each page after holds twice as many, up to the full page.
"""

from __future__ import annotations

from collections.abc import Iterator

MIN_PAGE_FILES = 1000
PAGE_BATCHES = 10  # full batches per worker in a page: fewer syncs and checkpoints a file
PAGES_IN_FLIGHT = 16  # pages started and not yet committed, at most
FREE_PAGES_IN_FLIGHT = 4  # a free job sends each page to every worker: fewer at once
FILES_IN_FLIGHT = 400_000  # of the pages still loading (a few hundred bytes a file status)
FILES_IN_FLIGHT_PER_WORKER = 160  # on a big cluster: the bound grows with it
PAGE_SHARE = 4  # a page holds at most a quarter of the files in flight
LISTED_AHEAD = 1  # pages listed and waiting to start
FIRST_PAGE_ROUNDS = 4  # rounds of listing calls the first page waits for, at most


def files_in_flight(workers: int) -> int:
    """The file statuses the pages still loading may hold, over `workers` live workers."""
    return max(FILES_IN_FLIGHT, FILES_IN_FLIGHT_PER_WORKER * workers)


def page_shape(batch_size: int, workers: int, replicas: int) -> tuple[int, int]:
    """(files per page, pages in flight) for a job over `workers` live workers.

    `replicas` is how many workers each file goes to; 0 for a free job, which sends the
    whole page to every live worker, so its pages stay small.
    """
    if not replicas:
        return max(MIN_PAGE_FILES, batch_size), FREE_PAGES_IN_FLIGHT
    wanted = batch_size * PAGE_BATCHES * max(1, workers) // replicas
    most = files_in_flight(workers) // PAGE_SHARE
    size = max(MIN_PAGE_FILES, batch_size, min(most, wanted))
    return size, PAGES_IN_FLIGHT


def page_sizes(
    batch_size: int, workers: int, replicas: int, size: int, listed_at_once: int
) -> Iterator[int]:
    """The files of each page in turn: a batch a worker first, but no more than
    FIRST_PAGE_ROUNDS rounds of listing calls answer (`listed_at_once` files a round), so
    the first batches go out while the listing goes on; then twice as many each page, up
    to `size`. (One round would start sooner, but its batches of a few files a worker
    cost more calls than the few hundredths of a second they gain.)"""
    first = max(MIN_PAGE_FILES, batch_size * max(1, workers) // replicas) if replicas else size
    first = min(first, size, max(MIN_PAGE_FILES, FIRST_PAGE_ROUNDS * listed_at_once))
    while True:
        yield first
        first = min(size, first * 2)
