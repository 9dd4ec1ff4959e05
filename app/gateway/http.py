"""One HTTPS call to a payment provider, its failures in the port's terms (every adapter's edge).

A provider call never waits longer than its ``httpx.Timeout`` and is never made inside a
database transaction. What an answer means is the same for every provider we speak to:
no answer in time is ``ProviderTimeout`` (it may have acted), no connection, 429 or 5xx is
``ProviderUnavailable`` (it may have acted), any other 4xx is ``ProviderRefused`` (sending
again cannot help). Authentication is HTTP Basic with the secret key as user name and no
password, as both PayMongo and Xendit document.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from app.payments.provider import ProviderRefused, ProviderTimeout, ProviderUnavailable

#: Seconds: connecting, sending, and waiting for the answer.
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
MAX_ERROR_TEXT = 300


def read_timeout(seconds: float) -> httpx.Timeout:
    """``TIMEOUT`` with its read bound (seconds) replaced."""
    return httpx.Timeout(
        connect=TIMEOUT.connect, read=float(seconds), write=TIMEOUT.write, pool=TIMEOUT.pool
    )


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context (certifi's CA bundle, or ``SSL_CERT_FILE``), built
    once per process, on its first provider call, and shared by every call after it.

    Building one loads the whole CA bundle: about 40 ms of CPU, more than the rest of a
    checkout, which a new ``httpx.Client`` would otherwise pay on every provider call. A
    context holds settings and trusted certificates, no connection; OpenSSL lets several
    threads open connections from one context at once."""
    return httpx.create_ssl_context()


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.netloc.decode()}"


@dataclass(frozen=True)
class ProviderAPI:
    """A provider's API: its name (in messages), base URL, secret key and timeout.

    ``error_detail`` reads the provider's own error text out of a 4xx answer.
    """

    provider: str
    api_url: str
    secret_key: str
    timeout: httpx.Timeout
    error_detail: Callable[[httpx.Response], str]

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request; the 2xx response.

        :raise ProviderTimeout: no answer within the timeout.
        :raise ProviderUnavailable: no connection, 429 or 5xx.
        :raise ProviderRefused: any other 4xx, with the provider's own detail (bounded).
        """
        try:
            with httpx.Client(
                base_url=self.api_url,
                auth=(self.secret_key, ""),
                timeout=self.timeout,
                verify=tls_context(),
            ) as client:
                response = client.request(method, path, **options)
        except httpx.TimeoutException:
            raise ProviderTimeout(
                f"{self.provider} did not answer {method} {path} in time."
            ) from None
        except httpx.TransportError as error:
            raise ProviderUnavailable(
                f"{self.provider} could not be reached: {type(error).__name__}."
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"{self.provider} answered {response.status_code}.")
        if response.status_code >= 400:
            detail = self.error_detail(response) or response.reason_phrase or "no detail"
            raise ProviderRefused(
                f"{self.provider} refused ({response.status_code}): {detail[:MAX_ERROR_TEXT]}"
            )
        return response


def reject_constant(name: str):
    """For ``json.loads(parse_constant=…)``: NaN and Infinity are never amounts."""
    raise ValueError(f"{name} is not a number")
