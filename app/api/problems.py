"""problem+json responses (RFC 9457): the API's one place that picks HTTP codes.

Two tables: ``PROBLEMS`` maps each domain error to its status, type and title;
``PROBLEM_TYPES`` is every ``type`` the API can send, each a page at
``/problems/<slug>`` (problem_pages.py) saying what happened, whether retrying can
help, and what to do. ``problem()`` refuses a slug without a page, so a new type
cannot ship without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import Response

from app.i18n import translated
from app.payments import errors
from app.payments.errors import PaymentError, most_specific
from app.payments.idempotency import encode_body

PROBLEM_TYPE = "application/problem+json"
ABOUT_BLANK = "about:blank"


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


@dataclass(frozen=True)
class ProblemType:
    """One problem ``type``: its status, title and the page's three answers."""

    slug: str
    status: int
    title: str
    happened: str
    retry: str
    action: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


_NO_RETRY = "No: the same request will be refused the same way."
_RETRY_LATER = "Yes: send the same request again (same idempotency key) after Retry-After seconds."
_NOTHING = "Nothing was written and nothing was charged."

PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        ProblemType(
            "payment-exists",
            409,
            "This consultation already has a payment",
            "The consultation already has a pending, processing or completed payment; "
            "a second one was not created. The answer names it (existing_payment_id).",
            _NO_RETRY,
            "Read the existing payment at /api/v1/payments/{existing_payment_id} and follow it.",
        ),
        ProblemType(
            "idempotency-key-reused",
            422,
            "Idempotency key reused for a different request",
            f"This key already belongs to a request with other fields. {_NOTHING}",
            _NO_RETRY,
            "Use a new idempotency key for a new request; reuse a key only to retry the "
            "exact same request.",
        ),
        ProblemType(
            "payment-in-progress",
            409,
            "A request with this idempotency key is still being processed",
            "The first request with this key has not finished yet.",
            _RETRY_LATER,
            "Retry with the same key; you will get the first request's answer.",
        ),
        ProblemType(
            "idempotency-key-missing",
            400,
            "An idempotency key is required",
            f"This server requires an idempotency key on every create. {_NOTHING}",
            "Yes, once the request carries a key.",
            "Send a new unique key in the Idempotency-Key header (or idempotency_key in the "
            "body) and keep it for retries of this request.",
        ),
        ProblemType(
            "idempotency-key-malformed",
            400,
            "The Idempotency-Key header is not one key",
            "The header was sent several times, as a list, with parameters, or with broken "
            f"quoting. {_NOTHING}",
            _NO_RETRY,
            'Send one key: quoted as an RFC 8941 string ("abc-123", with \\" and \\\\ '
            "escaped) or bare (abc-123).",
        ),
        ProblemType(
            "invalid-request",
            422,
            "The request is not valid",
            f"One or more fields are wrong; errors names each one. {_NOTHING}",
            _NO_RETRY,
            "Fix the fields named in errors, then send the request again.",
        ),
        ProblemType(
            "malformed-body",
            400,
            "Bad request body",
            f"The body is not a JSON object. {_NOTHING}",
            _NO_RETRY,
            "Send a JSON object as the body.",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported content type",
            f"The body was not sent as application/json. {_NOTHING}",
            _NO_RETRY,
            "Send the body with Content-Type: application/json.",
        ),
        ProblemType(
            "unauthorized",
            401,
            "Authentication required",
            "No valid API token came with the request.",
            "Yes, with a valid token.",
            "Send 'Authorization: Bearer <token>' with a token from the clinic.",
        ),
        ProblemType(
            "forbidden",
            403,
            "Not allowed",
            f"Your account may not do this. {_NOTHING}",
            _NO_RETRY,
            "Use an account that may, or ask the clinic's staff.",
        ),
        ProblemType(
            "not-found",
            404,
            "Not found",
            "The consultation, payment or page does not exist, or is not yours.",
            _NO_RETRY,
            "Check the id or the address.",
        ),
        ProblemType(
            "busy",
            503,
            "Payments are busy",
            f"The database stayed locked or unavailable past its bound. {_NOTHING}",
            _RETRY_LATER,
            "Retry with the same idempotency key, so a retry cannot pay twice.",
        ),
        ProblemType(
            "invalid-transition",
            409,
            "The payment cannot change that way",
            "The payment's status does not allow this change (for example refunding a "
            "pending payment).",
            _NO_RETRY,
            "Read the payment's current status first.",
        ),
        ProblemType(
            "stale-version",
            409,
            "The payment changed since you read it",
            "expected_version no longer matches the payment's version.",
            "Yes, after reading the payment again.",
            "Read the payment, check it still needs this change, and send its new version.",
        ),
        ProblemType(
            "duplicate-charge",
            409,
            "The provider charged this payment twice",
            "The provider reports a second successful charge for one consultation. The payment "
            "does not change; staff see a duplicate_charge event.",
            _NO_RETRY,
            "Staff refund the extra charge at the provider.",
        ),
        ProblemType(
            "amount-mismatch",
            409,
            "The provider reported a different amount",
            "The provider reported a charge whose amount or currency differs from the "
            "payment's. Nothing was applied; staff see it on the attention page.",
            _NO_RETRY,
            "Staff compare the charge at the provider with the invoice and refund or "
            "settle the difference there.",
        ),
        ProblemType(
            "consultation-refunded",
            409,
            "This consultation was refunded",
            f"The consultation's payment was refunded, so it is closed for payment. {_NOTHING}",
            _NO_RETRY,
            "Do not pay again for this consultation; ask the clinic if you expected to.",
        ),
        ProblemType(
            "transaction-id-in-use",
            409,
            "That transaction id already confirmed another payment",
            "One provider transaction can confirm one payment only.",
            _NO_RETRY,
            "Check the transaction id against the provider's records.",
        ),
        ProblemType(
            "webhook-rejected",
            400,
            "Webhook rejected",
            f"The notification could not be trusted or read. {_NOTHING}",
            _NO_RETRY,
            "Check the notification's format and signature.",
        ),
        ProblemType(
            "malformed-webhook",
            400,
            "The notification is not a valid event",
            f"The notification's body is not an event we know. {_NOTHING}",
            _NO_RETRY,
            "Send the event as the provider's documented JSON.",
        ),
        ProblemType(
            "bad-signature",
            401,
            "The notification's signature is missing, wrong or too old",
            f"The signature does not match the body, or its timestamp is too old. {_NOTHING}",
            "Yes, once signed again with the current secret and time.",
            "Sign the exact body with the shared secret and send it promptly.",
        ),
        ProblemType(
            "payment-error",
            400,
            "Payment request refused",
            f"The payment request was refused. {_NOTHING}",
            _NO_RETRY,
            "Read detail, fix the request, and send it again.",
        ),
        ProblemType(
            "not-ready",
            503,
            "Not ready",
            "This instance cannot reach its database (/readyz); a load balancer should send "
            "requests to another instance.",
            "Yes, once the database answers again.",
            "Operators: check the database and the instance's DATABASE_URL (docs/operations.md).",
        ),
        # The app-wide HTTP errors (app/errors.py), named after their status text.
        ProblemType(
            "bad-request",
            400,
            "Bad Request",
            f"The request could not be understood. {_NOTHING}",
            _NO_RETRY,
            "Check the request's syntax.",
        ),
        ProblemType(
            "page-expired",
            400,
            "Page expired",
            f"The form's CSRF token is missing or old. {_NOTHING}",
            "Yes, after reloading the page.",
            "Reload the page and send it again.",
        ),
        ProblemType(
            "method-not-allowed",
            405,
            "Method Not Allowed",
            "This address does not accept that HTTP method.",
            _NO_RETRY,
            "Use a method the Allow header lists.",
        ),
        ProblemType(
            "request-entity-too-large",
            413,
            "Request Entity Too Large",
            f"The body is larger than the server accepts. {_NOTHING}",
            _NO_RETRY,
            "Send a smaller body.",
        ),
        ProblemType(
            "too-many-requests",
            429,
            "Too Many Requests",
            f"Too many requests in a short time. {_NOTHING}",
            _RETRY_LATER,
            "Slow down; wait Retry-After seconds.",
        ),
        ProblemType(
            "internal-server-error",
            500,
            "Internal Server Error",
            "Something failed on our side. A payment's transaction either committed whole or "
            "not at all.",
            "Yes, with the same idempotency key: it cannot pay twice.",
            "Retry with the same key; if it keeps failing, tell the clinic.",
        ),
        ProblemType(
            "service-unavailable",
            503,
            "Service Unavailable",
            f"The database is unavailable right now. {_NOTHING}",
            _RETRY_LATER,
            "Retry with the same idempotency key.",
        ),
    )
}


def type_uri(slug: str) -> str:
    """The ``type`` of a registered problem; KeyError for a slug without a page."""
    return PROBLEM_TYPES[slug].uri


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    mimetype = PROBLEM_TYPE if status >= 400 else "application/json"
    response = Response(encode_body(body), status=status, mimetype=mimetype)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    """problem+json: ``title`` stays English (clients match on it, with ``type``); ``detail``
    is for a person and follows the request's Accept-Language (app.i18n)."""
    body = {"type": type_uri(slug), "title": title, "status": status, "detail": translated(detail)}
    return _problem_response(body, extra)


def http_problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An app-wide HTTP error: its registered type by status text, else ``about:blank``."""
    slug = title.lower().replace(" ", "-")
    kind = PROBLEM_TYPES[slug].uri if slug in PROBLEM_TYPES else ABOUT_BLANK
    body = {"type": kind, "title": title, "status": status, "detail": translated(detail)}
    return _problem_response(body, extra)


def _problem_response(body: dict[str, Any], extra: dict[str, Any]) -> Response:
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_response(body, body["status"], headers)


def from_error(error: PaymentError) -> Response:
    """The error as problem+json, with its status from ``PROBLEMS`` and ``Retry-After`` if any."""
    status, slug, title = most_specific(PROBLEMS, error)
    return problem(status, title, error.detail, slug, **error.extra)
