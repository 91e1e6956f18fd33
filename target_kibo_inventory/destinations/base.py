"""The destination interface: everything that differs between inventory APIs, in one object.

The shared machinery (mapping, validation, per-location batching, dispatch, retries, the
crash journal, dead letters, state) is written once against `Destination`; each API is one
module (or package) of `destinations` that implements it and declares it as `DESTINATION`
(a `DestinationType`: its name, settings and how it is built), where the registry finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import requests

    from target_kibo_inventory.settings import DestinationSettings, Settings


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


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode


def merge_json(earlier: bytes, later: bytes, quantity: int) -> bytes:
    """Two encoded items of one row as one: the later one's fields over the earlier's.

    A field the later item does not carry keeps the earlier value (a request sets the
    fields it carries); the quantity is the one given.
    """
    return _encode({**_decode(earlier), **_decode(later), "quantity": quantity})


@dataclass(frozen=True)
class Words:
    """How log lines, errors and the summary name a destination and what it does."""

    title: str
    """The API in a sentence: `Kibo`, `Increff`."""
    operations: Mapping[str, str] = field(
        default_factory=lambda: {"refresh": "refresh", "adjust": "adjust"}
    )
    """What it calls each operation (Increff's absolute counts: `inventory update`)."""
    items: str = "items"
    """What it calls the items of a request (Increff: `SKUs`)."""
    cost_steps: bool = True
    """Whether it costs a request in steps of items (Kibo), so that the summary counts them."""
    jobs: bool = True
    """Whether an accepted request becomes a job, so that the summary counts jobs."""

    def request(self, operation: str, count: int) -> str:
        """`refresh of 5 items`, `inventory update of 300 SKUs`."""
        return f"{self.operations[operation]} of {count} {self.items}"


class JobQueue(Protocol):
    """Where a destination's accepted jobs are read: Get Job and Get Jobs."""

    @property
    def documented(self) -> bool:
        """Whether a document places Get Jobs where `jobs_url` reads it.

        The credentials check at start-up reads it then.
        """
        ...

    def job_url(self, job_id: int | str) -> str:
        """Where a job's status is read (Get Job)."""
        ...

    def jobs_url(self, location: str | None, *, types: Sequence[str] = (), limit: int = 100) -> str:
        """Get Jobs: the newest jobs (of a location, of these types), at most `limit`."""
        ...

    def read_jobs(self, content: bytes) -> list[JobStatus]:
        """The job(s) of an answer of either (AnswerError when it cannot be read)."""
        ...


class Destination(Protocol):
    """An inventory API: its requests, limits, item fields, auth, answers, words and job queue."""

    name: str
    """As in the `destination` setting and in the state's entries."""
    operations: tuple[str, ...]
    """The operations it takes ('refresh': absolute counts; 'adjust': deltas)."""
    location_key: str
    """The location's name in request bodies and state entries (locationName, locationCode)."""
    identity_fields: tuple[str, ...]
    """The fields that name one inventory row (identifiers, and bin, lot, serial number...
    where the API has them): a location's items of one identity go out once."""

    @property
    def words(self) -> Words:
        """How the logs and the summary name it and what it does."""
        ...

    @property
    def job_queue(self) -> JobQueue | None:
        """Where its jobs are read; None when it answers item by item and has none."""
        ...

    def items(self, operation: str) -> ItemRules:
        """The item fields of an operation, for the mapper."""
        ...

    def full_size(self, operation: str) -> int:
        """Items in a full request."""
        ...

    def cost_step(self, operation: str) -> int:
        """Items per cost step (a request of n items costs ⌈n/step⌉ steps)."""
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
        body is built with one copy); each item is its own JSON object.
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

    def run_warnings(self) -> list[str]:
        """What its answers left to say at the end of a run (Increff: SKUs named otherwise)."""
        ...


@dataclass(frozen=True)
class DestinationType:
    """What a destination's module declares as `DESTINATION`; the registry finds it there."""

    name: str
    """As in the `destination` setting."""
    summary: str
    """What it loads, for the `destination` setting's description."""
    settings: type[DestinationSettings]
    """Its own settings (declared with `settings.setting`), with their checks."""
    build: Callable[[Settings], Destination]
    """The destination for the run's settings (SettingsError when they do not fit)."""
