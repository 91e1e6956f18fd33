"""Settings: the config schema, its defaults, and checks of combinations of settings."""

from __future__ import annotations

import base64
import copy
import difflib
import ipaddress
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.configuration._dict_config import parse_environment_config

from target_kibo_inventory.dead_letter import (
    DEFAULT_MAX_INVALID_RECORDS,
    FRACTION_FLOOR,
    append_problem,
)
from target_kibo_inventory.destinations.kibo import (
    AUTH_METHODS,
    AUTH_URL,
    EU_HOME_POD,
    HOSTS,
    LEGACY_AUTH_URL,
    LEGACY_BASE_URL,
    PODS,
    TOKEN_PATH,
)
from target_kibo_inventory.errors import SettingsError as SettingsError  # noqa: PLC0414  re-export
from target_kibo_inventory.limits import (
    ADJUST_MAX_ITEMS,
    INCREFF_MAX_ITEMS,
    REFRESH_COST_STEP,
    REFRESH_MAX_ITEMS,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Collection, Iterable, Mapping

OPERATIONS = ("refresh", "adjust")
DESTINATIONS = ("kibo", "increff")
API_STYLES = ("translated", "unified_commerce")
ENVIRONMENTS = tuple(dict.fromkeys((*HOSTS, *PODS)))
"""The translated guides' `sandbox` and `production`, and the native API's pods."""
API_PACKAGES = ("inventory_specific", "inventory_v5")
TOKEN_REQUESTS = ("json", "basic")
INCREFF_PAYLOADS = ("products", "v0")
DEFAULT_MAX_BUFFERED_ITEMS = 1_000_000
DEFAULT_MAX_MOVEMENTS_AT_BOOKMARK = 10_000
DEFAULT_MAX_PARALLEL_REQUESTS = 8

IGNORED_SDK_SETTINGS = {
    "batch_size_rows": (
        "requests are sized per location by refresh_batch_items and adjust_batch_items"
    ),
    "load_method": "refresh sends absolute counts and adjust sends deltas (see operation)",
    "add_record_metadata": "items sent to Kibo carry no _sdc_ metadata",
}
"""SDK settings this target leaves out of its schema, and why; accepted with a warning."""

SEE_ABOUT = "`target-kibo-inventory --about` lists them."

ENV_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
ENV_BOOLEANS |= {"false": False, "0": False, "no": False, "off": False}
ENV_TYPES = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
}
"""Setting types read from environment variables' text (in this order), as errors name them."""

_OPERATION = th.StringType(allowed_values=list(OPERATIONS))

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "destination",
        th.StringType(allowed_values=list(DESTINATIONS)),
        default="kibo",
        title="Destination",
        description=(
            "The OMS to load: `kibo` (Kibo OMS or Unified Commerce, see `api_style`) or "
            "`increff` (Increff OMS absolute inventory)."
        ),
    ),
    th.Property(
        "tenant_id",
        th.StringType,
        title="Tenant ID",
        description=(
            "Kibo tenant: sent as the `x-vol-tenant` header and used to build the host. "
            "Required for `kibo`."
        ),
    ),
    th.Property(
        "auth_method",
        th.StringType(allowed_values=list(AUTH_METHODS)),
        default="oauth",
        title="Kibo authentication",
        description=(
            "`oauth` (Kibo's documented form): an OAuth 2.0 access token, obtained from "
            "`auth_url` with `api_key` (the Application (Client) ID) and `api_secret` (the "
            "Client Secret), both from your application in Kibo's Dev Center; `api_secret` is "
            "required. `bearer_api_key`: `api_key` itself is sent as the bearer token, for a key "
            "that Kibo accepts so (no Kibo document describes it; translated endpoints only)."
        ),
    ),
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        title="API key (Application ID)",
        description=(
            "Kibo: the Application (Client) ID of your application in Kibo's Dev Center "
            "(`auth_method: oauth`), or a key sent as the bearer token itself "
            "(`auth_method: bearer_api_key`). Required for `kibo`."
        ),
    ),
    th.Property(
        "api_secret",
        th.StringType,
        secret=True,
        title="API secret (Client Secret)",
        description=(
            "Kibo: the Client Secret of your application in Kibo's Dev Center. Required with "
            "`auth_method: oauth` (the default): the access token is obtained from `auth_url` "
            "with the client-credentials grant, cached until shortly before it expires, and "
            "renewed once when a request answers 401 (also 403 with the legacy OMS's token "
            "form, as its documents say)."
        ),
    ),
    th.Property(
        "auth_url",
        th.StringType,
        title="Token URL",
        description=(
            f"OAuth2 token endpoint. Default: `{AUTH_URL}` (Kibo's token URL for production "
            f"tenants and sandboxes), or `{LEGACY_AUTH_URL}` when `base_url` is the legacy "
            f"`{LEGACY_BASE_URL}`. It does not follow `base_url`'s region: no Kibo document "
            f"says it does (the OpenAPI spec lists `{EU_HOME_POD}` as the EU home pod); set it "
            "when Kibo gives your tenant another one, and when `base_url` is a local emulator "
            f"(`<base_url>{TOKEN_PATH}`)."
        ),
    ),
    th.Property(
        "token_request",
        th.StringType(allowed_values=list(TOKEN_REQUESTS)),
        title="Token request form",
        description=(
            "`json`: JSON body with client_id, client_secret and grant_type (Kibo); `basic`: "
            "HTTP Basic credentials and a form body (legacy OMS). Default: `basic` for the "
            "legacy OMS's token path (`/oauthserver/oauth2/token`), `json` for any other."
        ),
    ),
    th.Property(
        "api_style",
        th.StringType(allowed_values=list(API_STYLES)),
        default="translated",
        title="Kibo API style",
        description=(
            "`translated`: the OMS-compatible translation endpoints "
            "(`https://{tenant_id}-translation...`, `locationName`); `unified_commerce`: Kibo's "
            "native inventory API on the tenant's pod (`https://t{tenant_id}.{environment}."
            "mozu.com/api/commerce/inventory/v5/inventory/...`, `locationCode`, the spec's item "
            "fields such as `LTD`, `tags` and `deliveryDate`), with OAuth2 tokens only."
        ),
    ),
    th.Property(
        "site_id",
        th.StringType,
        title="Site ID",
        description=(
            "Kibo site ID, sent as the `x-vol-site` header with every Kibo request (both API "
            "styles; Kibo's API Authentication page says calls may need it). Not sent when unset."
        ),
    ),
    th.Property(
        "environment",
        th.StringType(allowed_values=list(ENVIRONMENTS)),
        default="sandbox",
        title="Environment",
        description=(
            f"Translated endpoints: `sandbox` ({HOSTS['sandbox']}) or `production` "
            f"({HOSTS['production']}). Native API (`unified_commerce`): the tenant's pod as Kibo "
            "names it, `sandbox` (https://t{tenant_id}.sandbox.mozu.com) or `tp1`…`tp5`, "
            "`stg1`, `stg2` (https://t{tenant_id}.tp1.mozu.com, …); `production` alone names "
            "no native host and is refused. Ignored when `base_url` is set."
        ),
    ),
    th.Property(
        "api_package",
        th.StringType(allowed_values=list(API_PACKAGES)),
        default="inventory_specific",
        title="API package",
        description=(
            "`inventory_specific` (preferred): /inv/api/v5/inventory/{refresh,adjust}/; "
            "`inventory_v5`: /api/v5/inventory/{refresh,adjust}."
        ),
    ),
    th.Property(
        "base_url",
        th.StringType,
        title="Base URL",
        description=(
            "Overrides the host (scheme, host, port), e.g. the legacy "
            f"`{LEGACY_BASE_URL}`, another region's Kibo host or a local emulator; the API's "
            "paths are appended. "
            "Required for `increff` (Increff gives each client its host)."
        ),
    ),
    th.Property(
        "operation",
        _OPERATION,
        default="refresh",
        title="Operation",
        description="`refresh` (absolute counts) or `adjust` (signed deltas).",
    ),
    th.Property(
        "stream_operations",
        th.ObjectType(additional_properties=_OPERATION),
        default={},
        title="Operation per stream",
        description=(
            "Stream name (as stream maps name it) → `refresh` or `adjust`, overriding "
            "`operation`. When set, it must name every stream loaded: a stream it does not name "
            "is refused at its SCHEMA, before any of its records is sent, so that a renamed "
            "stream is never sent with the wrong operation."
        ),
    ),
    th.Property(
        "location_name",
        th.StringType,
        title="Default location",
        description="Location used for records that carry none.",
    ),
    th.Property(
        "field_map",
        th.ObjectType(additional_properties=th.StringType),
        default={},
        title="Field map",
        description=(
            "API field name → record property name. Unmapped API fields are read from the "
            "property of the same name or its snake_case form (`part_number`, "
            "`location_name`, `safety_stock`, ...). The API fields are the destination's "
            "(README, Mapping records)."
        ),
    ),
    th.Property(
        "stream_field_maps",
        th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.StringType)),
        default={},
        title="Field map per stream",
        description=(
            "Stream name → API field name → record property name, over `field_map` for that "
            'stream (e.g. `{"movements": {"quantity": "movement_qty"}}`); stream names are '
            "those after stream maps."
        ),
    ),
    th.Property(
        "refresh_batch_items",
        th.IntegerType(minimum=1, maximum=REFRESH_MAX_ITEMS),
        default=REFRESH_MAX_ITEMS,
        title="Items per refresh request",
        description=(
            f"Items in a full refresh request. Kibo accepts up to {REFRESH_MAX_ITEMS} and "
            f"costs requests in steps of {REFRESH_COST_STEP} items."
        ),
    ),
    th.Property(
        "adjust_batch_items",
        th.IntegerType(minimum=1, maximum=REFRESH_MAX_ITEMS),
        default=ADJUST_MAX_ITEMS,
        title="Items per adjust request",
        description=(
            f"Items in a full adjust request. Kibo documents at most {ADJUST_MAX_ITEMS} and "
            "answers 400 above it."
        ),
    ),
    th.Property(
        "increff_auth_username",
        th.StringType,
        title="Increff auth username",
        description="Sent as the `authUsername` header (`increff`).",
    ),
    th.Property(
        "increff_auth_password",
        th.StringType,
        secret=True,
        title="Increff auth password",
        description="Sent as the `authPassword` header (`increff`).",
    ),
    th.Property(
        "increff_auth_domain",
        th.StringType,
        title="Increff auth domain",
        description="Sent as the `authDomainName` header (`increff`).",
    ),
    th.Property(
        "increff_batch_items",
        th.IntegerType(minimum=1, maximum=INCREFF_MAX_ITEMS),
        default=INCREFF_MAX_ITEMS,
        title="SKUs per Increff request",
        description=f"SKUs in a full Increff request; Increff takes at most {INCREFF_MAX_ITEMS}.",
    ),
    th.Property(
        "increff_payload",
        th.StringType(allowed_values=list(INCREFF_PAYLOADS)),
        default="products",
        title="Increff payload",
        description=(
            '`products`: `{"locationCode", "products": [{"channelSkuCode", "quantity"}]}`; '
            "`v0`: the older array of `{clientId, clientSkuId, inventoryPoolId, quantity, "
            "fulfillmentLocationId}` (the location must be an integer)."
        ),
    ),
    th.Property(
        "increff_client_id",
        th.IntegerType,
        title="Increff client ID",
        description="`clientId` of each item of the `v0` payload (required for it).",
    ),
    th.Property(
        "on_invalid_record",
        th.StringType(allowed_values=["fail", "dead_letter"]),
        default="fail",
        title="Invalid records",
        description=(
            "`fail`: stop at the first record that breaks a rule or the stream's schema. "
            "`dead_letter`: write each such record, its stream, position and reason as a JSON "
            "line to `dead_letter_path` and load the others, up to `max_invalid_records`; "
            "the run ends with a warning counting the records loaded and set aside."
        ),
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        default="kibo-inventory-dead-letter.jsonl",
        title="Dead-letter file",
        description="File that `on_invalid_record: dead_letter` appends invalid records to.",
    ),
    th.Property(
        "max_invalid_records",
        th.NumberType(exclusive_minimum=0),
        default=DEFAULT_MAX_INVALID_RECORDS,
        title="Invalid records limit",
        description=(
            "With `on_invalid_record: dead_letter`, the most records set aside before the run "
            "stops like `fail` would. An integer (1, 2, ...) is a count; a number between 0 "
            "and 1 is a fraction of the records read so far, counting at least "
            f"{FRACTION_FLOOR} and allowing at least 1 (so at the default 0.1 the first 10 "
            "never stop a run)."
        ),
    ),
    th.Property(
        "drain_interval_seconds",
        th.NumberType(exclusive_minimum=0),
        default=300,
        title="Drain interval",
        description=(
            "At most this long after the last drain, every buffered item is sent and STATE "
            "is written, also while the tap sends nothing (checked every second). Shorter "
            "gives more frequent resume points, at the cost of more, smaller jobs."
        ),
    ),
    th.Property(
        "journal_path",
        th.StringType,
        title="Crash journal",
        description=(
            "Local folder recording, in one file per location, the items applied since the "
            "last STATE message, so that a run resumed after a crash (or after a tap that "
            "failed part-way) never applies an adjust twice. Runs whose locations are disjoint "
            "may share it. Default: `kibo-inventory-journal-<tenant_id>` in the working "
            "directory; an empty string turns it off. Used only when some stream is adjust."
        ),
    ),
    th.Property(
        "journal_resolve",
        th.ObjectType(
            additional_properties=th.StringType(allowed_values=["applied", "not_applied"])
        ),
        default={},
        title="Resolve in-flight adjusts",
        description=(
            "After a crash while an adjust was being sent: the incident ID that the resumed "
            "run's error printed → `applied` or `not_applied`, as checked in Kibo, so that the "
            "next run skips or sends it. A resolution that matches no open incident is refused."
        ),
    ),
    th.Property(
        "max_buffered_items",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_BUFFERED_ITEMS,
        title="Buffered items cap",
        description=(
            "Most distinct items held across all locations (repeats of an item are collapsed "
            "into one; about 300 bytes each). At the cap the largest buffers are sent in whole "
            f"multiples of {REFRESH_COST_STEP} items and the rest stays buffered."
        ),
    ),
    th.Property(
        "max_movements_at_bookmark",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_MOVEMENTS_AT_BOOKMARK,
        title="Movements kept at a bookmark",
        description=(
            "For adjust streams with a bookmark (an incremental tap's replication key): most "
            "movements sharing the stream's last bookmark value whose keys are kept (in the "
            "STATE and the journal folder), so that the tap's re-read of them at that value "
            "is not applied again. More stops the run with an error."
        ),
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1, maximum=32),
        default=DEFAULT_MAX_PARALLEL_REQUESTS,
        title="Parallel requests",
        description=(
            "Requests in flight at once, for different locations; a location's requests are "
            "always sent one after the other, in order."
        ),
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=5,
        title="Retries",
        description=(
            "Further tries of a request after a 429, 500, 502, 503, 504 or a lost connection, "
            "with exponential backoff and jitter (a 429's Retry-After is honoured)."
        ),
    ),
    th.Property(
        "max_retry_seconds",
        th.NumberType(minimum=0),
        default=300,
        title="Retry time limit",
        description="Seconds after a request's first try past which it is not tried again.",
    ),
    th.Property(
        "adjust_retry_ambiguous",
        th.BooleanType,
        default=False,
        title="Retry ambiguous adjusts",
        description=(
            "Retry an adjust request after a failure that may hide an applied request (read "
            "timeout, connection lost after sending, 500, 502, 504): at-least-once, so a delta "
            "may be applied twice. By default the run stops instead, naming the location and "
            "items to check."
        ),
    ),
    th.Property(
        "maybe_applied_wait_seconds",
        th.NumberType(minimum=0),
        default=120,
        title="Wait after a maybe-applied try",
        description=(
            "After a try that may still be applied without an answer (read timeout, connection "
            "lost after sending, 502, 504 from a gateway), the location's next, newer request "
            "waits until this long after that try began, so that a late copy of it cannot land "
            "after newer counts (Kibo has no idempotency key). Other locations go on."
        ),
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        title="CA bundle",
        description=(
            "PEM file of certificate authorities to trust instead of the default ones (e.g. a "
            "corporate TLS-inspecting proxy). TLS certificates are always verified."
        ),
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=60,
        title="Request timeout",
        description="Seconds to wait for the API to connect and to answer, per request.",
    ),
    th.Property(
        "wait_for_jobs",
        th.BooleanType,
        default=False,
        title="Wait for jobs",
        description=(
            "Poll Kibo's job queue for every accepted job until it is SUCCESS or FAILED, and "
            "write each STATE only after the jobs it reports are done, so that a bookmark never "
            "moves past stock that failed to apply. A FAILED job stops the run (with "
            "`on_invalid_record: dead_letter` it is set aside and the run goes on). Each drain "
            "then waits for Kibo's queue. Destinations that answer item by item (Increff) need "
            "no polling."
        ),
    ),
    th.Property(
        "job_wait_timeout_seconds",
        th.NumberType(exclusive_minimum=0),
        default=3600,
        title="Job wait limit",
        description=(
            "With `wait_for_jobs`: the longest a drain waits for its jobs to finish; past it "
            "the run fails naming the jobs still pending (no STATE is written past them)."
        ),
    ),
    th.Property(
        "job_log_path",
        th.StringType,
        title="Job log",
        description=(
            "File that every accepted job (or Increff request) is appended to as one JSON "
            "line: time, destination, operation, location, items, job ID, stream, and its "
            "final status when known (`wait_for_jobs`). Kept across runs, unlike the state."
        ),
    ),
    th.Property(
        "check_credentials_at_start",
        th.BooleanType,
        default=True,
        title="Check credentials at start",
        description=(
            "Before reading the input, do what the documents support to prove the credentials: "
            "get the OAuth2 token (`auth_method: oauth`) and, on Kibo's native API, read its job "
            "queue once (Get Jobs, limit 1), so that a wrong key, secret, tenant or site fails "
            "at once. On the translated endpoints the job queue is read only with "
            "`wait_for_jobs` (which relies on it). Increff has no such read."
        ),
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        title="Dry run",
        description=(
            "Read, validate, map and batch everything but send nothing (no token request "
            "either): each request that would go out is written as a JSON file (method, URL, "
            "body) to `dry_run_dir`. No STATE is written, so a bookmark never moves."
        ),
    ),
    th.Property(
        "dry_run_dir",
        th.StringType,
        default="kibo-dry-run",
        title="Dry-run folder",
        description=(
            "Folder of a dry run's request files (`request-00001.json`, ...), its "
            "`summary.json` and `dead-letter.jsonl`, listed in its `dry-run-files.jsonl`. A dry "
            "run removes the files an earlier one listed there, and refuses a folder that holds "
            "any other file."
        ),
    ),
).to_dict()


class StreamOperationError(SettingsError):
    """A stream arrived that `stream_operations`, which names the run's streams, does not name."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


@dataclass(frozen=True)
class Settings:
    """The target's settings, checked, with their defaults applied (named as the settings).

    Combinations that depend on the destination (which settings it requires, which
    operations it takes) are checked by the destination when it is built.
    """

    destination: str
    tenant_id: str | None
    api_key: str | None
    api_secret: str | None
    auth_url: str | None
    token_request: str | None
    auth_method: str
    api_style: str
    site_id: str | None
    environment: str
    api_package: str
    base_url: str | None
    operation: str
    stream_operations: dict[str, str]
    location_name: str | None
    field_map: dict[str, str]
    stream_field_maps: dict[str, dict[str, str]]
    refresh_batch_items: int
    adjust_batch_items: int
    increff_auth_username: str | None
    increff_auth_password: str | None
    increff_auth_domain: str | None
    increff_batch_items: int
    increff_payload: str
    increff_client_id: int | None
    on_invalid_record: str
    dead_letter_path: str
    max_invalid_records: float
    drain_interval_seconds: float
    journal_path: str | None
    journal_resolve: dict[str, str]
    max_buffered_items: int
    max_movements_at_bookmark: int
    max_parallel_requests: int
    max_retries: int
    max_retry_seconds: float
    adjust_retry_ambiguous: bool
    maybe_applied_wait_seconds: float
    ca_bundle: str | None
    request_timeout: float
    wait_for_jobs: bool
    job_wait_timeout_seconds: float
    job_log_path: str | None
    check_credentials_at_start: bool
    dry_run: bool
    dry_run_dir: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        """Build settings from the validated SDK config (defaults already applied).

        An empty string counts as not set.
        """
        _check(config)
        values: dict[str, Any] = {f.name: config.get(f.name) for f in fields(cls)}
        for f in fields(cls):
            value = values[f.name]
            if value == "" and f.name != "journal_path":
                values[f.name] = None
            elif f.type == "float":  # JSON config numbers may arrive as Decimal
                values[f.name] = float(value)
        return cls(**values)

    @property
    def operations(self) -> set[str]:
        """Every operation some stream may be sent with."""
        return {self.operation, *self.stream_operations.values()}

    @property
    def journal_folder(self) -> Path | None:
        """The crash journal's folder, or None when there is no journal.

        It is needed only when some stream is sent as adjust (refresh is idempotent); an empty
        journal_path turns it off.
        """
        if "adjust" not in self.operations or self.journal_path == "":
            return None
        return Path(self.journal_path or f"kibo-inventory-journal-{self.tenant_id}")

    def require(self, destination: str, *names: str) -> None:
        """Raise SettingsError naming the settings a destination needs that are not set."""
        missing = [n for n in names if not str(getattr(self, n) or "").strip()]
        if missing:
            raise SettingsError(
                f"Setting{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(n) for n in missing)} "
                f"{'are' if len(missing) > 1 else 'is'} required for destination '{destination}'."
            )

    def operation_for(
        self, stream_name: str, sources: Collection[str] = (), arrived: Collection[str] = ()
    ) -> str:
        """The operation that records of this stream are sent with.

        Without `stream_operations`, `operation`. With it, the operation it names for the
        stream; a stream it does not name is refused (StreamOperationError), so that a stream
        renamed (a typo, a tap upgrade, a stream map) is never sent with the wrong operation,
        deltas as counts or counts as deltas. `sources` are the tap's streams that a stream
        map renamed to this one; `arrived`, the streams that came before it.
        """
        if not self.stream_operations:
            return self.operation
        if stream_name in self.stream_operations:
            return self.stream_operations[stream_name]
        raise StreamOperationError(self._unnamed_stream(stream_name, sources, arrived))

    def _unnamed_stream(self, name: str, sources: Collection[str], arrived: Collection[str]) -> str:
        """Why a stream that stream_operations does not name is refused, and what to do."""
        named = ", ".join(f"{key!r} ({op})" for key, op in sorted(self.stream_operations.items()))
        renamed = [source for source in sources if source in self.stream_operations]
        waiting = [key for key in self.stream_operations if key not in arrived]
        close = _closest(name, waiting)
        if renamed:
            hint = (
                f"stream_maps renames the tap's stream {renamed[0]!r} to {name!r}, and "
                "stream_operations names streams as stream_maps name them: name "
                f"{name!r} instead of {renamed[0]!r}."
            )
        elif close:
            hint = f"did you mean {close!r}? Fix the name, or add {name!r}."
        else:
            hint = f"add {name!r} (or fix the name of the stream meant)."
        return (
            f"Stream {name!r} is not named in stream_operations, which names {named}: {hint} "
            "When stream_operations is set it must name every stream loaded, each with refresh "
            "or adjust, so that a renamed stream (a typo, a tap upgrade, a stream map) is never "
            "sent with the wrong operation. The run stopped before any record of this stream."
        )

    def field_map_for(self, stream_name: str) -> dict[str, str]:
        """The field map of this stream: `field_map`, then its `stream_field_maps` entries."""
        return {**self.field_map, **self.stream_field_maps.get(stream_name, {})}

    def unused_stream_field_maps(self, seen: Iterable[str]) -> list[str]:
        """A warning line for each stream_field_maps key that named no stream of this run."""
        seen = set(seen)
        return [
            f"stream_field_maps[{name!r}] was not used: no stream {name!r} was loaded in this run"
            + (f" (did you mean {close!r}?)." if (close := _closest(name, seen)) else ".")
            for name in sorted(set(self.stream_field_maps) - seen)
        ]

    def unused_stream_operations(self, seen: Iterable[str]) -> list[str]:
        """A warning line for each stream_operations key that named no stream of this run."""
        seen = set(seen)
        warnings = []
        for name in sorted(set(self.stream_operations) - seen):
            close = _closest(name, seen)
            warnings.append(
                f"stream_operations[{name!r}] ({self.stream_operations[name]}) was not used: "
                f"no stream {name!r} was loaded in this run"
                + (f" (did you mean {close!r}?)." if close else ".")
            )
        return warnings

    def warn_about_costs(self, logger: logging.Logger) -> None:
        """Log the settings that are allowed but cost jobs or risk refusals (Kibo)."""
        if self.destination != "kibo":
            return
        if self.refresh_batch_items % REFRESH_COST_STEP:
            logger.warning(
                "refresh_batch_items=%d is not a multiple of %d: Kibo costs refresh jobs in "
                "steps of %d items, so each full request costs as much as %d items.",
                self.refresh_batch_items,
                REFRESH_COST_STEP,
                REFRESH_COST_STEP,
                -(-self.refresh_batch_items // REFRESH_COST_STEP) * REFRESH_COST_STEP,
            )
        if self.adjust_batch_items > ADJUST_MAX_ITEMS:
            logger.warning(
                "adjust_batch_items=%d is above Kibo's documented maximum of %d items per "
                "adjust request: Kibo may answer 400 Bad Request and stop the run.",
                self.adjust_batch_items,
                ADJUST_MAX_ITEMS,
            )


def setting_schemas(
    target_class: type[Target],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The target's settings schema, and the SDK's built-in settings it drops.

    The schema has the SDK's built-in settings the target keeps; the dropped ones map each
    name to the SDK's schema of it.
    """
    schema = copy.deepcopy(target_class.config_jsonschema)
    target_class.append_builtin_config(schema)
    # every built-in setting of the SDK's Target class
    sdk_settings: dict[str, Any] = {"properties": {}}
    super(target_class, target_class).append_builtin_config(sdk_settings)
    dropped = {
        name: sdk_schema
        for name, sdk_schema in sdk_settings["properties"].items()
        if name not in schema["properties"]
    }
    return schema, dropped


def secret_values(config: Mapping[str, Any], schema: dict[str, Any]) -> list[Any]:
    """The values of the settings the schema marks secret, and the HTTP Basic credentials.

    The credentials are those that api_key and api_secret make for `token_request: basic`.
    """
    values = [config.get(name) for name, spec in schema["properties"].items() if spec.get("secret")]
    key, secret = config.get("api_key"), config.get("api_secret")
    if isinstance(key, str) and isinstance(secret, str):
        values.append(base64.b64encode(f"{key}:{secret}".encode("latin1", "replace")).decode())
    return values


def check_setting_names(config: Mapping[str, Any], known: Collection[str]) -> None:
    """Raise SettingsError naming each top-level key that is no setting, and the closest one."""
    errors = []
    for name in sorted(set(config) - set(known)):
        close = _closest(name, known)
        hint = f"did you mean {close!r}?" if close else SEE_ABOUT
        errors.append(f"Unknown setting {name!r}: {hint}")
    if errors:
        raise SettingsError(" ".join(errors))


def check_env_names(
    environ: Mapping[str, str], prefix: str, known: Collection[str], others: Collection[str]
) -> None:
    """Raise SettingsError naming each `<prefix>…` variable that names no setting.

    With `--config ENV`, settings come from `<prefix><SETTING>` variables, so a misspelled
    one would be ignored; it is refused, naming the closest setting's variable, as an unknown
    key of a config file is. `others` are the prefixed variables that are no settings but mean
    something (the SDK's `<prefix>LOGLEVEL`).
    """
    variables = {prefix + name.upper().replace("-", "_"): name for name in known}
    unknown = sorted(set(environ) - set(variables) - set(others))
    errors = []
    for variable in (v for v in unknown if v.startswith(prefix)):
        close = _closest(variable.removeprefix(prefix).lower(), known)
        hint = (
            f"did you mean {prefix}{close.upper()} (setting {close!r})?"
            if close
            else f"no setting has this name; {SEE_ABOUT}"
        )
        errors.append(f"Unknown environment variable {variable}: {hint}")
    if errors:
        raise SettingsError(
            " ".join(errors)
            + f" With --config ENV, every variable that starts with {prefix} must name a setting."
        )


def ignored_setting_warnings(
    config: Mapping[str, Any], ignored: Mapping[str, dict[str, Any]]
) -> list[str]:
    """A warning for each SDK setting this target drops that is set to other than its default.

    `ignored` maps each dropped setting's name to the SDK's schema of it.
    """
    return [
        f"{name} is not used by this target: {IGNORED_SDK_SETTINGS.get(name, 'it has no effect')}."
        for name, schema in ignored.items()
        if config.get(name) and config.get(name) != schema.get("default")
    ]


def env_config(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Settings from `<prefix><NAME>` environment variables, converted to their JSON types.

    The SDK's own lookup reads them (same names, and its .env file) as text; each is then
    converted by its setting's type: integer, number, true/false, or JSON for objects and arrays.
    """
    properties = schema["properties"]
    as_text = {"properties": {name: {"type": "string"} for name in properties}}
    return {
        name: _from_env(name, prefix + name.upper().replace("-", "_"), text, properties[name])
        for name, text in parse_environment_config(as_text, prefix).items()
    }


def _from_env(name: str, variable: str, text: str, schema: dict[str, Any]) -> Any:
    """An environment variable's text as its setting's type; SettingsError if it is none."""
    types = _json_types(schema)
    if "string" in types or not types & set(ENV_TYPES):
        return text
    for kind in ENV_TYPES:
        if kind in types:
            try:
                return _parse_env_text(kind, text)
            except ValueError:
                pass
    expected = " or ".join(ENV_TYPES[kind] for kind in ENV_TYPES if kind in types)
    shown = "" if schema.get("secret") else f", not {text!r}"
    raise SettingsError(f"Setting {name!r} ({variable}) must be {expected}{shown}.")


def _parse_env_text(kind: str, text: str) -> Any:
    """Text as a JSON value of this kind; ValueError if it is not one."""
    if kind == "boolean":
        word = text.strip().lower()
        if word not in ENV_BOOLEANS:
            raise ValueError(text)
        return ENV_BOOLEANS[word]
    value = json.loads(text)
    if not _is_kind(kind, value):
        raise ValueError(text)
    return value


def _is_kind(kind: str, value: Any) -> bool:
    if kind == "integer":
        return type(value) is int
    if kind == "number":
        return type(value) in (int, float) and math.isfinite(value)
    return isinstance(value, dict if kind == "object" else list)


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows, including those of its anyOf/oneOf alternatives."""
    kinds = schema.get("type", [])
    types = {kinds} if isinstance(kinds, str) else set(kinds)
    for alternative in (*schema.get("anyOf", []), *schema.get("oneOf", [])):
        if isinstance(alternative, dict):
            types |= _json_types(alternative)
    return types


def _closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to this one, if any is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return close[0] if close else None


def _check(config: dict[str, Any]) -> None:
    """Raise SettingsError for values the JSON schema alone cannot rule out."""
    for name in ("base_url", "auth_url"):
        _check_transport(name, config.get(name))
    _check_token_url(config)
    ca_bundle = config.get("ca_bundle")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise SettingsError(f"ca_bundle '{ca_bundle}' is not a file.")
    limit = config.get("max_invalid_records", DEFAULT_MAX_INVALID_RECORDS)
    if limit >= 1 and limit != int(limit):
        raise SettingsError(
            f"Setting 'max_invalid_records' ({limit}) must be a count of records (an integer: "
            "1, 2, ...) or a fraction of the records read, between 0 and 1 (e.g. 0.01)."
        )
    if config["on_invalid_record"] == "dead_letter":
        path = config["dead_letter_path"]
        if problem := append_problem(path):
            raise SettingsError(
                f"Setting 'dead_letter_path' ({path!r}) {problem}: "
                "on_invalid_record: dead_letter appends invalid records to it."
            )
    job_log = config.get("job_log_path")
    if job_log and (problem := append_problem(job_log)):
        raise SettingsError(
            f"Setting 'job_log_path' ({job_log!r}) {problem}: every accepted job is appended to it."
        )
    if config.get("dry_run"):
        folder = config.get("dry_run_dir") or ""
        if not folder or (Path(folder).exists() and not Path(folder).is_dir()):
            raise SettingsError(
                f"Setting 'dry_run_dir' ({folder!r}) must be a folder: a dry run writes the "
                "requests it would send there."
            )


def _check_transport(name: str, url: str | None) -> None:
    """Https is required, except for plain http to this machine (e.g. the emulator)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SettingsError(f"{name} '{url}' must be an https:// URL with a host.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise SettingsError(
            f"{name} '{url}' uses plain http: https is required for any host but this machine "
            "(127.0.0.0/8, ::1, localhost), so that the API key never crosses a network in clear."
        )


def _check_token_url(config: Mapping[str, Any]) -> None:
    """A Kibo API on this machine (an emulator) gets its token from this machine too.

    Without `auth_url` the token would be asked for at Kibo's own token URL, with the
    credentials meant for the local API.
    """
    base = config.get("base_url")
    if (
        config.get("destination", "kibo") != "kibo"
        or config.get("auth_method", "oauth") != "oauth"
        or not base
        or config.get("auth_url")
        or not _is_loopback(urlsplit(base).hostname or "")
    ):
        return
    raise SettingsError(
        f"base_url '{base}' is on this machine, but without auth_url the OAuth token would be "
        f"asked for at {AUTH_URL} with the credentials meant for it: set auth_url too, e.g. "
        f"'{base.rstrip('/')}{TOKEN_PATH}' for the bundled emulator."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
