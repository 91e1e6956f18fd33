"""Kibo's Inventory Refresh and Adjust over the translation (OMS-compatible) API.

Sources: kibo-uc-inventory-refresh.txt, kibo-uc-inventory-adjust.txt and
kibo-oms-inventory-refresh-legacy.txt (hosts, paths, bodies, job IDs), with the limits of Kibo's
OpenAPI spec (limits.py): refresh at most 12000 items, costed in steps of 3000; adjust at most
1000. Authentication (both Kibo APIs), from kibo-api-notes.md: an OAuth 2.0 access token from
Kibo's token URL with the Application (Client) ID and Client Secret (Kibo's "API
Authentication" page), or the legacy OMS's token form (HTTP Basic, renewed on 401 or 403).
No document places the job queue on the translation host: it is read there only for
`wait_for_jobs`, an assumption that a 404 names.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

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
from target_kibo_inventory.errors import SettingsError
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
"""Kibo's token URL for production tenants and sandboxes ("API Authentication" page)."""
TOKEN_PATH = "/api/platform/applications/authtickets/oauth"  # noqa: S105  a URL path, no secret
LEGACY_BASE_URL = "https://integration.shopatron.com"
LEGACY_AUTH_URL = "https://auth.shopatron.com/oauthserver/oauth2/token"
LEGACY_TOKEN_PATH = "/oauthserver/oauth2/token"  # noqa: S105  a URL path, no secret
"""The legacy OMS's token path (production, staging and development hosts alike): HTTP Basic
credentials and a form body."""
EU_HOME_POD = "https://home.euw1.kibocommerce.com"
"""The OpenAPI spec's "EURO HomePod Api" server (no document names it as a token URL)."""
AUTH_METHODS = ("oauth", "bearer_api_key")
"""`oauth` (documented): a token from api_key and api_secret; `bearer_api_key`: api_key itself."""
HOSTS = {
    "sandbox": "https://{tenant_id}-translation.sandbox.mozu.com",
    "production": "https://{tenant_id}-translation.mozu.com",
}
"""The translated guides' hosts, by environment (the guides name these two only)."""
PODS = ("sandbox", "tp1", "tp2", "tp3", "tp4", "tp5", "stg1", "stg2")
"""The native API's environments: the `env` of the OpenAPI spec's mozu.com tenant servers."""
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
QUEUE_ASSUMED = (
    "no Kibo document places the job queue on the translation host (wait_for_jobs assumes it "
    "is there; a 404 may mean it is not): set wait_for_jobs: false to load without reading it."
)
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
        FieldRule("quantity", rules.stock_count),
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
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if settings.environment not in HOSTS:
        raise SettingsError(
            f"environment '{settings.environment}' is a pod of Kibo's native API (api_style: "
            "unified_commerce); Kibo's translated guides name only the hosts of 'sandbox' "
            f"({HOSTS['sandbox']}) and 'production' ({HOSTS['production']})."
        )
    return HOSTS[settings.environment].format(tenant_id=settings.tenant_id)


def kibo_auth(settings: Settings, host: str) -> TokenAuth | BearerAuth:
    """`auth_method`: an OAuth2 token (`oauth`, the default) or the API key as the bearer."""
    if settings.auth_method != "bearer_api_key":
        return token_auth(settings, host)
    if settings.api_secret:
        raise SettingsError(
            "Setting 'api_secret' is set, but auth_method 'bearer_api_key' sends api_key itself "
            "as the bearer token and never uses it: remove api_secret, or set auth_method: "
            "oauth (the default) to get OAuth 2.0 tokens with it."
        )
    return BearerAuth(str(settings.api_key))


def token_auth(settings: Settings, host: str) -> TokenAuth:
    """OAuth2 client credentials: api_key and api_secret (SettingsError without the secret).

    The token comes from `auth_url`, else the legacy OMS's token URL for the legacy host, else
    Kibo's. The legacy token path takes HTTP Basic and a form body (`token_request`), and
    its tokens are renewed on 401 or 403.
    """
    if not settings.api_secret:
        raise SettingsError(OAUTH_SETTINGS_MISSING)
    url = settings.auth_url or (LEGACY_AUTH_URL if host == LEGACY_BASE_URL else AUTH_URL)
    legacy = urlsplit(url).path.rstrip("/") == LEGACY_TOKEN_PATH
    form = settings.token_request or ("basic" if legacy else "json")
    request = TokenRequest(url, str(settings.api_key), settings.api_secret, form, RENEW_ON[form])
    return TokenAuth(request)


class KiboApi:
    """What the Kibo destinations share.

    `{<location_key>, items}` bodies answered with a jobID, the batch sizes and cost steps,
    Kibo's error body, the tenant and site headers, and the job queue (Get Job, Get Jobs)
    under `urls["queue"]`, answered as JobQueueResponse. Each subclass sets its location key,
    item rules, URLs (its package's paths), tenant, site and auth.
    """

    location_key: str
    refresh_items: ItemRules
    adjust_items: ItemRules
    urls: dict[str, str]
    sizes: dict[str, int]
    tenant: str
    site: str | None
    jobs_read_documented = False
    """Whether a document places Get Jobs, as `jobs_url` reads it, on this host (the
    credentials check at start-up reads it then)."""

    @property
    def queue_path(self) -> str:
        """The path of the job queue (Get Jobs; Get Job below it)."""
        return urlsplit(self.urls["queue"]).path.rstrip("/")

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
        self.site = settings.site_id
        self.sizes = batch_sizes(settings)
        self._auth = kibo_auth(settings, self.host)
        self.legacy = self.host == LEGACY_BASE_URL
        """The legacy OMS host, where a document places the job queue."""

    def auth(self) -> TokenAuth | BearerAuth:
        """An OAuth2 token, or (`auth_method: bearer_api_key`) the API key as a bearer token."""
        return self._auth

    def error_message(self, response: requests.Response) -> str:
        """Kibo's `{error, message}`.

        A 404 of the job queue on the translation host adds that no document places it there.
        """
        message = server_message(response)
        if (
            response.status_code == HTTPStatus.NOT_FOUND
            and not self.legacy
            and urlsplit(response.url).path.startswith(self.queue_path)
        ):
            return f"{QUEUE_ASSUMED} Server said: {message}"
        return message

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """Kibo refused the tenant (or site) or the key."""
        secret = "/api_secret" if isinstance(self._auth, TokenAuth) else ""
        site = f", site '{self.site}' (x-vol-site)" if self.site else ""
        return (
            f"Kibo refused the tenant or API key (HTTP {status}) for {what}: tenant "
            f"'{self.tenant}' (x-vol-tenant){site} and the configured api_key{secret} were not "
            f"accepted. Server said: {server_says}"
        )
