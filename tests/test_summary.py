"""Unit tests of the run's summary: a bounded METRIC entry, records against distinct items."""

from __future__ import annotations

import json

from target_kibo_inventory.destinations.kibo.api import WORDS
from target_kibo_inventory.summary import MAX_JOBS_LISTED, Counts, RunStats


def _stats() -> RunStats:
    return RunStats(
        "kibo", {"refresh": 12000, "adjust": 1000}, {"refresh": 3000, "adjust": 1000}, words=WORDS
    )


def test_a_location_of_two_thousand_jobs_lists_a_few_with_their_count():
    stats = _stats()
    for job in range(2000):
        stats.request_done("adjust", "L", 1, job_id=job)
    [place] = stats.summary("succeeded")["locations"]
    assert [j["jobID"] for j in place["jobs"]] == list(range(MAX_JOBS_LISTED))
    assert place["jobs_count"] == 2000
    assert len(json.dumps(stats.summary("succeeded"))) < 2000  # not a line of 40 KB


def test_the_optimum_is_counted_on_the_distinct_items_sent():
    stats = _stats()
    stats.request_done("refresh", "L", 1000, job_id=1)
    summary = stats.summary("succeeded", Counts(records_read=24000, items_collapsed=23000))
    counts = (summary["records"], summary["items"], summary["items_collapsed"])
    assert counts == (24000, 1000, 23000)
    assert (summary["requests"], summary["optimum_requests"]) == (1, 1)
