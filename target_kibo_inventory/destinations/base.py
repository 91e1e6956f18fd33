"""The destination interface: everything that differs between inventory APIs, in one object.

The shared machinery (mapping, validation, per-location batching, dispatch, retries, the
crash journal, dead letters, state) is written once against `Destination`; each API is one
module of this package that implements it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping, Sequence

    import requests


@dataclass(frozen=True)
class FieldRule:
    """An item field of the API: how its value is checked, and where it may be read from.

    The value is read from the record property that `field_map` names for `name`, else the
    property named `name` or its snake_case form; then, in order, from those of `fallbacks`
    (other API field names, e.g. Increff's channelSkuCode falls back to sku).
    """

    name: str
    convert: Callable[[Any], Any]
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemRules:
    """The items of one operation: their fields, which identify an item, and the location."""

    fields: tuple[FieldRule, ...]
    identifiers: tuple[str, ...]
    """At least one of these fields is required."""
    location: FieldRule
    """The location: read like a field, sent once per request, not in the items."""
    required: tuple[str, ...] = ("quantity",)
    """Fields every item must have."""


@dataclass(frozen=True)
class HttpRequest:
    """One request, ready to send."""

    method: str
    url: str
    body: bytes


@dataclass(frozen=True)
class FailedItem:
    """An item the API refused while it accepted the rest of the request."""

    identifier: str
    item: Mapping[str, Any]
    reason: str
    index: int | None = None
    """Its place among the request's items (which names the record it came from)."""


@dataclass
class Answer:
    """What a 2xx answer says: a job ID, or which items succeeded and failed."""

    job_id: int | str | None = None
    failed: list[FailedItem] = field(default_factory=list)
    succeeded: int = 0


class AnswerError(ValueError):
    """A 2xx answer that cannot be read (no job ID, not JSON, ...)."""


FINAL_STATUSES = frozenset({"SUCCESS", "FAILED"})
"""Job statuses after which a job changes no more (PENDING and WORKING mean: wait)."""


@dataclass(frozen=True)
class JobStatus:
    """A job as a job queue answers it (Kibo's JobQueueResponse)."""

    job_id: int | str
    status: str
    """PENDING, WORKING, SUCCESS or FAILED."""
    item_count: int | None = None
    messages: tuple[str, ...] = ()
    location: str | None = None
    type: str | None = None
    """REFRESH, ADJUST, ..."""
    added: str | None = None
    started: str | None = None
    finished: str | None = None
    """ISO 8601 times, UTC."""

    @property
    def final(self) -> bool:
        """Whether the job is done (SUCCESS or FAILED)."""
        return self.status in FINAL_STATUSES


def read_job_statuses(content: bytes) -> list[JobStatus]:
    """Kibo's JobQueueResponse: one object (Get Job) or an array of them (Get Jobs)."""
    try:
        answer = json.loads(content)
    except ValueError:
        raise AnswerError("the job queue's answer is not JSON") from None
    jobs = answer if isinstance(answer, list) else [answer]
    return [_job_status(job) for job in jobs]


def _job_status(job: Any) -> JobStatus:
    if not isinstance(job, dict) or job.get("jobID") is None or not job.get("status"):
        raise AnswerError("the job queue answered a job without jobID or status")
    messages = job.get("messages") or ()
    count = job.get("itemCount")
    return JobStatus(
        job_id=job["jobID"],
        status=str(job["status"]).upper(),
        item_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        messages=tuple(str(m) for m in messages) if isinstance(messages, list) else (),
        location=job.get("locationCode"),
        type=job.get("type"),
        added=job.get("added"),
        started=job.get("started"),
        finished=job.get("finished"),
    )


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def identity_by(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """An item's identity: its values of `fields` (those that name one inventory row)."""
    names = tuple(fields)

    def identity(item: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(map(item.get, names))

    return identity


def merge_json(earlier: bytes, later: bytes, quantity: int) -> bytes:
    """Two encoded items of one row as one: the later one's fields over the earlier's.

    A field the later item does not carry keeps the earlier value (a request sets the
    fields it carries); the quantity is the one given.
    """
    return _encode({**_decode(earlier), **_decode(later), "quantity": quantity})


class Destination(Protocol):
    """An inventory API: its requests, limits, item fields, auth and answers."""

    name: str
    """As in the `destination` setting and in the state's entries."""
    operations: tuple[str, ...]
    """The operations it takes ('refresh': absolute counts; 'adjust': deltas)."""
    location_key: str
    """The location's name in request bodies and state entries (locationName, locationCode)."""

    def items(self, operation: str) -> ItemRules:
        """The item fields of an operation, for the mapper."""
        ...

    def full_size(self, operation: str) -> int:
        """Items in a full request."""
        ...

    def cost_step(self, operation: str) -> int:
        """Items per cost step (a request of n items costs ⌈n/step⌉ steps)."""
        ...

    def encode_item(self, location: str, item: Mapping[str, Any]) -> bytes:
        """An item as the JSON value it is sent as."""
        ...

    def identity(self, item: Mapping[str, Any]) -> Hashable:
        """Which inventory row an item is: a location's items of one identity go out once.

        Its identifiers, and its bin, lot, serial number... where the API has them.
        """
        ...

    def merge(self, earlier: bytes, later: bytes, quantity: int) -> bytes:
        """Two encoded items of one row as one, with the later fields and this quantity."""
        ...

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        """The quantities an operation's item may carry (a folded sum must stay within)."""
        ...

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        """The request that sends these items for a location.

        `items` are parts whose concatenation is the encoded items separated by commas (the
        body is built with one copy).
        """
        ...

    def headers(self) -> dict[str, str]:
        """Headers sent with every request (e.g. the tenant)."""
        ...

    def auth(self) -> requests.auth.AuthBase:
        """How requests are authenticated."""
        ...

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        """A 2xx answer's body, read against the items sent (AnswerError when it cannot be)."""
        ...

    def error_message(self, response: requests.Response) -> str:
        """The server's own words in an error answer (the client masks secrets and cuts it)."""
        ...

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """What a 401/403 to `what` means here and what to check."""
        ...

    def job_url(self, job_id: int | str) -> str | None:
        """Where a job's status is read (Get Job).

        None when the API answers item by item and has no job queue (then `jobs_url` is None
        too and `read_jobs` is never called).
        """
        ...

    def jobs_url(
        self, location: str | None, *, types: Sequence[str] = (), limit: int = 100
    ) -> str | None:
        """Get Jobs: the newest jobs (of a location, of these types), at most `limit`."""
        ...

    def read_jobs(self, content: bytes) -> list[JobStatus]:
        """The job(s) of a job queue answer (AnswerError when it cannot be read)."""
        ...


def has_job_queue(destination: Destination) -> bool:
    """Whether the destination has a job queue to read (`job_url`, `jobs_url`, `read_jobs`).

    A destination written without these methods has none.
    """
    jobs_url = getattr(destination, "jobs_url", None)
    return (
        callable(jobs_url)
        and callable(getattr(destination, "job_url", None))
        and callable(getattr(destination, "read_jobs", None))
        and jobs_url(None, limit=1) is not None
    )


def jobs_read_documented(destination: Destination) -> bool:
    """Whether a document places the destination's Get Jobs where `jobs_url` reads it.

    A destination says so with a true `jobs_read_documented`; one that says nothing: no.
    """
    return bool(getattr(destination, "jobs_read_documented", False)) and has_job_queue(destination)


def run_warnings(destination: Destination) -> list[str]:
    """What the destination's answers left to say at the end of a run (its `run_warnings()`).

    A destination written without that method has nothing to say.
    """
    warnings = getattr(destination, "run_warnings", None)
    return list(warnings()) if callable(warnings) else []
