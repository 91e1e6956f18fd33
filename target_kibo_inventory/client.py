"""HTTP client: one keep-alive session, the destination's auth, retries, and errors."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Protocol

import backoff
import requests
from urllib3.exceptions import NewConnectionError

from target_kibo_inventory.auth import TokenAuth, TokenRequest
from target_kibo_inventory.destinations.base import Destination, HttpRequest
from target_kibo_inventory.redaction import add_secret, redact

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator

    from backoff.types import Details

RETRY_STATUSES = frozenset(
    {
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    }
)
NOT_APPLIED_STATUSES = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})
"""Retryable answers that say the request was surely not applied; 500, 502, 504 may hide one
that was."""
GATEWAY_STATUSES = frozenset({HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT})
"""Answers from a gateway: the API behind it may still be working on the request, so it may
be applied late (a 500 is the API's own answer: it is done with the request)."""
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
SHOWN_BODY_CHARS = 500
"""Most characters of a server's error answer shown in a message (after secrets are masked)."""


class ApiError(RuntimeError):
    """The API refused a request, or answered in a way that cannot be used."""

    explained = True
    """Its message says all: the run's error line, with the traceback at DEBUG
    (dead_letter.without_traceback)."""


class AuthError(ApiError):
    """The API refused the tenant or the credentials."""


class AmbiguousRequestError(ApiError):
    """A request that must not be resent may or may not have been applied."""


class TransientError(Exception):
    """A failure worth another try: 429, 5xx from a gateway, or a lost connection.

    `maybe_applied`: the request may have been applied (read timeout, connection lost after
    sending, 500, 502, 504). `late`: it may still be applied after this failure (no answer
    from the API itself: a timeout, a lost connection, 502, 504).
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


class StoppedError(ApiError):
    """The run is stopping (SIGTERM): a request was not tried again."""


def retry_wait(
    tries: int,
    error: BaseException | None,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_MAX_SECONDS,
) -> float:
    """Seconds to wait after `tries` failed tries: Retry-After, else backoff with full jitter."""
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        return float(retry_after)
    return random.uniform(0, min(cap, base * 2 ** (tries - 1)))  # noqa: S311  jitter, no secret


def _no_sleep() -> Generator[float, Any, None]:
    """A `backoff` wait generator that never sleeps: the client waits in `on_backoff`.

    There it waits on an event that a stop sets, so that a stop cuts the wait short.
    """
    while True:
        yield 0.0


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


def _classify(error: requests.RequestException, description: str) -> Exception:
    """A failed request as a final ApiError, or a retryable TransientError.

    The TransientError says whether the request may have been applied.
    """
    if isinstance(error, requests.exceptions.SSLError):
        return ApiError(
            f"TLS failed for {description} ({_reason(error)}): the server's certificate could "
            "not be verified; behind a TLS-inspecting proxy, set ca_bundle to its CA certificate."
        )
    if isinstance(error, requests.exceptions.ProxyError):
        return TransientError(
            f"proxy error for {description}: {_reason(error)}", maybe_applied=False
        )
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return TransientError(
            f"{_describe(error)} for {description}", maybe_applied=not _never_connected(error)
        )
    return TransientError(
        f"{type(error).__name__}: the answer to {description} broke off", maybe_applied=True
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


class Sender(Protocol):
    """What the loader needs of a client (HttpClient, or a test's recorder)."""

    def send(
        self,
        request: HttpRequest,
        description: str,
        *,
        resend_if_maybe_applied: bool = True,
        on_late_copy: Callable[[float], None] | None = None,
    ) -> bytes:
        """Send a request; return the answer's body."""
        ...

    def get(self, url: str, description: str) -> bytes:
        """GET (the job queue) with the same auth and retries; return the answer's body."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...


class HttpClient:
    """Sends a destination's requests; safe to share between threads."""

    def __init__(
        self,
        destination: Destination,
        logger: logging.Logger,
        *,
        timeout: float,
        max_retries: int,
        max_retry_seconds: float,
        ca_bundle: str | None = None,
        stopping: threading.Event | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.destination = destination
        self.logger = logger
        self.on_retry = on_retry
        """Told of each retry (the run's counters)."""
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _user_agent(),
                **destination.headers(),
            }
        )
        self.session.verify = ca_bundle or True
        auth = destination.auth()
        self.auth = auth.fetching_with(self._fetch_token) if isinstance(auth, TokenAuth) else auth
        self.timeout = timeout
        self._prepared_by_url: dict[
            tuple[str, str], tuple[requests.PreparedRequest, dict[str, Any]]
        ] = {}
        self.max_tries = max_retries + 1
        self.max_retry_seconds = max_retry_seconds
        self.stopping = stopping or threading.Event()
        retrying = backoff.on_exception(
            _no_sleep,
            TransientError,
            max_tries=self.max_tries,
            max_time=max_retry_seconds,
            jitter=None,
            on_backoff=self._wait_before_retry,
            logger=None,  # each retry is logged once, by _wait_before_retry
        )
        self._send_with_retries = retrying(self._send_authorized)
        self._token_with_retries = retrying(self._request_token)

    def send(
        self,
        request: HttpRequest,
        description: str,
        *,
        resend_if_maybe_applied: bool = True,
        on_late_copy: Callable[[float], None] | None = None,
    ) -> bytes:
        """Send a request with retries; return the answer's body; `description` names it in errors.

        After a failure that may hide an applied request, the request is sent again only
        when `resend_if_maybe_applied` (else AmbiguousRequestError). `on_late_copy` is told
        when a failed try that may still be applied, late, began.
        """
        try:
            return self._send_with_retries(
                request, description, resend_if_maybe_applied, on_late_copy
            )
        except TransientError as error:
            raise ApiError(self._gave_up(error)) from None

    def get(self, url: str, description: str) -> bytes:
        """GET with the same auth and retries as `send` (reading it twice changes nothing)."""
        return self.send(HttpRequest("GET", url, b""), description)

    def check_token(self) -> bool:
        """Get the OAuth2 access token now (with api_secret); False when there is none to get.

        Raises AuthError or ApiError.
        """
        if not isinstance(self.auth, TokenAuth):
            return False
        self.auth.token()
        return True

    def check_read(self) -> bool:
        """Read the destination's job queue once (Get Jobs, limit 1).

        The cheapest request that proves the credentials and the tenant; False when the
        destination has no job queue. Raises AuthError or ApiError.
        """
        queue = self.destination.job_queue
        if queue is None:
            return False
        self.get(queue.jobs_url(None, limit=1), "a read of the job queue (Get Jobs, limit 1)")
        return True

    def close(self) -> None:
        """Close the keep-alive connections."""
        self.session.close()

    def _gave_up(self, error: TransientError) -> str:
        return (
            f"Gave up retrying (max_retries={self.max_tries - 1}, "
            f"max_retry_seconds={self.max_retry_seconds:g}): {error}"
        )

    def _send_authorized(
        self,
        request: HttpRequest,
        description: str,
        resend_if_maybe_applied: bool,
        on_late_copy: Callable[[float], None] | None,
    ) -> bytes:
        started = time.monotonic()
        try:
            return self._send_renewing_token(request, description)
        except TransientError as error:
            if error.late and on_late_copy is not None:
                on_late_copy(started)
            if error.maybe_applied and not resend_if_maybe_applied:
                raise AmbiguousRequestError(
                    f"The {description} may or may not have been applied: {error}"
                ) from None
            raise

    def _send_renewing_token(self, request: HttpRequest, description: str) -> bytes:
        """Send once; when a token is refused, get a new one and send once more.

        Refused: 401, and 403 where the token's documents say so (TokenAuth.renews_on).
        """
        response = self._send_once(request, description)
        if isinstance(self.auth, TokenAuth) and self.auth.renews_on(response.status_code):
            self.logger.info(
                "Access token refused (HTTP %d) for %s; getting a new one.",
                response.status_code,
                description,
            )
            self.auth.refused(response.request.headers.get("Authorization"))
            response = self._send_once(request, description)
        return self._read(response, description)

    def _send_once(self, request: HttpRequest, description: str) -> requests.Response:
        try:
            if request.method == "GET" or self.session.cookies:
                return self.session.request(  # reads; and a server that set cookies
                    request.method,
                    request.url,
                    data=request.body,
                    auth=self.auth,
                    timeout=self.timeout,
                )
            prepared, settings = self._prepared(request.method, request.url)
            prepared = prepared.copy()
            prepared.prepare_body(request.body, None)
            prepared.prepare_auth(self.auth)
            return self.session.send(prepared, timeout=self.timeout, **settings)
        except requests.RequestException as error:
            raise _classify(error, description) from None

    def _prepared(self, method: str, url: str) -> tuple[requests.PreparedRequest, dict[str, Any]]:
        """An inventory URL's request as the session prepares it, and the environment's settings.

        Once per URL (`requests`' Prepared Requests): the session's headers and hooks, the
        proxies and CA bundle of the environment. Each request copies it and adds its body and
        auth, as `Session.request` would; a server that sets cookies is sent the long way.
        """
        found = self._prepared_by_url.get((method, url))
        if found is None:
            prepared = self.session.prepare_request(requests.Request(method, url))
            settings = self.session.merge_environment_settings(url, {}, None, None, None)
            found = (prepared, {**settings, "allow_redirects": True})
            self._prepared_by_url[method, url] = found
        return found

    def _read(self, response: requests.Response, description: str) -> bytes:
        status = response.status_code
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            return response.content
        message = redact(self.destination.error_message(response))[:SHOWN_BODY_CHARS]
        if status in RETRY_STATUSES:
            raise TransientError(
                f"HTTP {status} for {description}: {message}",
                parse_retry_after(response.headers.get("Retry-After")),
                maybe_applied=status not in NOT_APPLIED_STATUSES,
                late=status in GATEWAY_STATUSES,
            )
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise AuthError(self.destination.refused_message(status, description, message))
        raise ApiError(f"HTTP {status} for {description}: {message}")

    def _fetch_token(self, token_request: TokenRequest) -> tuple[str, float]:
        """A new access token and its lifetime.

        A failure to get one is final (ApiError): the request that needed it was not sent.
        """
        try:
            token, lifetime = self._token_with_retries(token_request)
        except TransientError as error:
            raise ApiError(f"Could not get an access token: {self._gave_up(error)}") from None
        add_secret(token)  # masked wherever it shows, like the configured secrets
        return token, lifetime

    def _request_token(self, token_request: TokenRequest) -> tuple[str, float]:
        description = f"the access token request to {token_request.url}"
        try:
            response = token_request.send(self.session, self.timeout)
        except requests.RequestException as error:
            raise _classify(error, description) from None
        self._read(response, description)
        try:
            answer = response.json()
            return str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                f"{description} answered without a usable access_token and expires_in "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)"
            ) from None

    def _wait_before_retry(self, details: Details) -> None:
        """Count and log the failed try, then wait before the next one.

        The wait stays within max_retry_seconds; a stop (SIGTERM) ends it and the retries.
        """
        if self.on_retry is not None:
            self.on_retry()
        error = details.get("exception")
        wait = retry_wait(details["tries"], error)
        wait = max(0.0, min(wait, self.max_retry_seconds - details["elapsed"]))
        self.logger.warning(
            "%s; try %d of %d failed, retrying in %.1f s.",
            error,
            details["tries"],
            self.max_tries,
            wait,
        )
        if self.stopping.wait(wait):
            raise StoppedError(f"Stopping: not tried again after {error}")
