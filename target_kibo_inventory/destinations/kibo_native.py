"""Kibo's native Unified Commerce inventory API (`api_style: unified_commerce`).

Source: Kibo's OpenAPI spec, kibo-openapi-inventory.json: the tenant-level servers
(`https://t{tenantId}.{env}.mozu.com/api`; the GCP-US and EU hosts through `base_url`), the
paths `/commerce/inventory/v5/inventory/refresh` and `/adjust` (RefreshRequest, AdjustRequest:
`locationCode` and `items`; RefreshItem, AdjustItem), the answer JobIDResponse, the job queue
`/commerce/inventory/v1/queue/{jobID}`, and bearer tokens (OAuth2 client credentials). The
limits (12000 refresh items costed in steps of 3000, 1000 adjust items) and the guides' field
limits are those of the translated endpoints (kibo.py, limits.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from target_kibo_inventory import rules
from target_kibo_inventory.auth import TokenAuth, TokenRequest
from target_kibo_inventory.destinations.base import FieldRule, ItemRules, identity_by
from target_kibo_inventory.destinations.kibo import (
    AUTH_URL,
    IDENTIFIER_RULES,
    IDENTIFIERS,
    ROW_FIELDS,
    KiboApi,
    attributes,
    batch_sizes,
    locator_name,
)
from target_kibo_inventory.settings import SettingsError

if TYPE_CHECKING:
    from target_kibo_inventory.settings import Settings

HOSTS = {
    "sandbox": "https://t{tenant_id}.sandbox.mozu.com",
    "production": "https://t{tenant_id}.mozu.com",
}
"""The spec's tenant-level servers, without their `/api` base (part of PATHS here)."""
API_BASE = "/api"
PATHS = {
    "refresh": "/api/commerce/inventory/v5/inventory/refresh",
    "adjust": "/api/commerce/inventory/v5/inventory/adjust",
    "queue": "/api/commerce/inventory/v1/queue/",
}


def _tags(value: Any) -> dict[str, str]:
    return rules.string_map(value, "strings (tag category name → tag name)")


_EXTRAS = (
    FieldRule("tags", _tags),
    FieldRule("deliveryDate", rules.date_time),
    FieldRule("externalID", rules.to_text),
    FieldRule("lotCode", rules.to_text),
    FieldRule("condition", rules.to_text),
    FieldRule("serialNumber", rules.to_text),
    FieldRule("date", rules.date_time),
)
"""The fields of both RefreshItem and AdjustItem that the translated endpoints lack."""
LOCATION = FieldRule("locationCode", rules.location, fallbacks=("locationName",))
NATIVE_ROW_FIELDS = (
    *ROW_FIELDS,
    "lotCode",
    "condition",
    "serialNumber",
    "externalID",
    "deliveryDate",
)
"""What names one inventory row: the translated API's, and the RefreshItem/AdjustItem fields
that set one unit, lot or condition of stock apart, or one future-inventory record (externalID,
deliveryDate)."""
"""A location code, read from `locationCode` (field_map, or a `locationCode` or `location_code`
property), else as for the translated endpoints (`locationName`, `location_name`)."""
REFRESH_ITEMS = ItemRules(
    fields=(
        *IDENTIFIER_RULES,
        FieldRule("quantity", rules.count),
        FieldRule("binID", rules.bin_id),
        FieldRule("LTD", rules.to_number),
        FieldRule("floor", rules.to_integer),
        FieldRule("safetyStock", rules.to_integer),
        FieldRule("retailPrice", rules.to_number),
        FieldRule("currencyID", rules.to_integer),
        FieldRule("inventoryLocatorName", locator_name),
        FieldRule("attributes", attributes),
        *_EXTRAS,
    ),
    identifiers=IDENTIFIERS,
    location=LOCATION,
)
"""RefreshItem. `LTD` is read from an `LTD` or `ltd` property (its snake_case form)."""
ADJUST_ITEMS = ItemRules(
    fields=(
        *IDENTIFIER_RULES,
        FieldRule("quantity", rules.to_integer),
        FieldRule("binID", rules.bin_id),
        *_EXTRAS,
    ),
    identifiers=IDENTIFIERS,
    location=LOCATION,
)
"""AdjustItem: no LTD, floor, safetyStock, retailPrice, currencyID, inventoryLocatorName or
attributes."""


def native_host(settings: Settings) -> str:
    """`base_url`, else the environment's tenant-level host.

    A trailing `/api` is dropped: the spec's server URLs end so, and PATHS start with it.
    """
    url = settings.base_url or HOSTS[settings.environment].format(tenant_id=settings.tenant_id)
    return url.rstrip("/").removesuffix(API_BASE)


class KiboUnifiedCommerce(KiboApi):
    """Kibo's native inventory API: `{locationCode, items}` bodies, answered with a jobID.

    OAuth2 tokens only; the tenant (and site) go in headers.
    """

    name = "kibo"
    operations: tuple[str, ...] = ("refresh", "adjust")
    location_key = "locationCode"
    refresh_items = REFRESH_ITEMS
    adjust_items = ADJUST_ITEMS
    identity = staticmethod(identity_by(NATIVE_ROW_FIELDS))

    def __init__(self, settings: Settings) -> None:
        try:
            settings.require(self.name, "tenant_id", "api_key", "api_secret")
        except SettingsError as error:
            raise SettingsError(
                f"{error} With api_style 'unified_commerce', Kibo's native API takes only "
                "OAuth2 access tokens, obtained from auth_url with api_key (the application's "
                "client ID) and api_secret (its shared secret)."
            ) from None
        self.host = native_host(settings)
        self.urls = {op: self.host + path for op, path in PATHS.items()}
        self.tenant = str(settings.tenant_id)
        self.site = settings.site_id
        self.sizes = batch_sizes(settings)
        self._auth = TokenAuth(
            TokenRequest(
                settings.auth_url or AUTH_URL,
                str(settings.api_key),
                str(settings.api_secret),
                settings.token_request or "json",
            )
        )

    def headers(self) -> dict[str, str]:
        """Sent with every request: the tenant, and the site when `site_id` is set."""
        headers = {"x-vol-tenant": self.tenant}
        if self.site:
            headers["x-vol-site"] = self.site
        return headers

    def auth(self) -> TokenAuth:
        """An OAuth2 access token (client credentials), cached and renewed."""
        return self._auth

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """Kibo refused the tenant, the site or the credentials."""
        site = (
            f"site '{self.site}' (x-vol-site)"
            if self.site
            else "no site (x-vol-site is sent only when site_id is set)"
        )
        return (
            f"Kibo refused the tenant, site or credentials (HTTP {status}) for {what}: tenant "
            f"'{self.tenant}' (x-vol-tenant), {site} and the access token of the configured "
            f"api_key/api_secret were not accepted (api_style 'unified_commerce'). Server "
            f"said: {server_says}"
        )
