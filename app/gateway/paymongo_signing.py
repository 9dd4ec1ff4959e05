"""PayMongo's webhook signature, checked as its "Securing a webhook" page describes.

https://developers.paymongo.com/docs/securing-webhook: every delivery carries

    Paymongo-Signature: t=<unix seconds>,te=<hex>,li=<hex>

where each signature is the hex HMAC-SHA256, keyed with the webhook's secret key,
of ``"<t>." + <raw request body>``; ``te`` is filled for test-mode events and
``li`` for live-mode ones. We compare (constant time) against the one for the
mode our secret key is in (``sk_test_`` or ``sk_live_``), so a live site never
accepts a test event and the other way round.

Timestamp tolerance: PayMongo documents none, and retries a failed delivery up
to 12 times over about two hours without saying whether ``t`` is renewed for
each attempt (https://developers.paymongo.com/docs/developer-tools-webhooks-key-concepts).
We accept a ``t`` up to ``MAX_AGE_SECONDS`` (3 hours) old, so a genuine retry is
never refused, and at most ``MAX_SKEW_SECONDS`` (5 minutes) in the future, for
clock drift. A replay inside that window changes nothing: every event is
applied once per event id (``app.gateway.webhooks``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import time

from app.payments.errors import BadSignature

HEADER = "Paymongo-Signature"
MAX_AGE_SECONDS = 3 * 60 * 60
MAX_SKEW_SECONDS = 5 * 60
MAX_HEADER_LENGTH = 512
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


class Mode(enum.StrEnum):
    """Which of PayMongo's two signatures applies: the key's mode."""

    TEST = "te"
    LIVE = "li"


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, mode: Mode, timestamp: int | None = None) -> str:
    """The header PayMongo sends with ``body`` for an event in ``mode`` (the other part empty)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = digest(secret, ts, body)
    test, live = (signature, "") if mode is Mode.TEST else ("", signature)
    return f"t={ts},te={test},li={live}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    mode: Mode,
    now: float | None = None,
) -> int:
    """Check ``header`` against the raw ``body`` for an event in ``mode``; return ``t``.

    :raise BadSignature: a missing or malformed header, no signature for ``mode``, a
        signature that does not match, or a ``t`` more than ``MAX_AGE_SECONDS`` old or
        ``MAX_SKEW_SECONDS`` ahead.
    """
    if not header:
        raise BadSignature(f"The {HEADER} header is missing.")
    timestamp, signatures = _parse(header)
    given = signatures.get(mode)
    if not given:
        raise BadSignature(f"The {HEADER} header has no {mode.value} signature.")
    expected = digest(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii")):
        raise BadSignature("The signature does not match the body.")
    current = time.time() if now is None else now
    if timestamp < current - MAX_AGE_SECONDS or timestamp > current + MAX_SKEW_SECONDS:
        raise BadSignature(
            f"The signature's timestamp is outside {MAX_AGE_SECONDS} seconds before to "
            f"{MAX_SKEW_SECONDS} seconds after now."
        )
    return timestamp


def _parse(header: str) -> tuple[int, dict[Mode, str]]:
    """``t=…,te=…,li=…`` → (t, {mode: hex}); an empty part means no signature for that mode."""
    if len(header) > MAX_HEADER_LENGTH:
        raise BadSignature(f"The {HEADER} header is too long.")
    parts: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key in parts or key not in ("t", "te", "li"):
            raise BadSignature(f"The {HEADER} header must look like t=…,te=…,li=….")
        parts[key] = value.strip()
    if not _TIMESTAMP.match(parts.get("t", "")):
        raise BadSignature(f"The {HEADER} header needs t=<unix seconds>.")
    signatures: dict[Mode, str] = {}
    for mode in Mode:
        value = parts.get(mode.value, "")
        if value and not _HEX_DIGEST.match(value):
            raise BadSignature(f"The {HEADER} header's {mode.value} is not a hex SHA-256.")
        signatures[mode] = value.lower()
    return int(parts["t"]), signatures
