"""Kibo's own settings: tenant, credentials, token URL, API style, host and batch sizes.

Hosts and token URLs from kibo-api-notes.md and the guides (translated hosts by environment,
the native API's pods), the limits from limits.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from singer_sdk import typing as th

from target_kibo_inventory.destinations.kibo.limits import (
    ADJUST_MAX_ITEMS,
    REFRESH_COST_STEP,
    REFRESH_MAX_ITEMS,
)
from target_kibo_inventory.errors import SettingsError
from target_kibo_inventory.settings import (
    DestinationSettings,
    https_url,
    is_loopback,
    require,
    setting,
)

if TYPE_CHECKING:
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
TOKEN_REQUESTS = ("json", "basic")
HOSTS = {
    "sandbox": "https://{tenant_id}-translation.sandbox.mozu.com",
    "production": "https://{tenant_id}-translation.mozu.com",
}
"""The translated guides' hosts, by environment (the guides name these two only)."""
PODS = ("sandbox", "tp1", "tp2", "tp3", "tp4", "tp5", "stg1", "stg2")
"""The native API's environments: the `env` of the OpenAPI spec's mozu.com tenant servers."""
ENVIRONMENTS = tuple(dict.fromkeys((*HOSTS, *PODS)))
"""The translated guides' `sandbox` and `production`, and the native API's pods."""
API_STYLES = ("translated", "unified_commerce")
API_PACKAGES = ("inventory_specific", "inventory_v5")


@dataclass(frozen=True)
class KiboSettings(DestinationSettings):
    """Kibo's settings (both API styles)."""

    tenant_id: str | None = setting(
        th.StringType,
        "Tenant ID",
        "Kibo tenant: sent as the `x-vol-tenant` header and used to build the host. "
        "Required for `kibo`.",
    )
    auth_method: str = setting(
        th.StringType(allowed_values=list(AUTH_METHODS)),
        "Kibo authentication",
        "`oauth` (Kibo's documented form): an OAuth 2.0 access token, obtained from "
        "`auth_url` with `api_key` (the Application (Client) ID) and `api_secret` (the "
        "Client Secret), both from your application in Kibo's Dev Center; `api_secret` is "
        "required. `bearer_api_key`: `api_key` itself is sent as the bearer token, for a key "
        "that Kibo accepts so (no Kibo document describes it; translated endpoints only).",
        default="oauth",
    )
    api_key: str | None = setting(
        th.StringType,
        "API key (Application ID)",
        "Kibo: the Application (Client) ID of your application in Kibo's Dev Center "
        "(`auth_method: oauth`), or a key sent as the bearer token itself "
        "(`auth_method: bearer_api_key`). Required for `kibo`.",
        secret=True,
    )
    api_secret: str | None = setting(
        th.StringType,
        "API secret (Client Secret)",
        "Kibo: the Client Secret of your application in Kibo's Dev Center. Required with "
        "`auth_method: oauth` (the default): the access token is obtained from `auth_url` "
        "with the client-credentials grant, cached until shortly before it expires, and "
        "renewed once when a request answers 401 (also 403 with the legacy OMS's token "
        "form, as its documents say).",
        secret=True,
    )
    auth_url: str | None = setting(
        th.StringType,
        "Token URL",
        f"OAuth2 token endpoint. Default: `{AUTH_URL}` (Kibo's token URL for production "
        f"tenants and sandboxes), or `{LEGACY_AUTH_URL}` when `base_url` is the legacy "
        f"`{LEGACY_BASE_URL}`. It does not follow `base_url`'s region: no Kibo document "
        f"says it does (the OpenAPI spec lists `{EU_HOME_POD}` as the EU home pod); set it "
        "when Kibo gives your tenant another one, and when `base_url` is a local emulator "
        f"(`<base_url>{TOKEN_PATH}`).",
        check=https_url,
    )
    token_request: str | None = setting(
        th.StringType(allowed_values=list(TOKEN_REQUESTS)),
        "Token request form",
        "`json`: JSON body with client_id, client_secret and grant_type (Kibo); `basic`: "
        "HTTP Basic credentials and a form body (legacy OMS). Default: `basic` for the "
        "legacy OMS's token path (`/oauthserver/oauth2/token`), `json` for any other.",
    )
    api_style: str = setting(
        th.StringType(allowed_values=list(API_STYLES)),
        "Kibo API style",
        "`translated`: the OMS-compatible translation endpoints "
        "(`https://{tenant_id}-translation...`, `locationName`); `unified_commerce`: Kibo's "
        "native inventory API on the tenant's pod (`https://t{tenant_id}.{environment}."
        "mozu.com/api/commerce/inventory/v5/inventory/...`, `locationCode`, the spec's item "
        "fields such as `LTD`, `tags` and `deliveryDate`), with OAuth2 tokens only.",
        default="translated",
    )
    site_id: str | None = setting(
        th.StringType,
        "Site ID",
        "Kibo site ID, sent as the `x-vol-site` header with every Kibo request (both API "
        "styles; Kibo's API Authentication page says calls may need it). Not sent when unset.",
    )
    environment: str = setting(
        th.StringType(allowed_values=list(ENVIRONMENTS)),
        "Environment",
        f"Translated endpoints: `sandbox` ({HOSTS['sandbox']}) or `production` "
        f"({HOSTS['production']}). Native API (`unified_commerce`): the tenant's pod as Kibo "
        "names it, `sandbox` (https://t{tenant_id}.sandbox.mozu.com) or `tp1`…`tp5`, "
        "`stg1`, `stg2` (https://t{tenant_id}.tp1.mozu.com, …); `production` alone names "
        "no native host and is refused. Ignored when `base_url` is set.",
        default="sandbox",
    )
    api_package: str = setting(
        th.StringType(allowed_values=list(API_PACKAGES)),
        "API package",
        "`inventory_specific` (preferred): /inv/api/v5/inventory/{refresh,adjust}/; "
        "`inventory_v5`: /api/v5/inventory/{refresh,adjust}.",
        default="inventory_specific",
    )
    refresh_batch_items: int = setting(
        th.IntegerType(minimum=1, maximum=REFRESH_MAX_ITEMS),
        "Items per refresh request",
        f"Items in a full refresh request. Kibo accepts up to {REFRESH_MAX_ITEMS} and "
        f"costs requests in steps of {REFRESH_COST_STEP} items.",
        default=REFRESH_MAX_ITEMS,
    )
    adjust_batch_items: int = setting(
        th.IntegerType(minimum=1, maximum=REFRESH_MAX_ITEMS),
        "Items per adjust request",
        f"Items in a full adjust request. Kibo documents at most {ADJUST_MAX_ITEMS} and "
        "answers 400 above it.",
        default=ADJUST_MAX_ITEMS,
    )

    def check(self, settings: Settings) -> None:
        """A Kibo API on this machine (an emulator) gets its token from this machine too.

        Without `auth_url` the token would be asked for at Kibo's own token URL, with the
        credentials meant for the local API.
        """
        base = settings.base_url
        if (
            self.auth_method != "oauth"
            or not base
            or self.auth_url
            or not is_loopback(urlsplit(base).hostname or "")
        ):
            return
        raise SettingsError(
            f"base_url '{base}' is on this machine, but without auth_url the OAuth token would "
            f"be asked for at {AUTH_URL} with the credentials meant for it: set auth_url too, "
            f"e.g. '{base.rstrip('/')}{TOKEN_PATH}' for the bundled emulator."
        )

    def warnings(self) -> list[str]:
        """Batch sizes that Kibo allows but that cost jobs or risk refusals."""
        warnings = []
        if self.refresh_batch_items % REFRESH_COST_STEP:
            costed = -(-self.refresh_batch_items // REFRESH_COST_STEP) * REFRESH_COST_STEP
            warnings.append(
                f"refresh_batch_items={self.refresh_batch_items} is not a multiple of "
                f"{REFRESH_COST_STEP}: Kibo costs refresh jobs in steps of {REFRESH_COST_STEP} "
                f"items, so each full request costs as much as {costed} items."
            )
        if self.adjust_batch_items > ADJUST_MAX_ITEMS:
            warnings.append(
                f"adjust_batch_items={self.adjust_batch_items} is above Kibo's documented "
                f"maximum of {ADJUST_MAX_ITEMS} items per adjust request: Kibo may answer 400 "
                "Bad Request and stop the run."
            )
        return warnings

    def required(self) -> None:
        """The tenant and the key are required (both API styles)."""
        require("kibo", ("tenant_id", "api_key"), self)

    @property
    def account(self) -> str | None:
        """The tenant."""
        return self.tenant_id

    @property
    def batch_sizes(self) -> dict[str, int]:
        """The items of a full request per operation."""
        return {"refresh": self.refresh_batch_items, "adjust": self.adjust_batch_items}
