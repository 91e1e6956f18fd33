"""Kibo's Inventory Refresh and Adjust over the translation (OMS-compatible) API.

Sources: kibo-uc-inventory-refresh.txt, kibo-uc-inventory-adjust.txt and
kibo-oms-inventory-refresh-legacy.txt (hosts, paths, bodies, job IDs), with the limits of Kibo's
OpenAPI spec (limits.py): refresh at most 12000 items, costed in steps of 3000; adjust at most
1000. No document places the job queue on the translation host: it is read there only for
`wait_for_jobs`, an assumption that a 404 names.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from target_kibo_inventory import rules
from target_kibo_inventory.auth import BearerAuth, TokenAuth
from target_kibo_inventory.destinations.base import FieldRule, ItemRules
from target_kibo_inventory.destinations.kibo.api import (
    IDENTIFIER_RULES,
    IDENTIFIERS,
    KiboApi,
    KiboJobQueue,
    attributes,
    bin_id,
    locator_name,
    server_message,
    stock_count,
    to_integer,
    token_auth,
)
from target_kibo_inventory.destinations.kibo.settings import HOSTS, LEGACY_BASE_URL, KiboSettings
from target_kibo_inventory.errors import SettingsError

if TYPE_CHECKING:
    import requests

    from target_kibo_inventory.settings import Settings

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

REFRESH_ITEMS = ItemRules(
    fields=(
        *IDENTIFIER_RULES,
        FieldRule("quantity", stock_count),
        FieldRule("binID", bin_id),
        FieldRule("ltd", rules.to_number),
        FieldRule("floor", to_integer),
        FieldRule("safetyStock", to_integer),
        FieldRule("currencyID", to_integer),
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
        FieldRule("quantity", to_integer),
        FieldRule("binID", bin_id),
        FieldRule("inventoryLocatorName", locator_name),
    ),
    identifiers=IDENTIFIERS,
    location=REFRESH_ITEMS.location,
)


def base_url(settings: Settings) -> str:
    """The host: `base_url`, else the environment's translation host of the tenant."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    own = settings.of(KiboSettings)
    if own.environment not in HOSTS:
        raise SettingsError(
            f"environment '{own.environment}' is a pod of Kibo's native API (api_style: "
            "unified_commerce); Kibo's translated guides name only the hosts of 'sandbox' "
            f"({HOSTS['sandbox']}) and 'production' ({HOSTS['production']})."
        )
    return HOSTS[own.environment].format(tenant_id=own.tenant_id)


def kibo_auth(settings: KiboSettings, host: str) -> TokenAuth | BearerAuth:
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


class KiboTranslated(KiboApi):
    """Kibo's translated endpoints: `{locationName, items}` bodies, answered with a jobID.

    Refresh items take every field; adjust items only identifiers, quantity, bin and locator.
    """

    location_key = "locationName"
    refresh_items = REFRESH_ITEMS
    adjust_items = ADJUST_ITEMS

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        own = settings.of(KiboSettings)
        self.host = base_url(settings)
        self.urls = {op: self.host + path for op, path in PATHS[own.api_package].items()}
        self.legacy = self.host == LEGACY_BASE_URL
        """The legacy OMS host, where a document places the job queue."""
        self.job_queue = KiboJobQueue(self.urls["queue"], documented=False)
        self._auth = kibo_auth(own, self.host)

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
            and urlsplit(response.url).path.startswith(self.job_queue.path)
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
