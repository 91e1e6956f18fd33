"""Request authentication as `requests` auth objects: a bearer key, an OAuth2 token, headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from requests.auth import AuthBase

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

TOKEN_RENEW_MARGIN_SECONDS = 60.0


class BearerAuth(AuthBase):
    """`Authorization: Bearer <key>` with a fixed key."""

    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the key to a request."""
        request.headers["Authorization"] = self._header
        return request


class HeaderAuth(AuthBase):
    """Fixed credential headers (Increff's authUsername, authPassword, authDomainName)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the credential headers to a request."""
        request.headers.update(self._headers)
        return request


@dataclass(frozen=True)
class TokenRequest:
    """Where and how an OAuth2 client-credentials token is asked for."""

    url: str
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    form: str = "json"
    """`json`: a JSON body with the credentials (Kibo); `basic`: HTTP Basic and a form body."""
    renew_on: frozenset[int] = frozenset({401})
    """Statuses of an API answer that mean: the token was refused, get a new one."""

    def send(self, session: requests.Session, timeout: float) -> requests.Response:
        """POST the token request through the session (its headers, proxies and TLS).

        A form body says so in its Content-Type: the session's own is JSON, for the API.
        """
        if self.form == "basic":
            return session.post(
                self.url,
                auth=(self.client_id, self.client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=timeout,
            )
        body = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
        }
        return session.post(self.url, json=body, timeout=timeout)


Fetch = Callable[[TokenRequest], tuple[str, float]]
"""Gets a new token and its lifetime in seconds (the client, with its session and retries)."""


class TokenAuth(AuthBase):
    """OAuth2 client credentials: one token, shared by all threads, kept until it nearly expires.

    A destination gives it without `fetch`; the client that sends the requests makes its own
    copy with `fetching_with`. When the API refuses the token, `refused` drops it so that the
    next request fetches anew.
    """

    def __init__(self, token_request: TokenRequest, fetch: Fetch | None = None) -> None:
        self.token_request = token_request
        self._fetch = fetch
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def fetching_with(self, fetch: Fetch) -> TokenAuth:
        """The same token request, its tokens got by `fetch`."""
        return TokenAuth(self.token_request, fetch)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the current token to a request (fetching one first when needed)."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """The cached token, or a new one when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                if self._fetch is None:
                    raise RuntimeError("TokenAuth has no client to fetch its token")
                self._token, lifetime = self._fetch(self.token_request)
                margin = min(TOKEN_RENEW_MARGIN_SECONDS, lifetime / 10)
                self._expires_at = time.monotonic() + lifetime - margin
            return self._token

    def renews_on(self, status: int) -> bool:
        """Whether an API answer with this status asks for a new token."""
        return status in self.token_request.renew_on

    def refused(self, header: str | None) -> None:
        """The API refused this Authorization header: drop its token.

        A header holding an older token (another thread already replaced it) changes nothing.
        """
        with self._lock:
            if header == f"Bearer {self._token}":
                self._token = None
