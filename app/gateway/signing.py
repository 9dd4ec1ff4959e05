"""The provider's signature scheme, used to sign (sandbox) and to verify (webhook).

``Checkout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``,
keyed with ``GATEWAY_WEBHOOK_SECRET``. Signing the timestamp with the body lets
us refuse a captured notification replayed later; several ``v1`` entries are
accepted so a provider can rotate its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from app.payments.errors import BadSignature

HEADER = "Checkout-Signature"
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_HEADER_LENGTH = 1024


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value a provider sends with ``body``, signed now unless told otherwise."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={digest(secret, ts, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` against ``body``; return the signed timestamp.

    :raise BadSignature: missing or malformed header, no matching digest, or a
        timestamp more than ``tolerance`` seconds away from now (a replay).
    """
    if not header:
        raise BadSignature(f"The {HEADER} header is missing.")
    timestamp, candidates = _parse(header)
    expected = digest(secret, timestamp, body).encode("ascii")
    # compare_digest on every candidate: the time taken reveals nothing about the secret.
    matches = [hmac.compare_digest(expected, c.encode("ascii")) for c in candidates]
    if not any(matches):
        raise BadSignature("The signature does not match the body.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadSignature(
            f"The signature's timestamp is more than {tolerance} seconds from now; "
            "a notification cannot be replayed later."
        )
    return timestamp


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > MAX_HEADER_LENGTH:
        raise BadSignature(f"The {HEADER} header is too long.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _TIMESTAMP.match(value):
            timestamp = int(value)
        elif key == "v1" and _HEX_DIGEST.match(value):
            candidates.append(value)
    if timestamp is None or not candidates:
        raise BadSignature(f"The {HEADER} header must look like t=<timestamp>,v1=<hex digest>.")
    return timestamp, candidates
