"""problem+json responses (RFC 9457): the API's one place that picks HTTP codes."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from flask import Response

from app.payments import errors
from app.payments.errors import PaymentError, most_specific

PROBLEM_TYPE = "application/problem+json"


class Problem(NamedTuple):
    status: int
    slug: str
    title: str


# Each domain error's HTTP status, problem type and title (a subclass may inherit its parent's).
PROBLEMS: dict[type[PaymentError], Problem] = {
    PaymentError: Problem(400, "payment-error", "Payment request refused"),
    errors.InvalidPaymentRequest: Problem(
        422, "invalid-request", "The payment request is not valid"
    ),
    errors.ConsultationNotFound: Problem(404, "not-found", "Consultation not found"),
    errors.NotYourConsultation: Problem(403, "forbidden", "Not your consultation"),
    errors.PaymentNotFound: Problem(404, "not-found", "Payment not found"),
    errors.Forbidden: Problem(403, "forbidden", "Not allowed"),
    errors.KeyReuseMismatch: Problem(
        422, "idempotency-key-reused", "Idempotency key reused for a different request"
    ),
    errors.PaymentInProgress: Problem(
        409,
        "payment-in-progress",
        "A request with this idempotency key is still being processed",
    ),
    errors.PaymentsBusy: Problem(503, "busy", "Payments are busy"),
    errors.ConsultationRefunded: Problem(
        409, "consultation-refunded", "This consultation was refunded"
    ),
    errors.InvalidTransition: Problem(
        409, "invalid-transition", "The payment cannot change that way"
    ),
    errors.StaleVersion: Problem(409, "stale-version", "The payment changed since you read it"),
    errors.DuplicateCharge: Problem(
        409, "duplicate-charge", "The provider charged this payment twice"
    ),
    errors.AmountMismatch: Problem(
        409, "amount-mismatch", "The provider reported a different amount"
    ),
    errors.TransactionIdInUse: Problem(
        409, "transaction-id-in-use", "That transaction id already confirmed another payment"
    ),
    errors.WebhookRejected: Problem(400, "webhook-rejected", "Webhook rejected"),
    errors.MalformedWebhook: Problem(
        400, "malformed-webhook", "The notification is not a valid event"
    ),
    errors.BadSignature: Problem(
        401, "bad-signature", "The notification's signature is missing, wrong or too old"
    ),
}


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    mimetype = PROBLEM_TYPE if status >= 400 else "application/json"
    response = Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype=mimetype,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_response(body, status, headers)


def from_error(error: PaymentError) -> Response:
    """The error as problem+json, with its status from ``PROBLEMS`` and ``Retry-After`` if any."""
    status, slug, title = most_specific(PROBLEMS, error)
    return problem(status, title, error.detail, slug, **error.extra)
