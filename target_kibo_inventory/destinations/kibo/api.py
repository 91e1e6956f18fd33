"""What Kibo's two inventory APIs share: bodies, answers, job queue, item rules, OAuth tokens.

Both take `{<location key>, items}` bodies, answer a jobID (JobIDResponse) and queue jobs
read with Get Job and Get Jobs (JobQueueResponse): the OpenAPI spec,
kibo-openapi-inventory.json, and the translated guides. Authentication, from
kibo-api-notes.md: an OAuth 2.0 access token from Kibo's token URL with the Application
(Client) ID and Client Secret (Kibo's "API Authentication" page), or the legacy OMS's token
form (HTTP Basic, renewed on 401 or 403).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import msgspec

from target_kibo_inventory import redaction, rules
from target_kibo_inventory.auth import TokenAuth, TokenRequest
from target_kibo_inventory.destinations.base import (
    Answer,
    FieldRule,
    HttpRequest,
    ItemRules,
    JobStatus,
    Words,
    merge_json,
)
from target_kibo_inventory.destinations.kibo.limits import (
    INT32_MAX,
    INT32_MIN,
    MAX_ATTRIBUTES,
    MAX_LOCATOR_NAME_LENGTH,
    MIN_BIN_ID,
    REFRESH_COST_STEP,
)
from target_kibo_inventory.destinations.kibo.settings import (
    AUTH_URL,
    LEGACY_AUTH_URL,
    LEGACY_BASE_URL,
    LEGACY_TOKEN_PATH,
    KiboSettings,
)
from target_kibo_inventory.errors import AnswerError, SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import requests

    from target_kibo_inventory.settings import Settings

WORDS = Words("Kibo")
"""Refresh and adjust requests of items, costed in steps, answered with jobs."""
RENEW_ON = {"json": frozenset({401}), "basic": frozenset({401, 403})}
"""Statuses on which a token is renewed, by token form: the legacy OMS's auth page says 401 or
403; Kibo's "API Authentication" page says nothing (401 is OAuth 2.0's, RFC 6750: assumed)."""
OAUTH_SETTINGS_MISSING = (
    "Setting 'api_secret' is required for destination 'kibo' with auth_method 'oauth' (the "
    "default): Kibo's APIs take an OAuth 2.0 access token, which the target gets with the "
    "Application (Client) ID (api_key) and the Client Secret (api_secret) that Kibo assigns to "
    "your application in its Dev Center. A key that Kibo accepts as a bearer token itself needs "
    "auth_method: bearer_api_key."
)

INTEGERS = rules.Integers(INT32_MIN, INT32_MAX, " (Kibo's integers are 32-bit)")
to_integer = INTEGERS.integer()
"""A 32-bit integer, from an int, an integral float or a numeric string like '101.0'."""
stock_count = INTEGERS.at_least(0, " for refresh (an absolute count)")
"""An absolute count (refresh): an integer from 0."""
bin_id = INTEGERS.at_least(MIN_BIN_ID)
"""A bin: an integer from 1."""

IDENTIFIERS = ("partNumber", "upc", "sku")
ROW_FIELDS = (*IDENTIFIERS, "binID")
"""What names one inventory row of a location: the product's identifiers and its bin (the
guides' binID, "Bin Location Identifier"; inventoryLocatorName only says where that bin is)."""
IDENTIFIER_RULES = tuple(FieldRule(name, rules.to_text) for name in IDENTIFIERS)
_encode = msgspec.json.Encoder().encode
_JOB_ID = re.compile(rb'"jobID"\s*:\s*"?(\d+)"?')


def locator_name(value: Any) -> str:
    """`inventoryLocatorName`: a text of at most 50 characters."""
    return rules.text_of_at_most(value, MAX_LOCATOR_NAME_LENGTH)


def attributes(value: Any) -> list[str]:
    """`attributes`: a list of at most 63 strings."""
    return rules.strings(value, MAX_ATTRIBUTES, "attributes")


def read_job_id(content: bytes) -> int | str:
    """The answer's jobID: an integer, or a string of digits kept as given.

    Kibo's own example answers `{"jobID": 01234567}`, which is not valid JSON; such an
    answer is read with a pattern and the digits are kept as given.
    """
    try:
        answer = json.loads(content)
    except ValueError:
        match = _JOB_ID.search(content)
        if match:
            return match.group(1).decode()
        raise AnswerError("the answer is not JSON") from None
    job_id = answer.get("jobID") if isinstance(answer, dict) else None
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        return job_id
    if isinstance(job_id, str) and job_id.isdigit():
        return job_id
    raise AnswerError("the answer has no jobID")


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


def server_message(response: requests.Response) -> str:
    """The server's own words: its JSON message or error, else the body."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        message = answer.get("message") or answer.get("error") or answer.get("error_description")
        if message:
            return str(message)
    return response.text or response.reason or ""


def token_auth(settings: KiboSettings, host: str) -> TokenAuth:
    """OAuth2 client credentials: api_key and api_secret (SettingsError without the secret).

    The token comes from `auth_url`, else the legacy OMS's token URL for the legacy host, else
    Kibo's. The legacy token path takes HTTP Basic and a form body (`token_request`), and
    its tokens are renewed on 401 or 403; those Basic credentials are masked in the logs.
    """
    if not settings.api_secret:
        raise SettingsError(OAUTH_SETTINGS_MISSING)
    url = settings.auth_url or (LEGACY_AUTH_URL if host == LEGACY_BASE_URL else AUTH_URL)
    legacy = urlsplit(url).path.rstrip("/") == LEGACY_TOKEN_PATH
    form = settings.token_request or ("basic" if legacy else "json")
    key = str(settings.api_key)
    if form == "basic":
        basic = f"{key}:{settings.api_secret}".encode("latin1", "replace")
        redaction.add_secret(base64.b64encode(basic).decode())
    return TokenAuth(TokenRequest(url, key, settings.api_secret, form, RENEW_ON[form]))


@dataclass(frozen=True)
class KiboJobQueue:
    """Get Job (`<queue><jobID>`) and Get Jobs (`<queue>?locationCode=...`), JobQueueResponse."""

    url: str
    """The queue's URL, ending with a slash."""
    documented: bool
    """Whether a document places Get Jobs there (the credentials check reads it then)."""

    @property
    def path(self) -> str:
        """The path of the job queue (Get Jobs; Get Job below it)."""
        return urlsplit(self.url).path.rstrip("/")

    def job_url(self, job_id: int | str) -> str:
        """Where a job's status is read."""
        return f"{self.url}{job_id}"

    def jobs_url(self, location: str | None, *, types: Sequence[str] = (), limit: int = 100) -> str:
        """Get Jobs, newest first: `?locationCode=...&types=...&limit=...` (types repeated)."""
        query: list[tuple[str, Any]] = [("locationCode", location)] if location else []
        query += [("types", job_type) for job_type in types]
        query.append(("limit", limit))
        return f"{self.url.rstrip('/')}?{urlencode(query)}"

    def read_jobs(self, content: bytes) -> list[JobStatus]:
        """A JobQueueResponse, or an array of them."""
        return read_job_statuses(content)


class KiboApi:
    """What the Kibo destinations share.

    `{<location_key>, items}` bodies answered with a jobID, the batch sizes and cost steps,
    Kibo's error body, the tenant and site headers, and the job queue. Each subclass sets its
    location key, item rules, URLs (its package's paths) and auth.
    """

    name = "kibo"
    operations: tuple[str, ...] = ("refresh", "adjust")
    words = WORDS
    location_key: str
    refresh_items: ItemRules
    adjust_items: ItemRules
    urls: dict[str, str]
    job_queue: KiboJobQueue

    def __init__(self, settings: Settings) -> None:
        own = settings.of(KiboSettings)
        own.required()
        self.tenant = str(own.tenant_id)
        self.site = own.site_id
        self.sizes = own.batch_sizes

    def headers(self) -> dict[str, str]:
        """Sent with every request: the tenant, and the site when `site_id` is set."""
        headers = {"x-vol-tenant": self.tenant}
        if self.site:
            headers["x-vol-site"] = self.site
        return headers

    def items(self, operation: str) -> ItemRules:
        """The item rules of the operation."""
        return self.refresh_items if operation == "refresh" else self.adjust_items

    def full_size(self, operation: str) -> int:
        """`refresh_batch_items` (≤ 12000) or `adjust_batch_items` (≤ 1000 documented)."""
        return self.sizes[operation]

    def cost_step(self, operation: str) -> int:
        """3000 refresh items; an adjust request costs one step."""
        return REFRESH_COST_STEP if operation == "refresh" else self.sizes[operation]

    identity_fields: tuple[str, ...] = ROW_FIELDS
    merge = staticmethod(merge_json)

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        """Counts from 0, deltas of either sign; 32-bit integers."""
        return (0 if operation == "refresh" else INT32_MIN, INT32_MAX)

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        """POST `{"<location_key>": ..., "items": [...]}`, built with one copy."""
        key = self.location_key.encode()
        head = b'{"' + key + b'":' + _encode(location) + b',"items":['
        return HttpRequest("POST", self.urls[operation], b"".join((head, *items, b"]}")))

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        """JobIDResponse: `{"jobID": n}`."""
        return Answer(job_id=read_job_id(content))

    def error_message(self, response: requests.Response) -> str:
        """The `message` (or `error`) of Kibo's `{error, message}` body."""
        return server_message(response)

    def run_warnings(self) -> list[str]:
        """Nothing: a job's outcome is read from the job queue."""
        return []
