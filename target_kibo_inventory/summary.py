"""What a run did: counters, progress lines, each drain's line and the end-of-run summary.

The counters are kept while the run goes on; the summary is a log line, a METRIC entry for log
pipelines, and a table on a terminal.
"""

from __future__ import annotations

import enum
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from singer_sdk import metrics

from target_kibo_inventory.rules import clip

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from target_kibo_inventory.destinations.base import Words

ACCEPTED_LINES_AT_INFO = 20
"""A drain's first "accepted" lines go to INFO, the rest to DEBUG (its drain line counts all)."""
MAX_LOCATIONS_LOGGED = 1000
"""Locations detailed in the summary's METRIC entry (the largest first; totals count all)."""
MAX_LOCATIONS_SHOWN = 20
"""Locations in the terminal table (the largest first)."""
MAX_JOBS_SHOWN = 3
"""Job IDs in one cell of the terminal table (then "+n")."""
MAX_JOBS_LISTED = 5
"""Jobs listed per location in the summary's METRIC entry (with their count; the job log,
`job_log_path`, keeps every job)."""


class SummaryMetric(str, enum.Enum):
    """The summary's metric name, in the SDK's METRIC log convention."""

    RUN_SUMMARY = "kibo_inventory_summary"


@dataclass
class Place:
    """What went to one location with one operation."""

    items: int = 0
    requests: int = 0
    cost_steps: int = 0
    jobs: list[list[Any]] = field(default_factory=list)
    """[jobID, status] of each job, in order."""


@dataclass(frozen=True)
class Counts:
    """What other parts of the run count, read at one moment (progress lines, the summary)."""

    records_read: int = 0
    items_buffered: int = 0
    items_collapsed: int = 0
    """Records folded into an item already pending (or netted to no change)."""
    movements_skipped: int = 0
    """Movements not sent because they were applied before."""
    dead_lettered: int = 0


@dataclass
class Drain:
    """What was sent since the previous drain."""

    requests: int = 0
    items: int = 0
    locations: set[str] = field(default_factory=set)
    jobs: int = 0
    accepted_lines: int = 0
    """"Job accepted" lines logged at INFO (the rest go to DEBUG)."""


class RunStats:
    """The run's counters; thread-safe (the request and polling threads update them)."""

    def __init__(
        self,
        destination: str,
        full_sizes: Mapping[str, int],
        cost_steps: Mapping[str, int],
        *,
        words: Words,
        dry_run: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination = destination
        self.words = words
        """How the destination names what it does, and whether it has jobs."""
        self.full_sizes = dict(full_sizes)
        self.steps = dict(cost_steps)
        self.dry_run = dry_run
        self._clock = clock
        self.started = clock()
        self.places: dict[tuple[str, str], Place] = {}
        self.in_flight = 0
        self.requests = 0
        self.items = 0
        self.retries = 0
        self.jobs_accepted = 0
        self.jobs_final: Counter[str] = Counter()
        self.drain = Drain()
        self._job_places: dict[Any, list[Any]] = {}
        self._lock = threading.Lock()

    # While running

    def steps_of(self, operation: str, count: int) -> int:
        """Cost steps of a request of `count` items."""
        return math.ceil(count / self.steps[operation])

    def request_started(self) -> None:
        """A request went out (counted as in flight until it ends)."""
        with self._lock:
            self.in_flight += 1

    def request_ended(self) -> None:
        """A request ended, whatever its outcome."""
        with self._lock:
            self.in_flight -= 1

    def request_done(
        self, operation: str, location: str, count: int, job_id: int | str | None = None
    ) -> None:
        """A request was accepted (or, in a dry run, planned)."""
        with self._lock:
            place = self.places.setdefault((operation, location), Place())
            place.items += count
            place.requests += 1
            place.cost_steps += self.steps_of(operation, count)
            self.requests += 1
            self.items += count
            self.drain.requests += 1
            self.drain.items += count
            self.drain.locations.add(location)
            if job_id is not None:
                job = [job_id, None]
                place.jobs.append(job)
                self._job_places[job_id] = job
                self.jobs_accepted += 1
                self.drain.jobs += 1

    def accepted_line_at_info(self) -> bool:
        """Whether one more "accepted" line of this drain goes to INFO (its first ones)."""
        with self._lock:
            self.drain.accepted_lines += 1
            return self.drain.accepted_lines <= ACCEPTED_LINES_AT_INFO

    def job_final(self, job_id: int | str, status: str) -> None:
        """A job reached its final status."""
        with self._lock:
            self.jobs_final[status] += 1
            if (job := self._job_places.get(job_id)) is not None:
                job[1] = status

    def retry(self) -> None:
        """A request is tried again."""
        with self._lock:
            self.retries += 1

    def drain_line(self, jobs_waited: bool) -> str | None:
        """What the drain sent (or planned) and, when waited for, how the jobs ended.

        None when it sent nothing. Starts counting the next drain.
        """
        with self._lock:
            drain, self.drain = self.drain, Drain()
            finals = ", ".join(f"{n} {s}" for s, n in sorted(self.jobs_final.items()))
        if not drain.requests:
            return None
        verb = "planned (dry run)" if self.dry_run else "sent"
        jobs = f"; {drain.jobs} job(s)" if drain.jobs else ""
        if drain.jobs and jobs_waited:
            jobs += f", all finished (this run so far: {finals})"
        hidden = drain.accepted_lines - ACCEPTED_LINES_AT_INFO
        more = f"; {hidden} more 'accepted' line(s) at DEBUG" if hidden > 0 else ""
        return (
            f"Drain: {drain.requests} request(s) {verb}, {drain.items} items at "
            f"{len(drain.locations)} location(s){jobs}{more}."
        )

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self.started

    def progress_line(self, counts: Counts, tracking_jobs: bool) -> str:
        """One line: records read, items buffered, requests, retries, jobs, records/s.

        When jobs are waited for, it says how many finished.
        """
        records = counts.records_read
        elapsed = max(self.elapsed(), 1e-9)
        sent = "planned" if self.dry_run else "sent"
        jobs = f", {self.jobs_accepted:,} jobs accepted" if self.words.jobs else ""
        if tracking_jobs:
            jobs += f", {sum(self.jobs_final.values()):,} finished"
        return (
            f"Progress: {records:,} records read, {counts.items_buffered:,} items buffered, "
            f"{self.requests:,} requests {sent} ({self.in_flight} in flight), "
            f"{self.retries:,} retries{jobs}; {records / elapsed:,.0f} records/s."
        )

    # At the end

    def summary(
        self, status: str, counts: Counts = Counts(), failed_jobs_set_aside: int = 0
    ) -> dict[str, Any]:
        """The run in numbers: per location (and operation) and in total."""
        with self._lock:
            places = sorted(self.places.items(), key=lambda kv: (-kv[1].items, kv[0]))
            locations = [self._place(op, loc, place) for (op, loc), place in places]
            jobs = Counter({"accepted": self.jobs_accepted, **self.jobs_final})
            retries, requests, items = self.retries, self.requests, self.items
        return {
            "destination": self.destination,
            "dry_run": self.dry_run,
            "status": status,
            "elapsed_seconds": round(self.elapsed(), 3),
            "records": counts.records_read,
            "items_collapsed": counts.items_collapsed,
            "movements_skipped": counts.movements_skipped,
            "dead_lettered": counts.dead_lettered,
            "failed_jobs_set_aside": failed_jobs_set_aside,
            "locations_count": len({loc for (_, loc) in self.places}),
            "items": items,
            "requests": requests,
            "optimum_requests": sum(p["optimum_requests"] for p in locations),
            "cost_steps": sum(p["cost_steps"] for p in locations),
            "optimum_cost_steps": sum(p["optimum_cost_steps"] for p in locations),
            "retries": retries,
            "jobs": dict(jobs),
            "locations": locations[:MAX_LOCATIONS_LOGGED],
            "locations_omitted": max(0, len(locations) - MAX_LOCATIONS_LOGGED),
        }

    def _place(self, operation: str, location: str, place: Place) -> dict[str, Any]:
        full = self.full_sizes[operation]
        whole, rest = divmod(place.items, full)
        optimum_steps = whole * self.steps_of(operation, full) + self.steps_of(operation, rest)
        return {
            "location": location,
            "operation": operation,
            "items": place.items,
            "requests": place.requests,
            "optimum_requests": math.ceil(place.items / full),
            "cost_steps": place.cost_steps,
            "optimum_cost_steps": optimum_steps,
            "jobs": [
                {"jobID": job_id, "status": status}
                for job_id, status in place.jobs[:MAX_JOBS_LISTED]
            ],
            "jobs_count": len(place.jobs),
        }


def log_summary(logger: logging.Logger, summary: dict[str, Any], words: Words) -> None:
    """The summary as one INFO line and as one METRIC entry.

    The line counts cost steps and jobs where the destination has them (`words`). The METRIC
    entry follows the SDK's metric convention: `METRIC: {json}` on the `singer_sdk.metrics`
    logger, `metric_info` in structured logs.
    """
    jobs = summary["jobs"]
    finished = ", ".join(f"{n} {status}" for status, n in jobs.items() if status != "accepted")
    what = "planned" if summary["dry_run"] else "sent"
    mode = "dry run, " if summary["dry_run"] else ""
    skipped = summary["movements_skipped"]
    steps = (
        f", {summary['cost_steps']:,} cost steps (optimum {summary['optimum_cost_steps']:,})"
        if words.cost_steps
        else ""
    )
    counted_jobs = (
        f"; {jobs.get('accepted', 0):,} jobs{f' ({finished})' if finished else ''}"
        if words.jobs
        else ""
    )
    logger.info(
        "Summary (%s, %s%s): %s records, %s distinct items (%s collapsed%s) at %s location(s); "
        "%s requests %s (optimum %s)%s%s; %s dead-lettered; %s retries; %.1f s.",
        summary["destination"],
        mode,
        summary["status"],
        f"{summary['records']:,}",
        f"{summary['items']:,}",
        f"{summary['items_collapsed']:,}",
        f", {skipped:,} movements skipped as applied before" if skipped else "",
        f"{summary['locations_count']:,}",
        f"{summary['requests']:,}",
        what,
        f"{summary['optimum_requests']:,}",
        steps,
        counted_jobs,
        f"{summary['dead_lettered']:,}",
        f"{summary['retries']:,}",
        summary["elapsed_seconds"],
    )
    tags = {"destination": summary["destination"], "status": summary["status"]}
    # SDK typing gap: Point types `metric` as the SDK's own Metric enum, but reads only its
    # `.value`; a Point (not a look-alike) is what the SDK's structured logs turn into metric_info.
    point = metrics.Point("summary", SummaryMetric.RUN_SUMMARY, summary, tags)  # type: ignore[arg-type]
    metrics.log(metrics.get_metrics_logger(), point)


def print_table(summary: dict[str, Any], words: Words, stream: TextIO | None = None) -> None:
    """A compact table of the summary, for a person at a terminal.

    Its operations are named as the destination names them; cost steps and jobs are shown
    where it has them.
    """
    out = stream or sys.stderr
    locations = summary["locations"]
    rows = [("location", "operation", "items", "requests (optimum)", "cost steps", "jobs")]
    rows.extend(
        (
            _short(clip(place["location"]), 40),
            words.operations.get(place["operation"], place["operation"]),
            f"{place['items']:,}",
            f"{place['requests']:,} ({place['optimum_requests']:,})",
            f"{place['cost_steps']:,}",
            _jobs_cell(place["jobs"], place["jobs_count"]),
        )
        for place in locations[:MAX_LOCATIONS_SHOWN]
    )
    hidden = len(locations) - MAX_LOCATIONS_SHOWN + summary["locations_omitted"]
    if hidden > 0:
        rows.append((f"... {hidden:,} more", "", "", "", "", ""))
    rows.append(
        (
            "total",
            "",
            f"{summary['items']:,}",
            f"{summary['requests']:,} ({summary['optimum_requests']:,})",
            f"{summary['cost_steps']:,}",
            ", ".join(f"{n} {s}" for s, n in summary["jobs"].items()),
        )
    )
    shown = (True, True, True, True, words.cost_steps, words.jobs)
    table = [[cell for cell, show in zip(row, shown, strict=True) if show] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    mode = "dry run: planned, nothing sent" if summary["dry_run"] else summary["status"]
    lines = [f"target-kibo-inventory summary ({summary['destination']}, {mode})"]
    lines.extend(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table
    )
    lines.append(
        f"records {summary['records']:,}, dead-lettered {summary['dead_lettered']:,}, "
        f"retries {summary['retries']:,}, {summary['elapsed_seconds']:.1f} s"
    )
    out.write("\n".join(line.rstrip() for line in lines) + "\n")
    out.flush()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _jobs_cell(jobs: list[dict[str, Any]], count: int) -> str:
    shown = [f"{job['jobID']} {job['status'] or 'accepted'}" for job in jobs[:MAX_JOBS_SHOWN]]
    if count > MAX_JOBS_SHOWN:
        shown.append(f"+{count - MAX_JOBS_SHOWN}")
    return ", ".join(shown)
