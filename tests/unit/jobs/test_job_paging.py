"""How a job cuts its listing into pages: full batches for every worker, memory bounded."""

from ringcache.cluster.jobs.paging import (
    FREE_PAGES_IN_FLIGHT,
    LISTED_AHEAD,
    MIN_PAGE_FILES,
    PAGE_BATCHES,
    PAGES_IN_FLIGHT,
    files_in_flight,
    page_shape,
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
