"""The HTTP handler of the emulator.

It routes API requests to api.py (any method an API declares a route for), and serves the
token endpoints and the emulator's own views and admin endpoints (/emulator/...).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from target_kibo_inventory.emulator import api
from target_kibo_inventory.emulator.faults import Faults

if TYPE_CHECKING:
    from target_kibo_inventory.emulator.server import Emulator

logger = logging.getLogger("kibo-emulator")

KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"  # noqa: S105  a URL path, no secret
LEGACY_TOKEN_PATH = "/oauthserver/oauth2/token"  # noqa: S105  a URL path, no secret
_TRUE = ("1", "true")


def handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to this emulator."""
    return type("Handler", (_Handler,), {"emulator": emulator})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kibo-emulator"
    disable_nagle_algorithm = True
    emulator: Emulator

    def log_message(self, format: str, *args: Any) -> None:
        """Log each request at DEBUG, not to stderr as the base class does."""
        logger.debug("%s " + format, self.address_string(), *args)

    # Dispatch

    def do_GET(self) -> None:
        """API reads and the emulator's views (`?wait=1`: once the job queue is idle)."""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if query.get("wait", [""])[-1] in _TRUE:
            self.emulator.store.wait_idle()
        if not self._api(url.path, query, b""):
            self._view(url.path.rstrip("/"), {k: v[-1] for k, v in query.items()})

    def do_POST(self) -> None:
        """API writes, the token endpoints and the emulator's admin endpoints."""
        url = urlsplit(self.path)
        body = self._read_body()
        path = url.path.rstrip("/")
        if self._api(url.path, parse_qs(url.query), body):
            return
        if path in (KIBO_TOKEN_PATH, LEGACY_TOKEN_PATH):
            self._token(path, body)
        else:
            self._admin(path, body)

    def do_PUT(self) -> None:
        """API writes (Increff's absolute update)."""
        self._write_only()

    def do_PATCH(self) -> None:
        """API writes."""
        self._write_only()

    def do_DELETE(self) -> None:
        """API writes."""
        self._write_only()

    def _write_only(self) -> None:
        """An API write, or 404: no view or admin endpoint takes this method."""
        url = urlsplit(self.path)
        body = self._read_body()
        if not self._api(url.path, parse_qs(url.query), body):
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {url.path}")

    def _api(self, path: str, query: dict[str, list[str]], body: bytes) -> bool:
        """Answer an API request (False: not an API path)."""
        found = api.route_of(self.command, path.rstrip("/"))
        if found is None:
            return False
        route, job_id = found
        request = api.Request(self.command, path, self.headers, query, body)
        reply = api.handle(self.emulator, route, request, job_id)
        if reply.status == 0:  # a dropped connection: no answer at all
            self.close_connection = True
        else:
            self._send(reply.status, reply.answer, reply.headers)
        return True

    # The emulator's own endpoints

    def _view(self, path: str, query: dict[str, str]) -> None:
        store = self.emulator.store
        if path == "/emulator/health":
            self._send(HTTPStatus.OK, {"status": "ok", "in_flight": self.emulator.in_flight})
        elif path == "/emulator/inventory":
            self._send(HTTPStatus.OK, {"inventory": store.inventory(query.get("location"))})
        elif path == "/emulator/jobs":
            self._send(HTTPStatus.OK, {"jobs": store.jobs()})
        elif path.startswith("/emulator/jobs/") and path.rsplit("/", 1)[1].isdecimal():
            job = store.job(int(path.rsplit("/", 1)[1]), with_items=query.get("items") == "1")
            if job:
                self._send(HTTPStatus.OK, job)
            else:
                self._error(HTTPStatus.NOT_FOUND, "Job Not Found")
        elif path == "/emulator/requests":
            bodies = query.get("bodies") in _TRUE
            self._send(HTTPStatus.OK, {"requests": self.emulator.requests(bodies=bodies)})
        elif path == "/emulator/faults":
            self._send(HTTPStatus.OK, asdict(self.emulator.faults))
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {path}")

    def _admin(self, path: str, body: bytes) -> None:
        try:
            values = json.loads(body or b"{}")
            if path == "/emulator/script":
                self.emulator.script(values.get("responses", []))
                self._send(HTTPStatus.OK, {"scripted": True})
            elif path == "/emulator/faults":
                self.emulator.set_faults(Faults.from_dict(values))
                self._send(HTTPStatus.OK, asdict(self.emulator.faults))
            elif path == "/emulator/reset":
                self.emulator.reset()
                self._send(HTTPStatus.OK, {"reset": True})
            elif path == "/emulator/revoke-tokens":
                self.emulator.revoke_tokens()
                self._send(HTTPStatus.OK, {"revoked": True})
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such path: {path}")
        except (ValueError, TypeError, AttributeError) as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))

    # Tokens

    def _token(self, path: str, raw: bytes) -> None:
        if path == KIBO_TOKEN_PATH:
            try:
                form = json.loads(raw)
            except ValueError:
                form = {}
            form = form if isinstance(form, dict) else {}
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
            client_id, client_secret = _basic_credentials(self.headers.get("Authorization", ""))
        entry = {"method": "POST", "path": path, "grant": form.get("grant_type")}
        valid = form.get("grant_type") == "client_credentials" and self.emulator.client_valid(
            str(client_id), str(client_secret)
        )
        entry["status"] = HTTPStatus.OK if valid else HTTPStatus.UNAUTHORIZED
        self.emulator.log(entry)
        if not valid:
            self._error(HTTPStatus.UNAUTHORIZED, "invalid client credentials")
            return
        token = self.emulator.issue_token()
        ttl = int(self.emulator.token_ttl)
        self._send(
            HTTPStatus.OK, {"access_token": token, "token_type": "bearer", "expires_in": ttl}
        )

    # Plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _error(self, status: int, message: str) -> None:
        error = self.responses.get(status, ("Error",))[0]
        self._send(status, {"error": error, "message": message})

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        """Answer with JSON, or with raw bytes as given."""
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)


def _basic_credentials(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password
