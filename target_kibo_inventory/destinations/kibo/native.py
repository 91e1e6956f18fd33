"""Kibo's native Unified Commerce inventory API (`api_style: unified_commerce`).

Source: Kibo's OpenAPI spec, kibo-openapi-inventory.json: the tenant-level servers
(`https://t{tenantId}.{env}.mozu.com/api`; the GCP-US and EU hosts through `base_url`), the
paths `/commerce/inventory/v5/inventory/refresh` and `/adjust` (RefreshRequest, AdjustRequest:
`locationCode` and `items`; RefreshItem, AdjustItem), the answer JobIDResponse, the job queue
`/commerce/inventory/v1/queue/{jobID}` and Get Jobs, and bearer tokens (OAuth2 client
credentials). The host is the tenant's pod (`environment`: the spec's `env` on mozu.com, as
api-docs.kibocommerce.com's Base URLs name them; `production` alone names none). The limits
(12000 refresh items costed in steps of 3000, 1000 adjust items) and the guides' field limits
are those of the translated endpoints (limits.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from target_kibo_inventory import rules
from target_kibo_inventory.destinations.base import FieldRule, ItemRules
from target_kibo_inventory.destinations.kibo.api import (
    IDENTIFIER_RULES,
    IDENTIFIERS,
    ROW_FIELDS,
    KiboApi,
    KiboJobQueue,
    attributes,
    bin_id,
    locator_name,
    stock_count,
    to_integer,
    token_auth,
)
from target_kibo_inventory.destinations.kibo.settings import PODS, KiboSettings
from target_kibo_inventory.errors import SettingsError

if TYPE_CHECKING:
    from target_kibo_inventory.auth import TokenAuth
    from target_kibo_inventory.settings import Settings

HOST = "https://t{tenant_id}.{pod}.mozu.com"
"""The spec's tenant-level server on mozu.com, without its `/api` base (part of PATHS here)."""
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
        FieldRule("quantity", stock_count),
        FieldRule("binID", bin_id),
        FieldRule("LTD", rules.to_number),
        FieldRule("floor", to_integer),
        FieldRule("safetyStock", to_integer),
        FieldRule("retailPrice", rules.to_number),
        FieldRule("currencyID", to_integer),
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
        FieldRule("quantity", to_integer),
        FieldRule("binID", bin_id),
        *_EXTRAS,
    ),
    identifiers=IDENTIFIERS,
    location=LOCATION,
)
"""AdjustItem: no LTD, floor, safetyStock, retailPrice, currencyID, inventoryLocatorName or
attributes."""


def native_host(settings: Settings) -> str:
    """`base_url`, else the tenant's host on the pod that `environment` names.

    A trailing `/api` is dropped: the spec's server URLs end so, and PATHS start with it.
    """
    if settings.base_url:
        return settings.base_url.rstrip("/").removesuffix(API_BASE)
    own = settings.of(KiboSettings)
    if own.environment not in PODS:
        pods = ", ".join(PODS[1:])
        raise SettingsError(
            f"environment '{own.environment}' names no host of Kibo's native API "
            "(api_style: unified_commerce): production lives on the tenant's pod, "
            f"{HOST.format(tenant_id=own.tenant_id, pod='tpN')}/api. Set environment to "
            f"that pod, one of {pods} (the tpN in your tenant's URLs), or to sandbox; EU and "
            "GCP-US tenants set base_url (e.g. "
            f"https://t{own.tenant_id}.tp1.euw1.kibocommerce.com)."
        )
    return HOST.format(tenant_id=own.tenant_id, pod=own.environment)


class KiboUnifiedCommerce(KiboApi):
    """Kibo's native inventory API: `{locationCode, items}` bodies, answered with a jobID.

    OAuth2 tokens only; the tenant (and site) go in headers.
    """

    location_key = "locationCode"
    refresh_items = REFRESH_ITEMS
    adjust_items = ADJUST_ITEMS
    identity_fields: tuple[str, ...] = NATIVE_ROW_FIELDS

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        own = settings.of(KiboSettings)
        if own.auth_method == "bearer_api_key":
            raise SettingsError(
                "auth_method 'bearer_api_key' cannot be used with api_style 'unified_commerce': "
                "Kibo's native API takes only OAuth 2.0 access tokens (its OpenAPI spec: a JWT "
                "bearer). Use auth_method: oauth (the default) with api_key and api_secret."
            )
        self.host = native_host(settings)
        self.urls = {op: self.host + path for op, path in PATHS.items()}
        self.job_queue = KiboJobQueue(self.urls["queue"], documented=True)
        """The spec documents Get Jobs (`/commerce/inventory/v1/queue`) on the tenant's host."""
        self._auth = token_auth(own, self.host)

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
