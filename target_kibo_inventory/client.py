"""HTTP client: one keep-alive session, bearer auth with a token cache, retries and errors."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Generator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import backoff
import requests
from urllib3.exceptions import NewConnectionError

from target_kibo_inventory.redaction import redact
from target_kibo_inventory.settings import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_APPLIED_STATUSES = frozenset({429, 503})
"""Retryable answers that say the request was surely not applied; 500, 502, 504 may hide one
that was."""
GATEWAY_STATUSES = frozenset({502, 504})
"""Answers from a gateway: the API behind it may still be working on the request, so it may
be applied late (a 500 is the API's own answer: it is done with the request)."""
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
TOKEN_RENEW_MARGIN_SECONDS = 60.0
SHOWN_BODY_CHARS = 500


class ApiError(RuntimeError):
    """The API refused a request, or answered in a way that cannot be used."""


class AuthError(ApiError):
    """The API refused the tenant or the credentials."""


class AmbiguousRequestError(ApiError):
    """A request that is not idempotent may or may not have been applied; it is not resent."""


class TransientError(Exception):
    """A failure worth another try: 429, 5xx from a gateway, or a lost connection.

    `maybe_applied` is True when the request may have reached the server and been applied
    (read timeout, connection lost after sending, 500, 502, 504); `late` when it may still be
    applied after this failure (no answer from the API itself: a timeout, a lost connection,
    502, 504).
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        maybe_applied: bool = True,
        late: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        self.late = maybe_applied if late is None else late


def retry_waits(
    base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_MAX_SECONDS
) -> Generator[float, Any, None]:
    """Exponential backoff with full jitter, or the server's Retry-After when it gives one.

    A `backoff` wait generator: it is sent the exception of each failed try.
    """
    error = yield 0.0
    attempt = 0
    while True:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = retry_after  # as asked; backoff still ends the wait at max_retry_seconds
        else:
            wait = random.uniform(0, min(cap, base * 2**attempt))
        attempt += 1
        error = yield wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _user_agent() -> str:
    try:
        return f"target-kibo-inventory/{version('target-kibo-inventory')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "target-kibo-inventory"


def _classify(error: requests.RequestException, what: str) -> Exception:
    """A failed request as a final ApiError, or a TransientError that says if it may have
    been applied."""
    if isinstance(error, requests.exceptions.SSLError):
        return ApiError(
            f"TLS failed for {what} ({_reason(error)}): the server's certificate could not be "
            "verified; behind a TLS-inspecting proxy, set ca_bundle to its CA certificate."
        )
    if isinstance(error, requests.exceptions.ProxyError):
        return TransientError(f"proxy error for {what}: {_reason(error)}", maybe_applied=False)
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return TransientError(
            f"{_describe(error)} for {what}", maybe_applied=not _never_connected(error)
        )
    return TransientError(
        f"{type(error).__name__}: the answer to {what} broke off", maybe_applied=True
    )


def _reason(error: requests.RequestException) -> str:
    """The innermost reason of a connection failure, without the URL."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return str(reason or type(error).__name__)


def _never_connected(error: requests.RequestException) -> bool:
    """Whether the request surely never reached the server (refused, or connect timeout)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _describe(error: requests.RequestException) -> str:
    """A short name for a connection failure (no URL, no headers)."""
    if isinstance(error, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(error, requests.ReadTimeout):
        return "read timeout (no answer in time)"
    if _never_connected(error):
        return "ConnectionError: connection refused"
    return "ConnectionError: connection closed before an answer"


def _server_message(response: requests.Response) -> str:
    """The server's own words: its JSON message or error, else the start of the body; secrets
    masked before the text is cut short."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        message = answer.get("message") or answer.get("error") or answer.get("error_description")
        if message:
            return redact(str(message))[:SHOWN_BODY_CHARS]
    return redact(response.text)[:SHOWN_BODY_CHARS] or response.reason or ""


class KiboClient:
    """Sends JSON requests to the OMS; safe to share between threads."""

    def __init__(self, settings: Settings, logger: logging.Logger) -> None:
        self.settings = settings
        self.logger = logger
        self.session = requests.Session()
        self.session.headers.update(
            {
                "x-vol-tenant": settings.tenant_id,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _user_agent(),
            }
        )
        self.session.verify = settings.ca_bundle or True
        self.timeout = settings.request_timeout
        self.max_tries = settings.max_retries + 1
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()
        retrying = backoff.on_exception(
            retry_waits,
            TransientError,
            max_tries=self.max_tries,
            max_time=settings.max_retry_seconds,
            jitter=None,
            on_backoff=self._log_retry,
        )
        self._post_with_retries = retrying(self._post_authorized)
        self._fetch_token = retrying(self._request_token)

    def post(
        self,
        url: str,
        body: bytes,
        what: str,
        *,
        idempotent: bool = True,
        on_late_copy: Callable[[float], None] | None = None,
    ) -> bytes:
        """POST a JSON body with retries; return the answer's body. `what` names it in logs.

        A request that is not idempotent is retried only after failures that surely did not
        apply it, unless `adjust_retry_ambiguous` is set. `on_late_copy` is told when a failed
        try that may still be applied, late, began (it may land after newer requests).
        """
        try:
            return self._post_with_retries(url, body, what, idempotent, on_late_copy)
        except TransientError as error:
            raise ApiError(
                f"Gave up retrying (max_retries={self.settings.max_retries}, "
                f"max_retry_seconds={self.settings.max_retry_seconds:g}): {error}"
            ) from None

    def close(self) -> None:
        """Close the keep-alive connections."""
        self.session.close()

    def _post_authorized(
        self,
        url: str,
        body: bytes,
        what: str,
        idempotent: bool,
        on_late_copy: Callable[[float], None] | None,
    ) -> bytes:
        started = time.monotonic()
        try:
            return self._post_renewing_token(url, body, what)
        except TransientError as error:
            if error.late and on_late_copy is not None:
                on_late_copy(started)
            if error.maybe_applied and not idempotent and not self.settings.adjust_retry_ambiguous:
                raise AmbiguousRequestError(
                    f"The {what} may or may not have been applied: {error}. It was not sent "
                    "again, so that it cannot be applied twice. Check this location's stock "
                    "(or Kibo's job queue) before running again, or set "
                    "adjust_retry_ambiguous: true to retry such requests (at-least-once)."
                ) from None
            raise

    def _post_renewing_token(self, url: str, body: bytes, what: str) -> bytes:
        token_renewed = False
        while True:
            bearer = self._bearer()
            response = self._post_once(url, body, what, bearer)
            if response.status_code == 401 and self.settings.api_secret and not token_renewed:
                self.logger.info("Access token refused for %s; getting a new one.", what)
                self._forget_token(bearer)
                token_renewed = True
                continue
            return self._read(response, what)

    def _post_once(self, url: str, body: bytes, what: str, bearer: str) -> requests.Response:
        try:
            return self.session.post(
                url,
                data=body,
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise _classify(error, what) from None

    def _read(self, response: requests.Response, what: str) -> bytes:
        status = response.status_code
        if 200 <= status < 300:
            return response.content
        message = _server_message(response)
        if status in RETRY_STATUSES:
            raise TransientError(
                f"HTTP {status} for {what}: {message}",
                parse_retry_after(response.headers.get("Retry-After")),
                maybe_applied=status not in NOT_APPLIED_STATUSES,
                late=status in GATEWAY_STATUSES,
            )
        if status in (401, 403):
            raise AuthError(
                f"Kibo refused the tenant or API key (HTTP {status}) for {what}: tenant "
                f"'{self.settings.tenant_id}' and the configured api_key"
                f"{'/api_secret' if self.settings.api_secret else ''} were not accepted. "
                f"Server said: {message}"
            )
        raise ApiError(f"HTTP {status} for {what}: {message}")

    def _bearer(self) -> str:
        """The API key, or a cached access token (a failure to get one is final here: the
        request was not sent)."""
        if not self.settings.api_secret:
            return self.settings.api_key
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires_at:
                try:
                    self._token, lifetime = self._fetch_token()
                except TransientError as error:
                    raise ApiError(f"Could not get an access token: {error}") from None
                margin = min(TOKEN_RENEW_MARGIN_SECONDS, lifetime / 10)
                self._token_expires_at = time.monotonic() + lifetime - margin
            return self._token

    def _forget_token(self, refused: str) -> None:
        """Drop the refused token, unless another thread already replaced it."""
        with self._token_lock:
            if self._token == refused:
                self._token = None

    def _request_token(self) -> tuple[str, float]:
        settings = self.settings
        what = f"the access token request to {settings.auth_url}"
        kwargs: dict[str, Any]
        if settings.token_request == "basic":
            kwargs = {
                "auth": (settings.api_key, settings.api_secret),
                "data": {"grant_type": "client_credentials"},
            }
        else:
            kwargs = {
                "json": {
                    "client_id": settings.api_key,
                    "client_secret": settings.api_secret,
                    "grant_type": "client_credentials",
                }
            }
        try:
            response = requests.post(
                settings.auth_url, timeout=self.timeout, verify=self.session.verify, **kwargs
            )
        except requests.RequestException as error:
            raise _classify(error, what) from None
        self._read(response, what)
        try:
            answer = response.json()
            return str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                f"{what} answered without a usable access_token and expires_in "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)"
            ) from None

    def _log_retry(self, details: dict[str, Any]) -> None:
        error = details.get("exception")
        self.logger.warning(
            "%s; try %d of %d failed, retrying in %.1f s.",
            error,
            details["tries"],
            self.max_tries,
            details["wait"],
        )
