"""HTTP server of the emulator: Kibo's refresh/adjust paths, token endpoints, and read-only views.

It plays the other side of the target and imports nothing from it.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import random
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from target_kibo_inventory.emulator.rules import BadRequestError, check_body
from target_kibo_inventory.emulator.store import Store

logger = logging.getLogger("kibo-emulator")

API_PATHS = {
    "/inv/api/v5/inventory/refresh": "refresh",
    "/inv/api/v5/inventory/adjust": "adjust",
    "/api/v5/inventory/refresh": "refresh",
    "/api/v5/inventory/adjust": "adjust",
}
KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"
LEGACY_TOKEN_PATH = "/oauthserver/oauth2/token"


@dataclass
class Faults:
    """Seeded, reproducible faults of the inventory endpoints (rates are 0..1 per request)."""

    seed: int = 0
    error_rate: float = 0.0
    """Answer one of `error_statuses`; the request is not applied."""
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    rate_limit_rate: float = 0.0
    """Answer 429 with a Retry-After of `retry_after` seconds; not applied."""
    retry_after: float = 1.0
    drop_before_rate: float = 0.0
    """Close the connection before any answer; not applied."""
    drop_after_rate: float = 0.0
    """Accept the job (it is applied), then close the connection before the answer."""
    latency: float = 0.0
    """Seconds added to every inventory request."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        """Faults from JSON; unknown names are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        faults = cls(**values)
        faults.error_statuses = tuple(faults.error_statuses)
        return faults

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request: 'error', 'rate_limit', 'drop_before', 'drop_after' or None."""
        roll = rng.random()
        for name in ("error", "rate_limit", "drop_before", "drop_after"):
            rate = getattr(self, f"{name}_rate")
            if roll < rate:
                return name
            roll -= rate
        return None


class Emulator:
    """The emulated OMS: credentials, issued tokens, faults, scripted answers and a request log."""

    def __init__(
        self,
        tenant: str,
        api_key: str,
        api_secret: str | None = None,
        db: str = ":memory:",
        token_ttl: float = 3600.0,
        faults: Faults | None = None,
    ) -> None:
        self.tenant = tenant
        self.api_key = api_key
        self.api_secret = api_secret
        self.token_ttl = token_ttl
        self.store = Store(db)
        self._tokens: dict[str, float] = {}
        self._script: deque[dict[str, Any]] = deque()
        self._log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.set_faults(faults or Faults())
        self._server: _Server | None = None

    # Serving

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; return the base URL."""
        self._server = _Server((host, port), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True).start()
        bound_host, bound_port = self._server.server_address[:2]
        return f"http://{bound_host}:{bound_port}"

    def serve_forever(self, host: str, port: int) -> None:
        """Serve in this thread until interrupted."""
        self._server = _Server((host, port), _handler_for(self))
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # State shared by the handler threads

    def log(self, entry: dict[str, Any]) -> None:
        """Remember one request."""
        with self._lock:
            self._log.append(entry)

    def count_in_flight(self, change: int) -> None:
        """Inventory requests being handled now (read by /emulator/health)."""
        with self._lock:
            self.in_flight += change

    def requests(self) -> list[dict[str, Any]]:
        """Every request seen, oldest first."""
        with self._lock:
            return list(self._log)

    def script(self, answers: list[dict[str, Any]]) -> None:
        """Answer the next inventory requests with these (e.g. {"status": 503})."""
        with self._lock:
            self._script.extend(answers)

    def next_scripted(self) -> dict[str, Any] | None:
        """The next scripted answer, if any."""
        with self._lock:
            return self._script.popleft() if self._script else None

    def set_faults(self, faults: Faults) -> None:
        """Inject these faults from now on (the random sequence restarts from their seed)."""
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def draw_fault(self) -> tuple[str | None, Faults]:
        """The fault for the next inventory request, and the faults in force."""
        with self._lock:
            return self.faults.draw(self._rng), self.faults

    def draw_status(self, statuses: tuple[int, ...]) -> int:
        """One of these statuses, drawn from the seeded sequence."""
        with self._lock:
            return self._rng.choice(statuses)

    def reset(self) -> None:
        """Forget stock, jobs, the request log, scripted answers and tokens."""
        with self._lock:
            self._log.clear()
            self._script.clear()
            self._tokens.clear()
        self.store.reset()

    def issue_token(self) -> str:
        """A new access token, valid for token_ttl seconds."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return token

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (as when they expire)."""
        with self._lock:
            self._tokens.clear()

    def bearer_kind(self, bearer: str) -> str | None:
        """'api_key' or 'token' when the bearer is valid, else None (compared in constant time)."""
        if hmac.compare_digest(bearer.encode(), self.api_key.encode()):
            return "api_key"
        with self._lock:
            valid = [t for t, expiry in self._tokens.items() if expiry > time.monotonic()]
        if any(hmac.compare_digest(bearer.encode(), t.encode()) for t in valid):
            return "token"
        return None

    def client_valid(self, client_id: str, client_secret: str) -> bool:
        """Whether the client credentials are this emulator's (constant-time comparison)."""
        if self.api_secret is None:
            return False
        return hmac.compare_digest(client_id.encode(), self.api_key.encode()) & hmac.compare_digest(
            client_secret.encode(), self.api_secret.encode()
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is routine here, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away before its answer", client_address)
        else:
            super().handle_error(request, client_address)


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"emulator": emulator})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kibo-emulator"
    disable_nagle_algorithm = True
    emulator: Emulator

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # Dispatch

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        store = self.emulator.store
        if query.get("wait") in ("1", "true"):
            store.wait_idle()
        if path == "/emulator/health":
            self._send(200, {"status": "ok", "in_flight": self.emulator.in_flight})
        elif path == "/emulator/inventory":
            self._send(200, {"inventory": store.inventory(query.get("location"))})
        elif path == "/emulator/jobs":
            self._send(200, {"jobs": store.jobs()})
        elif path.startswith("/emulator/jobs/") and path.rsplit("/", 1)[1].isdigit():
            job = store.job(int(path.rsplit("/", 1)[1]), with_items=query.get("items") == "1")
            self._send(200, job) if job else self._error(404, "Job Not Found")
        elif path == "/emulator/requests":
            self._send(200, {"requests": self.emulator.requests()})
        elif path == "/emulator/faults":
            self._send(200, asdict(self.emulator.faults))
        else:
            self._error(404, f"no such path: {url.path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        body = self._read_body()
        if path in API_PATHS:
            self._inventory(API_PATHS[path], body)
        elif path in (KIBO_TOKEN_PATH, LEGACY_TOKEN_PATH):
            self._token(path, body)
        elif path == "/emulator/script":
            self.emulator.script(json.loads(body or b"{}").get("responses", []))
            self._send(200, {"scripted": True})
        elif path == "/emulator/faults":
            try:
                self.emulator.set_faults(Faults.from_dict(json.loads(body or b"{}")))
            except (ValueError, TypeError) as error:
                self._error(400, str(error))
                return
            self._send(200, asdict(self.emulator.faults))
        elif path == "/emulator/reset":
            self.emulator.reset()
            self._send(200, {"reset": True})
        elif path == "/emulator/revoke-tokens":
            self.emulator.revoke_tokens()
            self._send(200, {"revoked": True})
        else:
            self._error(404, f"no such path: {path}")

    # The inventory API

    def _inventory(self, operation: str, raw: bytes) -> None:
        entry: dict[str, Any] = {
            "method": "POST",
            "path": urlsplit(self.path).path,
            "operation": operation,
            "tenant": self.headers.get("x-vol-tenant"),
            "contentType": self.headers.get("Content-Type"),
            "start": time.monotonic(),
        }
        fault, faults = self.emulator.draw_fault()
        self.emulator.count_in_flight(+1)
        try:
            if faults.latency:
                time.sleep(faults.latency)
            status, answer, headers = self._answer_inventory(operation, raw, entry, fault, faults)
            entry.update(status=status, end=time.monotonic())
            self.emulator.log(entry)
        finally:
            self.emulator.count_in_flight(-1)
        if status == 0:  # a dropped connection: no answer at all
            self.close_connection = True
            return
        self._send(status, answer, headers)

    def _answer_inventory(
        self,
        operation: str,
        raw: bytes,
        entry: dict[str, Any],
        fault: str | None,
        faults: Faults,
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        """Status (0: drop the connection), answer and headers; queues the job when accepted."""
        auth = self.headers.get("Authorization", "")
        kind = self.emulator.bearer_kind(auth[7:]) if auth.startswith("Bearer ") else None
        entry["auth"] = kind or "refused"
        if self.headers.get("x-vol-tenant") != self.emulator.tenant:
            return 401, _problem("Unauthorized", "unknown or missing x-vol-tenant"), {}
        if kind is None:
            return 401, _problem("Unauthorized", "invalid or expired bearer token"), {}
        scripted = self.emulator.next_scripted()
        if scripted:
            headers = {}
            if scripted.get("retry_after") is not None:
                headers["Retry-After"] = str(scripted["retry_after"])
            if "raw" in scripted:
                return int(scripted["status"]), scripted["raw"].encode(), headers
            message = scripted.get("message", "scripted answer")
            return int(scripted["status"]), _problem("Scripted", message), headers
        entry["fault"] = fault
        if fault == "error":
            status = self.emulator.draw_status(faults.error_statuses)
            return status, _problem("Injected fault", "the server failed"), {}
        if fault == "rate_limit":
            headers = {"Retry-After": f"{faults.retry_after:g}"}
            return 429, _problem("Too Many Requests", "slow down"), headers
        if fault == "drop_before":
            return 0, b"", {}
        try:
            location, items = check_body(operation, json.loads(raw))
        except ValueError as error:
            message = str(error) if isinstance(error, BadRequestError) else "the body is not JSON"
            entry["error"] = message
            return 400, _problem("Bad Request", message), {}
        job_id = self.emulator.store.add_job(operation, location, len(items), raw, entry["path"])
        entry.update(locationName=location, items=len(items), jobID=job_id)
        if fault == "drop_after":
            return 0, b"", {}
        return 200, {"jobID": job_id}, {}

    # Tokens

    def _token(self, path: str, raw: bytes) -> None:
        if path == KIBO_TOKEN_PATH:
            try:
                form = json.loads(raw)
            except ValueError:
                form = {}
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        else:
            form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            client_id, client_secret = _basic_credentials(self.headers.get("Authorization", ""))
        entry = {"method": "POST", "path": path, "grant": form.get("grant_type")}
        valid = form.get("grant_type") == "client_credentials" and self.emulator.client_valid(
            str(client_id), str(client_secret)
        )
        entry["status"] = 200 if valid else 401
        self.emulator.log(entry)
        if not valid:
            self._error(401, "invalid client credentials")
            return
        token = self.emulator.issue_token()
        ttl = int(self.emulator.token_ttl)
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": ttl})

    # Plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _error(self, status: int, message: str) -> None:
        self._send(status, _problem(self.responses.get(status, ("Error",))[0], message))

    def _send(
        self, status: int, answer: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with a JSON object, or with raw bytes as given."""
        content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)


def _problem(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}


def _basic_credentials(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password
