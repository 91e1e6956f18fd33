"""The emulated OMS and the HTTP server around it.

The emulator holds credentials, issued tokens, faults, scripted answers and the request log.
It plays the other side of the target and imports nothing from it.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import secrets
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from target_kibo_inventory.emulator.api import apis
from target_kibo_inventory.emulator.faults import Faults
from target_kibo_inventory.emulator.handler import KIBO_TOKEN_PATH, LEGACY_TOKEN_PATH, handler_for
from target_kibo_inventory.emulator.increff import IncreffAccount
from target_kibo_inventory.emulator.store import Store

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "DEMO_TENANT",
    "KIBO_TOKEN_PATH",
    "LEGACY_TOKEN_PATH",
    "Emulator",
    "Faults",
    "IncreffAccount",
    "Options",
]

logger = logging.getLogger("kibo-emulator")

DEMO_TENANT, DEMO_API_KEY = "demo", "demo-key"
DEMO_API_SECRET = "demo-secret"  # noqa: S105  the emulator's documented demo credentials
"""The command line's default credentials: tenant, Application (Client) ID, Client Secret."""
SCRIPT_KEYS = {"status", "raw", "message", "retry_after", "latency"}
HTTP_STATUSES = range(100, 600)
"""The statuses a scripted answer may have: any three-digit one, named or not (e.g. 599)."""


@dataclass(frozen=True)
class Options:
    """The tenant's site, and what the emulator does beyond the documents' plain reading.

    Each is off by default.
    """

    site: str | None = None
    """When set, every Kibo API requires x-vol-site equal to it."""
    accept_api_key: bool = False
    """The translated endpoints take the API key itself as a bearer (no document says so)."""
    translated_queue: bool = False
    """Serve the job queue at the legacy host's paths, /inv/api/v1/queue and /api/v1/queue
    (no document places them on the translation host)."""
    increff_example_answers: bool = False
    """Name SKUs in Increff's answers as the guide's example does (ITEM302 → "302")."""


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
        *,
        increff: IncreffAccount | None = None,
        options: Options | None = None,
    ) -> None:
        self.tenant = tenant
        self.api_key = api_key
        self.api_secret = api_secret
        """The Client Secret of the token endpoints (None: no token is issued)."""
        self.token_ttl = token_ttl
        self.options = options or Options()
        self.increff = increff or IncreffAccount()
        self.store = Store(db, int(tenant) if tenant.isdecimal() else None)
        self._tokens: dict[str, float] = {}
        self._script: deque[dict[str, Any]] = deque()
        self._log: list[tuple[dict[str, Any], bytes | int | None]] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.set_faults(faults or Faults())
        self._server: _Server | None = None
        apis()  # the APIs it serves, found now rather than by the first requests

    # Serving

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; return the base URL."""
        self._server = _Server((host, port), handler_for(self))
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="emulator", daemon=True
        ).start()
        bound_host, bound_port = self._server.server_address[:2]
        if isinstance(bound_host, bytes | bytearray):  # typed so; a bound AF_INET socket gives str
            bound_host = bound_host.decode("ascii")
        return f"http://{bound_host}:{bound_port}"

    def serve_forever(self, host: str, port: int) -> None:
        """Serve in this thread until interrupted."""
        self._server = _Server((host, port), handler_for(self))
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # State shared by the handler threads

    def log(self, entry: dict[str, Any], body: bytes | int | None = None) -> None:
        """Remember one request, and its body (bytes, or the jobID that holds it)."""
        with self._lock:
            self._log.append((entry, body))

    def count_in_flight(self, change: int) -> None:
        """Write requests being handled now (read by /emulator/health)."""
        with self._lock:
            self.in_flight += change

    def requests(self, *, bodies: bool = False) -> list[dict[str, Any]]:
        """Every request seen, oldest first; with bodies, each with its parsed JSON body."""
        with self._lock:
            log = list(self._log)
        if not bodies:
            return [entry for entry, _ in log]
        return [{**entry, "body": self._parsed(body)} for entry, body in log]

    def _parsed(self, body: bytes | int | None) -> Any:
        """A logged body as JSON (as text if it is not JSON; None if there was none)."""
        raw = self.store.job_body(body) if isinstance(body, int) else body
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace") if isinstance(raw, bytes) else raw

    def script(self, answers: list[dict[str, Any]]) -> None:
        """Answer the next write requests with these ({"status": 503}, {"latency": 2}, ...)."""
        for answer in answers:
            _check_scripted(answer)
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
            self._rng = random.Random(faults.seed)  # noqa: S311  simulated faults, not security
            self.store.step_seconds = faults.step_seconds
            self.store.failed_item_count = faults.failed_item_count

    def draw_fault(self) -> tuple[str | None, Faults]:
        """The fault for the next write request, and the faults in force."""
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


def _check_scripted(answer: Any) -> None:
    """Refuse a scripted answer the emulator could not give."""
    if not isinstance(answer, dict) or set(answer) - SCRIPT_KEYS:
        raise ValueError(f"a scripted answer has only {sorted(SCRIPT_KEYS)}; got {answer!r}")
    status, latency = answer.get("status", HTTPStatus.OK.value), answer.get("latency", 0)
    if type(status) is not int or status not in HTTP_STATUSES:
        raise ValueError(f"status: an HTTP status is required; got {status!r}")
    if type(latency) not in (int, float) or latency < 0:
        raise ValueError(f"latency: seconds (a number, at least 0) are required; got {latency!r}")
    if "raw" in answer and ("status" not in answer or not isinstance(answer["raw"], str)):
        raise ValueError("raw: the answer's text, with its status, is required")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed, timed out) is routine here, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away before its answer", client_address)
        else:
            super().handle_error(request, client_address)
