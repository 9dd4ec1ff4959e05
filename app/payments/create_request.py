"""One create request, built once (``Checkout``), and the answers a create renders.

An answer is rendered once, to the exact text and headers every replay of its key will
repeat (``answer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from werkzeug.http import http_date

from app.i18n import N_
from app.models import Payment
from app.payments import idempotency
from app.payments.guards import Guard, current_guard
from app.payments.idempotency import KEY_EXPIRES_HEADER, Outcome
from app.payments.requests import PaymentRequest
from app.problem_types import PROBLEM_TYPES

# Where a created payment can be read (the Location of a 201).
PAYMENT_PATH = "/api/v1/payments/{id}"


@dataclass(frozen=True)
class Checkout:
    """One create request, built once: everything the phases of a create need to know about it.

    ``key_hash`` is None when no key was sent or the guard keeps none; ``expires`` is when
    a key claimed by this request stops being honoured (UTC).
    """

    user_id: int
    req: PaymentRequest
    guard: Guard
    key_hash: str | None
    fingerprint: str
    expires: datetime | None

    @classmethod
    def build(cls, user_id: int, req: PaymentRequest) -> Checkout:
        guard = current_guard()
        keyed = req.idempotency_key is not None and guard.use_key
        return cls(
            user_id,
            req,
            guard,
            idempotency.hash_key(req.idempotency_key) if keyed else None,
            idempotency.fingerprint(req.fingerprint_parts()),
            idempotency.expires_at(current_app.config["IDEMPOTENCY_TTL"]) if keyed else None,
        )

    @property
    def consultation_id(self) -> int:
        return self.req.consultation_id

    @property
    def cached(self) -> bool:
        """Whether Redis may answer (and learn) this request's outcome."""
        return self.key_hash is not None and self.guard.use_cache


def answer(
    status: int, body: dict[str, Any], payment_id: int | None, expires: datetime | None
) -> Outcome:
    """Render an outcome once, to the text and headers every replay will repeat."""
    headers = [("Content-Type", idempotency.content_type(status))]
    if status == 201 and payment_id is not None:
        headers.append(("Location", PAYMENT_PATH.format(id=payment_id)))
    if expires is not None:
        headers.append((KEY_EXPIRES_HEADER, http_date(expires)))
    return Outcome(status, idempotency.encode_body(body), tuple(headers), payment_id)


def conflict_body(existing: Payment) -> dict[str, Any]:
    """The 409 body naming the consultation's active payment (problem+json)."""
    kind = PROBLEM_TYPES["payment-exists"]
    return {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": (
            f"Consultation {existing.consultation_id} already has a {existing.status} "
            f"payment (#{existing.id})."
        ),
        "existing_payment_id": existing.id,
        "existing_payment_status": existing.status,
    }


KEY_MISMATCH_DETAIL = N_(
    "This idempotency key was already used for a different payment request. "
    "Use a new key for a new request."
)
