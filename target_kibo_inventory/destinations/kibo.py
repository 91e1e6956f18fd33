"""Kibo's Inventory Refresh and Adjust over the translation (OMS-compatible) API.

Sources: kibo-uc-inventory-refresh.txt, kibo-uc-inventory-adjust.txt and
kibo-oms-inventory-refresh-legacy.txt (hosts, paths, bodies, job IDs, the job queue), with
the limits of Kibo's OpenAPI spec (limits.py): refresh at most 12000 items, costed in steps of
3000; adjust at most 1000.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec

from target_kibo_inventory import rules
from target_kibo_inventory.auth import BearerAuth, TokenAuth, TokenRequest
from target_kibo_inventory.destinations.base import (
    Answer,
    AnswerError,
    FieldRule,
    HttpRequest,
    ItemRules,
    JobStatus,
    identity_by,
    merge_json,
    read_job_statuses,
)
from target_kibo_inventory.limits import (
    INT32_MAX,
    INT32_MIN,
    MAX_ATTRIBUTES,
    MAX_LOCATOR_NAME_LENGTH,
    REFRESH_COST_STEP,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import requests

    from target_kibo_inventory.settings import Settings

AUTH_URL = "https://home.mozu.com/api/platform/applications/authtickets/oauth"
LEGACY_BASE_URL = "https://integration.shopatron.com"
LEGACY_AUTH_URL = "https://auth.shopatron.com/oauthserver/oauth2/token"
HOSTS = {
    "sandbox": "https://{tenant_id}-translation.sandbox.mozu.com",
    "production": "https://{tenant_id}-translation.mozu.com",
}
PATHS = {
    "inventory_specific": {
        "refresh": "/inv/api/v5/inventory/refresh/",
        "adjust": "/inv/api/v5/inventory/adjust/",
        "queue": "/inv/api/v1/queue/",
    },
    "inventory_v5": {
        "refresh": "/api/v5/inventory/refresh",
        "adjust": "/api/v5/inventory/adjust",
        "queue": "/api/v1/queue/",
    },
}

IDENTIFIERS = ("partNumber", "upc", "sku")
ROW_FIELDS = (*IDENTIFIERS, "binID")
"""What names one inventory row of a location: the product's identifiers and its bin (the
guides' binID, "Bin Location Identifier"; inventoryLocatorName only says where that bin is)."""
_encode = msgspec.json.Encoder().encode
_JOB_ID = re.compile(rb'"jobID"\s*:\s*"?(\d+)"?')


def locator_name(value: Any) -> str:
    """`inventoryLocatorName`: a text of at most 50 characters."""
    return rules.text_of_at_most(value, MAX_LOCATOR_NAME_LENGTH)


def attributes(value: Any) -> list[str]:
    """`attributes`: a list of at most 50 strings."""
    return rules.strings(value, MAX_ATTRIBUTES, "attributes")


IDENTIFIER_RULES = tuple(FieldRule(name, rules.to_text) for name in IDENTIFIERS)
REFRESH_ITEMS = ItemRules(
    fields=(
        *IDENTIFIER_RULES,
        FieldRule("quantity", rules.count),
        FieldRule("binID", rules.bin_id),
        FieldRule("ltd", rules.to_number),
        FieldRule("floor", rules.to_integer),
        FieldRule("safetyStock", rules.to_integer),
        FieldRule("currencyID", rules.to_integer),
        FieldRule("retailPrice", rules.to_number),
        FieldRule("inventoryLocatorName", locator_name),
        FieldRule("attributes", attributes),
    ),
    identifiers=IDENTIFIERS,
    location=FieldRule("locationName", rules.location),
)
ADJUST_ITEMS = ItemRules(
    fields=(
        *IDENTIFIER_RULES,
        FieldRule("quantity", rules.to_integer),
        FieldRule("binID", rules.bin_id),
        FieldRule("inventoryLocatorName", locator_name),
    ),
    identifiers=IDENTIFIERS,
    location=REFRESH_ITEMS.location,
)


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


def base_url(settings: Settings) -> str:
    """The host: `base_url`, else the environment's translation host of the tenant."""
    url = settings.base_url or HOSTS[settings.environment].format(tenant_id=settings.tenant_id)
    return url.rstrip("/")


def token_auth_or_key(settings: Settings, host: str) -> TokenAuth | BearerAuth:
    """An OAuth2 token when `api_secret` is set (from `auth_url`), else the API key."""
    if not settings.api_secret:
        return BearerAuth(str(settings.api_key))
    url = settings.auth_url or (LEGACY_AUTH_URL if host == LEGACY_BASE_URL else AUTH_URL)
    form = settings.token_request or ("basic" if url == LEGACY_AUTH_URL else "json")
    return TokenAuth(TokenRequest(url, str(settings.api_key), settings.api_secret, form))


class KiboApi:
    """What the Kibo destinations share.

    `{<location_key>, items}` bodies answered with a jobID, the batch sizes and cost steps,
    Kibo's error body, and the job queue (Get Job, Get Jobs) under `urls["queue"]`, answered
    as JobQueueResponse. Each subclass sets its location key, item rules and URLs (its
    package's paths).
    """

    location_key: str
    refresh_items: ItemRules
    adjust_items: ItemRules
    urls: dict[str, str]
    sizes: dict[str, int]

    def items(self, operation: str) -> ItemRules:
        """The item rules of the operation."""
        return self.refresh_items if operation == "refresh" else self.adjust_items

    def full_size(self, operation: str) -> int:
        """`refresh_batch_items` (≤ 12000) or `adjust_batch_items` (≤ 1000 documented)."""
        return self.sizes[operation]

    def cost_step(self, operation: str) -> int:
        """3000 refresh items; an adjust request costs one step."""
        return REFRESH_COST_STEP if operation == "refresh" else self.sizes[operation]

    def encode_item(self, location: str, item: Mapping[str, Any]) -> bytes:
        """The item as JSON (the location goes once, in the body)."""
        return _encode(item)

    identity = staticmethod(identity_by(ROW_FIELDS))
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

    def job_url(self, job_id: int | str) -> str:
        """Where a job's status is read (the job queue of the same package)."""
        return f"{self.urls['queue']}{job_id}"

    def jobs_url(self, location: str | None, *, types: Sequence[str] = (), limit: int = 100) -> str:
        """Get Jobs, newest first: `?locationCode=...&types=...&limit=...` (types repeated)."""
        query: list[tuple[str, Any]] = [("locationCode", location)] if location else []
        query += [("types", job_type) for job_type in types]
        query.append(("limit", limit))
        return f"{self.urls['queue'].rstrip('/')}?{urlencode(query)}"

    def read_jobs(self, content: bytes) -> list[JobStatus]:
        """A JobQueueResponse, or an array of them."""
        return read_job_statuses(content)


def batch_sizes(settings: Settings) -> dict[str, int]:
    """The items of a full request per operation, from the settings."""
    return {"refresh": settings.refresh_batch_items, "adjust": settings.adjust_batch_items}


class KiboTranslated(KiboApi):
    """Kibo's translated endpoints: `{locationName, items}` bodies, answered with a jobID.

    Refresh items take every field; adjust items only identifiers, quantity, bin and locator.
    """

    name = "kibo"
    operations: tuple[str, ...] = ("refresh", "adjust")
    location_key = "locationName"
    refresh_items = REFRESH_ITEMS
    adjust_items = ADJUST_ITEMS

    def __init__(self, settings: Settings) -> None:
        settings.require(self.name, "tenant_id", "api_key")
        self.host = base_url(settings)
        self.urls = {op: self.host + path for op, path in PATHS[settings.api_package].items()}
        self.tenant = str(settings.tenant_id)
        self.sizes = batch_sizes(settings)
        self._auth = token_auth_or_key(settings, self.host)

    def headers(self) -> dict[str, str]:
        """Sent with every request: the tenant."""
        return {"x-vol-tenant": self.tenant}

    def auth(self) -> TokenAuth | BearerAuth:
        """The API key as a bearer token, or an OAuth2 token."""
        return self._auth

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """Kibo refused the tenant or the key."""
        secret = "/api_secret" if isinstance(self._auth, TokenAuth) else ""
        return (
            f"Kibo refused the tenant or API key (HTTP {status}) for {what}: tenant "
            f"'{self.tenant}' and the configured api_key{secret} were not accepted. Server "
            f"said: {server_says}"
        )
