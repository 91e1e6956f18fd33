"""What every emulated API shares: routing, faults, scripted answers and the request log.

Each API the emulator serves is a module of this package that declares `API`, an `Api`: its
routes, how it authenticates, its error body, its writes and its reads. Kibo's (kibo.py) and
Increff's (increff.py) are two; another is one more module, found when a request arrives.
Every write may meet an injected fault or a scripted answer, and each request is logged with
what a test needs to check it.
"""

from __future__ import annotations

import abc
import importlib
import json
import pkgutil
import time
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple

from target_kibo_inventory import emulator as package
from target_kibo_inventory.emulator.rules import BadRequestError

if TYPE_CHECKING:
    from email.message import Message

    from target_kibo_inventory.emulator.faults import Faults
    from target_kibo_inventory.emulator.server import Emulator


class Route(NamedTuple):
    """Where a request goes: the API, its family (the log's `destination`) and operation."""

    api: Api
    destination: str
    operation: str


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


class Api(abc.ABC):
    """An API the emulator serves, written from its documents (not from the target's code)."""

    @abc.abstractmethod
    def route(self, method: str, path: str) -> tuple[Route, str | None] | None:
        """The route of a path without trailing slash, and the name it ends with (a jobID)."""

    @abc.abstractmethod
    def error(self, destination: str, status: int, message: str, title: str | None) -> Any:
        """Its error body."""

    @abc.abstractmethod
    def authenticate(
        self, emulator: Emulator, route: Route, headers: Message, entry: dict[str, Any]
    ) -> Reply | None:
        """None when the request carries its credentials, else the refusal (`entry["auth"]`)."""

    @abc.abstractmethod
    def write(
        self,
        emulator: Emulator,
        route: Route,
        request: Request,
        body: Any,
        entry: dict[str, Any],
        faults: Faults,
    ) -> Reply:
        """Validate a write's JSON body (BadRequestError) and apply or queue it."""

    def read(
        self, emulator: Emulator, route: Route, request: Request, name: str | None
    ) -> tuple[Reply, dict[str, Any]]:
        """Answer a read (GET) and say what to log of it; an API without reads has none."""
        return refuse(route, HTTPStatus.NOT_FOUND, f"no such path: {request.path}"), {}


@cache
def apis() -> tuple[Api, ...]:
    """Every API of this package's modules (each declares one as `API`)."""
    found = []
    for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        api = getattr(importlib.import_module(module.name), "API", None)
        if isinstance(api, Api):
            found.append(api)
    return tuple(found)


def route_of(method: str, path: str) -> tuple[Route, str | None] | None:
    """The route of a path without trailing slash, and the jobID of a Get Job path."""
    for api in apis():
        if (found := api.route(method, path)) is not None:
            return found
    return None


def handle(emulator: Emulator, route: Route, request: Request, name: str | None) -> Reply:
    """Answer one API request and log it."""
    entry = _entry(route, request)
    if request.method == "GET":
        reply, logged = route.api.read(emulator, route, request, name)
        entry.update(logged, status=reply.status, end=time.monotonic())
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


def refuse(route: Route, status: int, message: str, title: str | None = None) -> Reply:
    """An error answer of the route's API."""
    return Reply(status, route.api.error(route.destination, status, message, title))


def phrase(status: int) -> str:
    """The status's reason phrase ("Error" for a status of no name, e.g. a scripted 599)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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


def _write(
    emulator: Emulator,
    route: Route,
    request: Request,
    entry: dict[str, Any],
    fault: str | None,
    faults: Faults,
) -> Reply:
    """A write: refused, faulted, scripted, or accepted."""
    refusal = route.api.authenticate(emulator, route, request.headers, entry)
    if refusal:
        return refusal
    scripted = emulator.next_scripted()
    if scripted is not None:
        entry["scripted"] = scripted
        time.sleep(scripted.get("latency") or 0)
        if "status" in scripted:
            return _scripted(route, scripted)
        fault = None
    else:
        entry["fault"] = fault
    if fault == "error":
        status = emulator.draw_status(faults.error_statuses)
        return refuse(route, status, "the server failed", "Injected fault")
    if fault == "rate_limit":
        headers = {"Retry-After": f"{faults.retry_after:g}"}
        status = HTTPStatus.TOO_MANY_REQUESTS
        return Reply(status, route.api.error(route.destination, status, "slow down", None), headers)
    if fault == "drop_before":
        return DROP
    reply = _accept(emulator, route, request, entry, faults)
    return DROP if fault == "drop_after" and reply.status == HTTPStatus.OK else reply


def _scripted(route: Route, scripted: dict[str, Any]) -> Reply:
    status = int(scripted["status"])
    headers = {}
    if scripted.get("retry_after") is not None:
        headers["Retry-After"] = str(scripted["retry_after"])
    if "raw" in scripted:
        return Reply(status, scripted["raw"].encode(), headers)
    message = scripted.get("message", "scripted answer")
    return Reply(status, route.api.error(route.destination, status, message, "Scripted"), headers)


def _accept(
    emulator: Emulator, route: Route, request: Request, entry: dict[str, Any], faults: Faults
) -> Reply:
    """Validate the body, then let the API apply or queue it."""
    try:
        body = json.loads(request.body.decode())
        return route.api.write(emulator, route, request, body, entry, faults)
    except ValueError as error:
        message = str(error) if isinstance(error, BadRequestError) else "the body is not JSON"
        entry["error"] = message
        return refuse(route, HTTPStatus.BAD_REQUEST, message)
