"""Kibo's emulated APIs: refresh/adjust, translated and native, and the job queue.

As the documents say: every Kibo API takes an OAuth 2.0 access token ("API Authentication";
the raw API key only when the emulator is told to accept it), the tenant in `x-vol-tenant`
and, when the emulator has a site, the site in `x-vol-site`. The job queue is served where a
document places it: the native API's `/api/commerce/inventory/v1/queue` (OpenAPI spec); the
legacy OMS host's `/inv/api/v1/queue` and `/api/v1/queue` only when told to (no document places
them on the translation host). Bodies are checked by rules.py (translated) and native_rules.py.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.emulator import native_rules, rules
from target_kibo_inventory.emulator.api import Api, Reply, Request, Route, phrase, refuse
from target_kibo_inventory.emulator.faults import failing_items
from target_kibo_inventory.emulator.rules import BadRequestError

if TYPE_CHECKING:
    from email.message import Message

    from target_kibo_inventory.emulator.faults import Faults
    from target_kibo_inventory.emulator.server import Emulator

NATIVE = "unified_commerce"
API_KEY_REFUSED = (
    "the API key is no bearer token: get an OAuth 2.0 access token from the token endpoint "
    "with the Application (Client) ID and the Client Secret"
)
WRITES = {
    ("POST", "/inv/api/v5/inventory/refresh"): ("inventory_specific", "refresh"),
    ("POST", "/inv/api/v5/inventory/adjust"): ("inventory_specific", "adjust"),
    ("POST", "/api/v5/inventory/refresh"): ("inventory_v5", "refresh"),
    ("POST", "/api/v5/inventory/adjust"): ("inventory_v5", "adjust"),
    ("POST", "/api/commerce/inventory/v5/inventory/refresh"): (NATIVE, "refresh"),
    ("POST", "/api/commerce/inventory/v5/inventory/adjust"): (NATIVE, "adjust"),
}
"""(method, path without trailing slash) → (family, operation) of the write endpoints."""
QUEUE_PATHS = {
    "/inv/api/v1/queue": "inventory_specific",
    "/api/v1/queue": "inventory_v5",
    "/api/commerce/inventory/v1/queue": NATIVE,
}
JOB_TYPES = frozenset(
    (
        "REFRESH",
        "ADJUST",
        "RELEASE_SHIPMENTS",
        "CREATE_PICK_WAVE",
        "CLOSE_PICK_WAVE",
        "PUT_AWAY_FILE",
        "SHORT_PICK_ERROR",
        "BIN_AUDIT_START",
        "BIN_AUDIT_COMPLETION",
        "CREATE_BIN_AUDIT",
        "RELEASE_PENDING_ITEMS",
    )
)
"""The `types` of Get Jobs (the spec's enum)."""
_JOB_ID = re.compile(r"[0-9]+")


class Kibo(Api):
    """Kibo's refresh, adjust and job queue, in its three families (two packages, native)."""

    def route(self, method: str, path: str) -> tuple[Route, str | None] | None:
        """A write, Get Jobs, or Get Job (with its jobID)."""
        if (method, path) in WRITES:
            return Route(self, *WRITES[method, path]), None
        if method != "GET":
            return None
        if path in QUEUE_PATHS:
            return Route(self, QUEUE_PATHS[path], "queue"), None
        prefix, _, job_id = path.rpartition("/")
        return (
            (Route(self, QUEUE_PATHS[prefix], "queue"), job_id) if prefix in QUEUE_PATHS else None
        )

    def error(self, destination: str, status: int, message: str, title: str | None) -> Any:
        """Kibo's `{error, message}`."""
        return {"error": title or phrase(status), "message": message}

    def authenticate(
        self, emulator: Emulator, route: Route, headers: Message, entry: dict[str, Any]
    ) -> Reply | None:
        """A valid bearer (a token; the API key where accepted), the tenant and the site."""
        auth = headers.get("Authorization", "")
        kind = emulator.bearer_kind(auth[7:]) if auth.startswith("Bearer ") else None
        entry["auth"] = kind or "refused"
        native = route.destination == NATIVE
        if headers.get("x-vol-tenant") != emulator.tenant:
            return refuse(route, HTTPStatus.UNAUTHORIZED, "unknown or missing x-vol-tenant")
        if kind is None:
            return refuse(route, HTTPStatus.UNAUTHORIZED, "invalid or expired bearer token")
        if kind == "api_key" and (native or not emulator.options.accept_api_key):
            return refuse(route, HTTPStatus.UNAUTHORIZED, API_KEY_REFUSED)
        site = headers.get("x-vol-site")
        if emulator.options.site is not None and site != emulator.options.site:
            message = f"x-vol-site must be this tenant's site {emulator.options.site}; got {site!r}"
            return refuse(route, HTTPStatus.FORBIDDEN, message)
        return None

    def write(
        self,
        emulator: Emulator,
        route: Route,
        request: Request,
        body: Any,
        entry: dict[str, Any],
        faults: Faults,
    ) -> Reply:
        """Check the body by its family's rules, then queue the job."""
        check = native_rules.check_body if route.destination == NATIVE else rules.check_body
        location, items = check(route.operation, body)
        failures = failing_items(items, faults.fail_sku_prefix)
        job_id = emulator.store.add_job(
            route.operation, location, len(items), request.body, request.path, failures
        )
        entry.update(locationName=location, items=len(items), jobID=job_id)
        return Reply(HTTPStatus.OK, {"jobID": job_id})

    def read(
        self, emulator: Emulator, route: Route, request: Request, name: str | None
    ) -> tuple[Reply, dict[str, Any]]:
        """Get Job or Get Jobs, where the queue is served and with the credentials."""
        entry: dict[str, Any] = {
            "jobID": int(name) if name and _JOB_ID.fullmatch(name) else None,
            "auth": "refused",
        }
        refusal = _queue_missing(emulator, route, request) or self.authenticate(
            emulator, route, request.headers, entry
        )
        return refusal or _queue(emulator, route, request, name, entry), entry


def _queue_missing(emulator: Emulator, route: Route, request: Request) -> Reply | None:
    """None where the job queue is served, else a 404.

    The translated families' paths are the legacy host's, served only with
    `Options.translated_queue`.
    """
    if route.destination == NATIVE or emulator.options.translated_queue:
        return None
    return refuse(route, HTTPStatus.NOT_FOUND, f"no such path: {request.path}")


def _queue(
    emulator: Emulator,
    route: Route,
    request: Request,
    job_id: str | None,
    entry: dict[str, Any],
) -> Reply:
    """Get Job (one jobID) or Get Jobs (newest first), in the spec's JobQueueResponse shape."""
    if job_id is not None:
        if not _JOB_ID.fullmatch(job_id):
            message = f"jobID must be an integer; got {job_id!r}"
            return refuse(route, HTTPStatus.BAD_REQUEST, message)
        job = emulator.store.job(int(job_id))
        if job is None:
            return refuse(route, HTTPStatus.NOT_FOUND, f"no job {job_id}", "Job Not Found")
        entry["locationName"] = job["locationCode"]
        return Reply(HTTPStatus.OK, _public(job))
    try:
        location, types, limit = _queue_query(request.query)
    except BadRequestError as error:
        return refuse(route, HTTPStatus.BAD_REQUEST, str(error))
    jobs = emulator.store.jobs(location, types, limit, newest_first=True)
    entry.update(locationName=location, jobs=len(jobs))
    return Reply(HTTPStatus.OK, [_public(job) for job in jobs])


def _queue_query(query: dict[str, list[str]]) -> tuple[str | None, list[str], int]:
    """locationCode, types (repeated or comma-separated) and limit (default 100) of Get Jobs."""
    location = query.get("locationCode", [None])[-1]
    types = [t for value in query.get("types", []) for t in value.split(",") if t]
    unknown = [t for t in types if t not in JOB_TYPES]
    if unknown:
        raise BadRequestError(f"types: unknown job type {unknown[0]!r}")
    limit = query.get("limit", ["100"])[-1]
    if not _JOB_ID.fullmatch(limit) or int(limit) < 1:
        raise BadRequestError(f"limit: must be a positive integer; got {limit!r}")
    return location, types, int(limit)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the queue API answers it (without the emulator's own fields)."""
    return {k: v for k, v in job.items() if k not in ("path", "items")}


API = Kibo()
