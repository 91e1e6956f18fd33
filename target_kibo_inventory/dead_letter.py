"""Bad records: stop the run at the first one, or set each aside in a dead-letter file."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.files import AppendFile
from target_kibo_inventory.jobs import Job, JobFailedError, failed_job_message, shown_messages
from target_kibo_inventory.mapping import InvalidRecordError, SchemaMappingError
from target_kibo_inventory.reader import InputLineError
from target_kibo_inventory.redaction import redact
from target_kibo_inventory.rules import clip
from target_kibo_inventory.settings.shared import FRACTION_FLOOR

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_kibo_inventory.destinations.base import FailedItem, JobStatus

SHOWN_FAILURES = 20
"""Most failed items an error names (with the count of all)."""


class ItemsFailedError(RuntimeError):
    """The destination accepted a request but refused some of its items."""


class TooManyInvalidRecordsError(RuntimeError):
    """More records were set aside than `max_invalid_records` allows: the run stops."""


EXPLAINED = (
    InvalidRecordError,
    InputLineError,
    ItemsFailedError,
    SchemaMappingError,
    TooManyInvalidRecordsError,
)
"""Errors whose message says all: the run's error line is that message, with no traceback.
So is any error whose class sets `explained = True` (API errors, journal errors, job
errors), without this module importing theirs."""


def is_explained(error: BaseException | None) -> bool:
    """Whether an error's message says all that an operator needs."""
    return isinstance(error, EXPLAINED) or getattr(error, "explained", False) is True


def without_traceback(record: logging.LogRecord) -> bool:
    """A logging filter: an explained error is logged as its message alone, once.

    Its traceback goes to DEBUG, just before it; unknown errors keep theirs. The SDK's closing
    "Config validation failed" line is dropped: each settings error it lists names the setting.
    """
    if getattr(record, "traceback_of_error", False):
        return True
    error = record.exc_info[1] if record.exc_info else None
    if error is not None and is_explained(error):
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Traceback of the error below:",
                exc_info=record.exc_info,
                extra={"traceback_of_error": True},
            )
        record.error_type = type(error).__name__
        record.exc_info = None
        record.exc_text = None
    return not (record.msg == "Config validation failed" and hasattr(record, "schema"))


class InvalidLimit:
    """`max_invalid_records`: how many set-aside records a run takes before it stops.

    An integer (1, 2, ...; also written 5.0) is a count: the run stops when one more record
    than that is set aside. A number between 0 and 1 is a fraction of the records read so
    far, counting at least FRACTION_FLOOR of them, and allows at least one: the run stops as
    soon as the records set aside are more than `max(1, fraction * max(records read, 100))`
    (rounded down). So the first invalid record never stops a run, nor, at the default 0.1,
    do the first 10. Checked at each record set aside: the run stops at the record that
    passes the limit.
    """

    def __init__(self, value: float) -> None:
        if value >= 1:
            self.count: int | None = int(value)
            self.fraction = Fraction(0)
        else:
            self.count = None
            self.fraction = Fraction(str(value))
        self.value = value

    def allows(self, read: int) -> int:
        """The most records that may be set aside when this many were read."""
        if self.count is not None:
            return self.count
        return max(1, int(self.fraction * max(read, FRACTION_FLOOR)))

    def __str__(self) -> str:
        """The setting's value and what it means, for messages."""
        if self.count is not None:
            return f"{self.count}"
        percent = f"{float(self.fraction * 100):g}%"
        return f"{self.value:g}: {percent} of the records read, counting at least {FRACTION_FLOOR}"


class DeadLetters:
    """Where invalid records go: `fail` raises the error, `dead_letter` appends a JSON line.

    Under `dead_letter`, `max_invalid_records` (see InvalidLimit; None: no limit) bounds how
    many are set aside: past it the run stops like `fail` would. `records_read` tells how many
    records the run has read so far (the sinks' positions).
    """

    def __init__(
        self,
        policy: str,
        path: str,
        logger: logging.Logger,
        max_invalid_records: float | None = None,
        records_read: Callable[[], int] = lambda: 0,
        *,
        file: AppendFile | None = None,
    ) -> None:
        self.policy = policy
        self.path = Path(path)
        self._file = file or AppendFile(self.path, "the dead-letter file", "dead_letter_path")
        """Where the lines go (created owner-only; a dry run gives its own)."""
        self.logger = logger
        logger.addFilter(without_traceback)
        self.count = 0
        """Records and items set aside in this run (invalid records and refused items)."""
        self.failed_jobs = 0
        """Jobs that ended FAILED and were set aside (one line each, with their items)."""
        self.invalid = 0
        """Of them, invalid records."""
        self.refused: dict[str, int] = {}
        """Of them, items each destination refused."""
        self.limit = None if max_invalid_records is None else InvalidLimit(max_invalid_records)
        self.records_read = records_read
        self._lock = threading.Lock()

    @property
    def keeps_failed_jobs(self) -> bool:
        """Whether a failed job is set aside with its items (so they must be kept until then)."""
        return self.policy == "dead_letter"

    def reject(self, error: InvalidRecordError, record: Any) -> None:
        """Raise the error (`fail`), or write the record and the reason to the file."""
        if self.policy == "fail":
            raise error
        line = {
            "stream": error.stream,
            "position": error.position,
            "identifier": error.identifier,
            "field": error.field,
            "reason": str(error),
            "record": record,
        }
        where = f"record #{error.position} of stream '{clip(error.stream)}'"
        self._write([line], description=f"the dead-letter line of {where}")
        self.invalid += 1
        if self.count == 1:
            self.logger.warning("Invalid records are set aside in %s: %s", self.path, error)
        self._check_limit()

    def failed_items(
        self,
        destination: str,
        location: str,
        stream: str,
        failed: list[FailedItem],
        sources: Sequence[Any] = (),
    ) -> None:
        """Items a destination refused in an accepted request.

        `sources` name the record behind each item of the request, as (stream, position).
        Raises ItemsFailedError (`fail`), or writes each with its location and the reason.
        """
        records = [_source(f, sources) for f in failed]
        if self.policy == "fail":
            shown = ", ".join(
                clip(f.identifier) + (f" (record #{r[1]})" if r else "")
                for f, r in zip(failed[:SHOWN_FAILURES], records, strict=False)
            )
            more = (
                f" (and {len(failed) - SHOWN_FAILURES} more)"
                if len(failed) > SHOWN_FAILURES
                else ""
            )
            raise ItemsFailedError(
                f"{destination} refused {len(failed)} item(s) at location '{clip(location)}' "
                f"(stream {clip(stream)}): {shown}{more}; {failed[0].reason}. The other items "
                "of the request were applied. Set on_invalid_record: dead_letter to set refused "
                "items aside and go on."
            )
        lines = [
            {
                "stream": record[0] if record else stream,
                "position": record[1] if record else None,
                "destination": destination,
                "location": location,
                "identifier": f.identifier,
                "reason": f.reason,
                "item": f.item,
            }
            for f, record in zip(failed, records, strict=True)
        ]
        description = f"the dead-letter lines of {len(lines)} item(s) refused at '{clip(location)}'"
        self._write(lines, description=description, refused_by=destination)
        self.logger.warning(
            "%s refused %d item(s) at location '%s': set aside in %s.",
            destination,
            len(failed),
            clip(location),
            self.path,
        )
        self._check_limit()

    def failed_job(self, destination: str, job: Job, status: JobStatus) -> None:
        """A job that ended FAILED.

        Raises JobFailedError naming it (`fail`), or writes it as one line (its ID, location,
        messages and the items it carried) and goes on.
        """
        if self.policy == "fail":
            raise JobFailedError(failed_job_message(job, status, destination=destination))
        items = (
            json.loads(b"".join((b"[", *job.item_chunks, b"]")))
            if job.item_chunks is not None
            else None
        )
        line = {
            "stream": job.stream,
            "destination": destination,
            "jobID": job.job_id,
            "location": job.location,
            "operation": job.operation,
            "status": status.status,
            "itemCount": status.item_count,
            "messages": list(status.messages),
            "reason": f"the job ended {status.status}",
            "items": items,
        }
        self._write([line], description=f"the dead-letter line of {job.describe()}", count=False)
        self.failed_jobs += 1
        self.logger.warning(
            "%s %s ended FAILED: set aside in %s with its items (on_invalid_record: "
            "dead_letter); messages: %s",
            destination.capitalize(),
            job.describe(),
            self.path,
            shown_messages(status),
        )

    def _check_limit(self) -> None:
        """Raise TooManyInvalidRecordsError when more were set aside than the limit allows."""
        if self.limit is None:
            return
        read = self.records_read()
        allowed = self.limit.allows(read)
        if self.count <= allowed:
            return
        raise TooManyInvalidRecordsError(
            f"Stopped: {self.count} of the {read} records read so far were set aside in "
            f"{self.path} ({self._kinds()}), more than the {allowed} that max_invalid_records "
            f"allows ({self.limit}). So "
            "many bad records mean the feed or field_map is wrong: read the reasons in the "
            "dead-letter file, fix the cause and run again (the run resumes from the last STATE "
            "written), or raise max_invalid_records."
        )

    def _kinds(self) -> str:
        """What was set aside: invalid records, items a destination refused."""
        kinds = [f"{self.invalid} invalid"] if self.invalid or not self.refused else []
        kinds += [f"{n} refused by {name}" for name, n in self.refused.items()]
        return ", ".join(kinds)

    def _write(
        self,
        lines: list[dict[str, Any]],
        *,
        description: str,
        count: bool = True,
        refused_by: str | None = None,
    ) -> None:
        now = datetime.now(timezone.utc).isoformat()
        text = "".join(_to_json({**line, "set_aside_at": now}) + "\n" for line in lines)
        text = redact(text)  # a server's reason or a job's messages may echo a secret
        with self._lock:
            self._file.write(text, description)
            if count:
                self.count += len(lines)
            if refused_by is not None:
                self.refused[refused_by] = self.refused.get(refused_by, 0) + len(lines)

    def summary(self) -> dict[str, Any] | None:
        """What this run set aside so far, for each of its STATE messages (None under `fail`).

        Zeros too: where states are merged key by key (Meltano), a clean run never carries on
        an earlier run's counts.
        """
        if self.policy != "dead_letter":
            return None
        return {"path": str(self.path), "records": self.count, "failed_jobs": self.failed_jobs}

    def close(self) -> None:
        """Close the file and warn with the count of records set aside."""
        self._file.close()
        if self.count:
            read = self.records_read()
            loaded = max(read - self.count, 0)
            self.logger.warning(
                "%d of %d record(s) were set aside in %s (%s; on_invalid_record: dead_letter); "
                "%s loaded.",
                self.count,
                read,
                self.path,
                self._kinds(),
                "none was" if not loaded else f"{loaded} {'was' if loaded == 1 else 'were'}",
            )
        if self.failed_jobs:
            self.logger.warning(
                "%d job(s) ended FAILED and were set aside in %s with their items "
                "(on_invalid_record: dead_letter).",
                self.failed_jobs,
                self.path,
            )


def _source(failed: FailedItem, sources: Sequence[Any]) -> tuple[str, int] | None:
    """The (stream, position) of the record behind a refused item, when known."""
    if failed.index is None or failed.index >= len(sources):
        return None
    source = sources[failed.index]
    return (str(source[0]), int(source[1])) if isinstance(source, tuple) else None


def _to_json(line: dict[str, Any]) -> str:
    """The line as JSON.

    A record nested nearly as deep as the reader allows is encoded in a fresh thread, whose
    call stack is empty.
    """
    try:
        return json.dumps(line, default=str)
    except RecursionError:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(json.dumps, line, default=str).result()
