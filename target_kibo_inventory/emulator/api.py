"""The emulated APIs: Kibo's refresh/adjust and job queue, and Increff's absolute update.

Kibo's refresh/adjust come translated and native. Each request is authenticated as its
family is, may meet an injected fault or a scripted answer (not the queue's), and is logged
with what a test needs to check it.

As the documents say: every Kibo API takes an OAuth 2.0 access token ("API Authentication";
the raw API key only when the emulator is told to accept it), the tenant in `x-vol-tenant`
and, when the emulator has a site, the site in `x-vol-site`. The job queue is served where a
document places it: the native API's `/api/commerce/inventory/v1/queue` (OpenAPI spec); the
legacy OMS host's `/inv/api/v1/queue` and `/api/v1/queue` only when told to (no document places
them on the translation host).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple

from target_kibo_inventory.emulator import increff, native_rules, rules
from target_kibo_inventory.emulator.faults import Faults, failing_items
from target_kibo_inventory.emulator.rules import BadRequestError

if TYPE_CHECKING:
    from email.message import Message

    from target_kibo_inventory.emulator.server import Emulator

NATIVE, INCREFF = "unified_commerce", "increff"
API_KEY_REFUSED = (
    "the API key is no bearer token: get an OAuth 2.0 access token from the token endpoint "
    "with the Application (Client) ID and the Client Secret"
)


class Route(NamedTuple):
    """Where a request goes: destination (API family) and operation."""

    destination: str
    operation: str


ROUTES = {
    ("POST", "/inv/api/v5/inventory/refresh"): Route("inventory_specific", "refresh"),
    ("POST", "/inv/api/v5/inventory/adjust"): Route("inventory_specific", "adjust"),
    ("POST", "/api/v5/inventory/refresh"): Route("inventory_v5", "refresh"),
    ("POST", "/api/v5/inventory/adjust"): Route("inventory_v5", "adjust"),
    ("POST", "/api/commerce/inventory/v5/inventory/refresh"): Route(NATIVE, "refresh"),
    ("POST", "/api/commerce/inventory/v5/inventory/adjust"): Route(NATIVE, "adjust"),
    ("PUT", "/usp/inventories/absolute"): Route(INCREFF, "absolute"),
}
"""(method, path without trailing slash) → route of the write endpoints."""
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


class Request(NamedTuple):
    """What the handler read."""

    method: str
    path: str
    headers: Message
    query: dict[str, list[str]]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """Status (0: close the connection without an answer), JSON answer (or raw bytes), headers."""

    status: int
    answer: Any = b""
    headers: dict[str, str] = field(default_factory=dict)


DROP = Reply(0)


def route_of(method: str, path: str) -> tuple[Route, str | None] | None:
    """The route of a path without trailing slash, and the jobID of a Get Job path."""
    if (method, path) in ROUTES:
        return ROUTES[method, path], None
    if method != "GET":
        return None
    if path in QUEUE_PATHS:
        return Route(QUEUE_PATHS[path], "queue"), None
    prefix, _, job_id = path.rpartition("/")
    return (Route(QUEUE_PATHS[prefix], "queue"), job_id) if prefix in QUEUE_PATHS else None


def handle(emulator: Emulator, route: Route, request: Request, job_id: str | None) -> Reply:
    """Answer one API request and log it."""
    entry = _entry(route, request)
    if route.operation == "queue":
        entry["jobID"] = int(job_id) if job_id and _JOB_ID.fullmatch(job_id) else None
        refusal = _queue_missing(emulator, route, request) or _authenticate(
            emulator, route.destination, request.headers, entry
        )
        reply = refusal or _queue(emulator, request, job_id, entry)
        entry.update(status=reply.status, end=time.monotonic())
        emulator.log(entry)
        return reply
    fault, faults = emulator.draw_fault()
    emulator.count_in_flight(+1)
    try:
        if faults.latency:
            time.sleep(faults.latency)
        reply = _write(emulator, route, request, entry, fault, faults)
        entry.update(status=reply.status, end=time.monotonic())
        emulator.log(entry, request.body if entry["jobID"] is None else entry["jobID"])
    finally:
        emulator.count_in_flight(-1)
    return reply


def _queue_missing(emulator: Emulator, route: Route, request: Request) -> Reply | None:
    """None where the job queue is served, else a 404.

    The translated families' paths are the legacy host's, served only with
    `Options.translated_queue`.
    """
    if route.destination == NATIVE or emulator.options.translated_queue:
        return None
    return _refuse(route.destination, HTTPStatus.NOT_FOUND, f"no such path: {request.path}")


def _entry(route: Route, request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "destination": route.destination,
        "operation": route.operation,
        "tenant": request.headers.get("x-vol-tenant"),
        "site": request.headers.get("x-vol-site"),
        "auth": "refused",
        "contentType": request.headers.get("Content-Type"),
        "start": time.monotonic(),
        "locationName": None,
        "items": None,
        "jobID": None,
    }


def _refuse(destination: str, status: int, message: str, title: str | None = None) -> Reply:
    """An error answer of this API family."""
    return Reply(status, _error(destination, status, message, title))


def _error(destination: str, status: int, message: str, title: str | None = None) -> Any:
    """The error body of this API family."""
    if destination == INCREFF:
        return increff.problem(status, message)
    return {"error": title or _phrase(status), "message": message}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _authenticate(
    emulator: Emulator, destination: str, headers: Message, entry: dict[str, Any]
) -> Reply | None:
    """None when the request carries this family's credentials, else the refusal."""
    if destination == INCREFF:
        return _authenticate_increff(emulator, headers, entry)
    auth = headers.get("Authorization", "")
    kind = emulator.bearer_kind(auth[7:]) if auth.startswith("Bearer ") else None
    entry["auth"] = kind or "refused"
    if headers.get("x-vol-tenant") != emulator.tenant:
        return _refuse(destination, HTTPStatus.UNAUTHORIZED, "unknown or missing x-vol-tenant")
    if kind is None:
        return _refuse(destination, HTTPStatus.UNAUTHORIZED, "invalid or expired bearer token")
    if kind == "api_key" and (destination == NATIVE or not emulator.options.accept_api_key):
        return _refuse(destination, HTTPStatus.UNAUTHORIZED, API_KEY_REFUSED)
    site = headers.get("x-vol-site")
    if emulator.options.site is not None and site != emulator.options.site:
        message = f"x-vol-site must be this tenant's site {emulator.options.site}; got {site!r}"
        return _refuse(destination, HTTPStatus.FORBIDDEN, message)
    return None


def _authenticate_increff(
    emulator: Emulator, headers: Message, entry: dict[str, Any]
) -> Reply | None:
    """None when the three Increff headers match the account, else the refusal."""
    entry.update(domain=headers.get("authDomainName"), username=headers.get("authUsername"))
    if emulator.increff.accepts(headers):
        entry["auth"] = "increff"
        return None
    message = "invalid or missing authUsername, authPassword or authDomainName"
    return _refuse(INCREFF, HTTPStatus.UNAUTHORIZED, message)


def _write(
    emulator: Emulator,
    route: Route,
    request: Request,
    entry: dict[str, Any],
    fault: str | None,
    faults: Faults,
) -> Reply:
    """A refresh, adjust or absolute update: refused, faulted, scripted, or accepted."""
    refusal = _authenticate(emulator, route.destination, request.headers, entry)
    if refusal:
        return refusal
    scripted = emulator.next_scripted()
    if scripted is not None:
        entry["scripted"] = scripted
        time.sleep(scripted.get("latency") or 0)
        if "status" in scripted:
            return _scripted(route.destination, scripted)
        fault = None
    else:
        entry["fault"] = fault
    if fault == "error":
        status = emulator.draw_status(faults.error_statuses)
        return _refuse(route.destination, status, "the server failed", "Injected fault")
    if fault == "rate_limit":
        headers = {"Retry-After": f"{faults.retry_after:g}"}
        status = HTTPStatus.TOO_MANY_REQUESTS
        return Reply(status, _error(route.destination, status, "slow down"), headers)
    if fault == "drop_before":
        return DROP
    reply = _accept(emulator, route, request, entry, faults)
    return DROP if fault == "drop_after" and reply.status == HTTPStatus.OK else reply


def _scripted(destination: str, scripted: dict[str, Any]) -> Reply:
    status = int(scripted["status"])
    headers = {}
    if scripted.get("retry_after") is not None:
        headers["Retry-After"] = str(scripted["retry_after"])
    if "raw" in scripted:
        return Reply(status, scripted["raw"].encode(), headers)
    message = scripted.get("message", "scripted answer")
    return Reply(status, _error(destination, status, message, "Scripted"), headers)


def _accept(
    emulator: Emulator, route: Route, request: Request, entry: dict[str, Any], faults: Faults
) -> Reply:
    """Validate the body, then queue the Kibo job or apply the Increff update."""
    try:
        body = json.loads(request.body.decode())
        if route.destination == INCREFF:
            return _increff(emulator, body, entry, faults)
        check = native_rules.check_body if route.destination == NATIVE else rules.check_body
        location, items = check(route.operation, body)
    except ValueError as error:
        message = str(error) if isinstance(error, BadRequestError) else "the body is not JSON"
        entry["error"] = message
        return _refuse(route.destination, HTTPStatus.BAD_REQUEST, message)
    failures = failing_items(items, faults.fail_sku_prefix)
    job_id = emulator.store.add_job(
        route.operation, location, len(items), request.body, request.path, failures
    )
    entry.update(locationName=location, items=len(items), jobID=job_id)
    return Reply(HTTPStatus.OK, {"jobID": job_id})


def _increff(emulator: Emulator, body: Any, entry: dict[str, Any], faults: Faults) -> Reply:
    """Set every SKU's count at once, except those the faults reject."""
    batch = increff.check_body(body)
    prefix = faults.increff_reject_sku_prefix
    failed, succeeded, applied = [], [], []
    for location, sku, quantity, extras in batch.updates:
        if prefix and sku.startswith(prefix):
            failed.append(sku)
        else:
            succeeded.append(sku)
            applied.append((location, {"sku": sku, "quantity": quantity, **extras}))
    emulator.store.set_stock(applied)
    entry.update(
        locationName=batch.location,
        items=len(batch.updates),
        payload=batch.payload,
        rejected=failed,
    )
    answer = increff.answer(
        batch, failed, succeeded, as_example=emulator.options.increff_example_answers
    )
    return Reply(HTTPStatus.OK, answer)


def _queue(
    emulator: Emulator, request: Request, job_id: str | None, entry: dict[str, Any]
) -> Reply:
    """Get Job (one jobID) or Get Jobs (newest first), in the spec's JobQueueResponse shape."""
    destination = entry["destination"]
    if job_id is not None:
        if not _JOB_ID.fullmatch(job_id):
            message = f"jobID must be an integer; got {job_id!r}"
            return _refuse(destination, HTTPStatus.BAD_REQUEST, message)
        job = emulator.store.job(int(job_id))
        if job is None:
            return _refuse(destination, HTTPStatus.NOT_FOUND, f"no job {job_id}", "Job Not Found")
        entry["locationName"] = job["locationCode"]
        return Reply(HTTPStatus.OK, _public(job))
    try:
        location, types, limit = _queue_query(request.query)
    except BadRequestError as error:
        return _refuse(destination, HTTPStatus.BAD_REQUEST, str(error))
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
