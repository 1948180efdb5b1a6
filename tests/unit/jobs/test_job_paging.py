"""How a job cuts its listing into pages: full batches for every worker, memory bounded."""

from ringcache.cluster.jobs.paging import (
    FIRST_PAGE_ROUNDS,
    FREE_PAGES_IN_FLIGHT,
    LISTED_AHEAD,
    MIN_PAGE_FILES,
    PAGE_BATCHES,
    PAGES_IN_FLIGHT,
    files_in_flight,
    page_shape,
    page_sizes,
)
from ringcache.cluster.jobs.source import (
    AHEAD_CHUNKS,
    LIST_CHUNK,
    LIST_CONCURRENCY,
    MAX_LIST_CONCURRENCY,
    list_concurrency,
)


def test_a_page_holds_full_batches_for_every_worker():
    size, in_flight = page_shape(200, 16, 1)
    assert size == 200 * PAGE_BATCHES * 16
    assert in_flight == PAGES_IN_FLIGHT


def test_replicas_share_a_page_between_more_workers():
    assert page_shape(200, 16, 2)[0] == 200 * PAGE_BATCHES * 8


def test_small_clusters_still_list_a_useful_page():
    assert page_shape(200, 0, 1)[0] == max(MIN_PAGE_FILES, 200 * PAGE_BATCHES)
    assert page_shape(50, 1, 1)[0] == MIN_PAGE_FILES
    assert page_shape(5000, 1, 1)[0] >= 5000  # never less than one batch


def test_big_clusters_keep_several_pages_loading_within_the_memory_bound():
    for workers in (100, 1000, 2500, 10_000):
        size, _ = page_shape(200, workers, 1)
        bound = files_in_flight(workers)
        # the pages loading, the ones listed ahead and the one being listed: 600,000 file
        # statuses up to 2,500 workers, 240 a worker beyond
        assert bound + (LISTED_AHEAD + 1) * size <= max(600_000, 240 * workers)
        assert size <= bound // 4
        # several pages load at once: the next is queued while the last one's tail ends
        assert bound // size >= 4
    # 10,000 workers: a page still holds a batch of 40 files a worker, not 10
    assert page_shape(200, 10_000, 1)[0] >= 40 * 10_000
    # 1,000 workers: a page still holds about half a batch a worker, not one file
    assert page_shape(200, 1000, 1)[0] >= 100 * 1000


def test_a_free_job_keeps_small_pages():
    # it sends the whole page to every live worker
    assert page_shape(200, 1000, 0) == (max(MIN_PAGE_FILES, 200), FREE_PAGES_IN_FLIGHT)


def _first_pages(batch_size, workers, replicas, count=5):
    size, _ = page_shape(batch_size, workers, replicas)
    listed_at_once = list_concurrency(size) * LIST_CHUNK
    sizes = page_sizes(batch_size, workers, replicas, size, listed_at_once)
    return size, listed_at_once, [next(sizes) for _ in range(count)]


def test_the_first_page_is_a_batch_a_worker_on_a_small_cluster():
    size, _, pages = _first_pages(200, 10, 1)
    assert pages == [2000, 4000, 8000, 16000, size]


def test_the_first_page_on_a_big_cluster_is_a_few_rounds_of_listing_calls():
    # A batch a worker on 10,000 workers is 2,000,000 files: listed 16 calls at a time,
    # the workers would wait a quarter of a second before the first batch went out.
    size, listed_at_once, pages = _first_pages(200, 10_000, 1)
    assert pages[0] == FIRST_PAGE_ROUNDS * listed_at_once < size
    assert pages == [min(size, pages[0] * 2**i) for i in range(5)]
    assert pages[-1] == size


def test_large_pages_list_more_directories_at_once_within_a_quarter_page():
    assert list_concurrency(1000) == LIST_CONCURRENCY  # a FileSource's default page
    for workers in (10, 1000, 2500, 5000, 10_000, 100_000):
        size, _ = page_shape(200, workers, 1)
        concurrency = list_concurrency(size)
        assert LIST_CONCURRENCY <= concurrency <= MAX_LIST_CONCURRENCY
        ahead = concurrency * AHEAD_CHUNKS * LIST_CHUNK
        assert ahead <= max(size // 4, LIST_CONCURRENCY * AHEAD_CHUNKS * LIST_CHUNK)
    # 10,000 workers: a 400,000-file page lists 50 directories at once, not 16
    assert list_concurrency(page_shape(200, 10_000, 1)[0]) == 50
