"""Every problem a request can meet, keyed by its slug: the one table of statuses and words.

Read by the JSON API (problem+json, ``app/api/problems.py``), the HTML pages
(``app/pages.py``, ``app/http_errors.py``) and the problem pages (``/problems/<slug>``,
``app/api/problem_pages.py``). A problem's ``type`` is ``/problems/<slug>``; its ``title``
is English and fixed, never built per occurrence (RFC 9457, section 3.1.3: clients match
on ``type`` and may show ``title``). ``ERRORS`` names each domain error's problem.

Words a person reads on an HTML page are English msgids (marked ``N_``), translated when
shown; ``title``, ``happened``, ``retry`` and ``action`` are the API's English.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.i18n import N_
from app.payments import errors
from app.payments.errors import PaymentError

#: The message of a form whose hidden token or key can no longer be used.
FORM_INVALID = N_("This form can no longer be used. Reload the page, then press Pay again.")


@dataclass(frozen=True)
class ProblemType:
    """One problem: its status, title, the HTML pages' words and the problem page's answers."""

    slug: str
    status: int
    title: str
    #: The problem page's three answers: what happened, will retrying help, what to do.
    happened: str
    retry: str
    action: str
    #: An HTML page's heading for it (an msgid); None: the page shows ``title``.
    page_title: str | None = None
    #: What a person reads on an HTML page (an msgid); nothing was written.
    page_message: str | None = None
    #: The HTML page is stale: offer a reload rather than "try again".
    offer_reload: bool = False

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


_NO_RETRY = "No: the same request will be refused the same way."
_RETRY_LATER = "Yes: send the same request again (same idempotency key) after Retry-After seconds."
_NOTHING = "Nothing was written and nothing was charged."

PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        # --- the domain's refusals (ERRORS below) ---------------------------------------
        ProblemType(
            "payment-error",
            400,
            "Payment request refused",
            f"The payment request was refused. {_NOTHING}",
            _NO_RETRY,
            "Read detail, fix the request, and send it again.",
            page_message=N_("We could not take this payment. Reload the page and try again."),
            offer_reload=True,
        ),
        ProblemType(
            "invalid-request",
            422,
            "The request is not valid",
            f"One or more fields are wrong; errors names each one. {_NOTHING}",
            _NO_RETRY,
            "Fix the fields named in errors, then send the request again.",
            page_message=N_("Please check the form below."),
        ),
        ProblemType(
            "consultation-not-found",
            404,
            "Consultation not found",
            "The consultation does not exist, or is not yours.",
            _NO_RETRY,
            "Check the consultation's id.",
            page_message=N_("We could not find that consultation."),
        ),
        ProblemType(
            "not-your-consultation",
            403,
            "Not your consultation",
            f"Only the patient whose consultation it is may pay for it. {_NOTHING}",
            _NO_RETRY,
            "The patient pays with their own account.",
            page_message=N_("Staff cannot pay for a patient's consultation."),
        ),
        ProblemType(
            "payment-not-found",
            404,
            "Payment not found",
            "The payment does not exist, or is not yours.",
            _NO_RETRY,
            "Check the payment's id.",
            page_message=N_("We could not find that payment."),
        ),
        ProblemType(
            "forbidden",
            403,
            "Not allowed",
            f"Your account may not do this. {_NOTHING}",
            _NO_RETRY,
            "Use an account that may, or ask the clinic's staff.",
            page_title=N_("Not allowed"),
            page_message=N_("You are not allowed to do that."),
        ),
        ProblemType(
            "idempotency-key-reused",
            422,
            "Idempotency key reused for a different request",
            f"This key already belongs to a request with other fields. {_NOTHING}",
            _NO_RETRY,
            "Use a new idempotency key for a new request; reuse a key only to retry the "
            "exact same request.",
            page_message=FORM_INVALID,
            offer_reload=True,
        ),
        ProblemType(
            "payment-in-progress",
            409,
            "A request with this idempotency key is still being processed",
            "The first request with this key has not finished yet.",
            _RETRY_LATER,
            "Retry with the same key; you will get the first request's answer.",
            page_message=N_(
                "Your payment is still being processed. Wait a moment, then press Pay again."
            ),
        ),
        ProblemType(
            "busy",
            503,
            "Payments are busy",
            f"The database stayed locked or unavailable past its bound. {_NOTHING}",
            _RETRY_LATER,
            "Retry with the same idempotency key, so a retry cannot pay twice.",
            page_message=N_(
                "We are busy right now and nothing was charged. Please try again in a moment."
            ),
        ),
        ProblemType(
            "consultation-refunded",
            409,
            "This consultation was refunded",
            f"The consultation's payment was refunded, so it is closed for payment. {_NOTHING}",
            _NO_RETRY,
            "Do not pay again for this consultation; ask the clinic if you expected to.",
            page_message=N_("This consultation was refunded, so it cannot be paid again here."),
        ),
        ProblemType(
            "invalid-transition",
            409,
            "The payment cannot change that way",
            "The payment's status does not allow this change (for example refunding a "
            "pending payment).",
            _NO_RETRY,
            "Read the payment's current status first.",
            page_message=N_("This payment cannot change that way."),
        ),
        ProblemType(
            "payment-not-deletable",
            409,
            "Only a payment that moved no money can be deleted",
            f"The payment is pending, paid or refunded. {_NOTHING}",
            _NO_RETRY,
            "Delete only failed, expired or cancelled payments.",
            page_message=N_(
                "Only a payment that moved no money (failed, expired or cancelled) can be deleted."
            ),
        ),
        ProblemType(
            "stale-version",
            409,
            "The payment changed since you read it",
            "expected_version no longer matches the payment's version.",
            "Yes, after reading the payment again.",
            "Read the payment, check it still needs this change, and send its new version.",
            page_message=N_("This payment changed since you opened it. Reload the page."),
        ),
        ProblemType(
            "duplicate-charge",
            409,
            "The provider charged this payment twice",
            "The provider reports a second successful charge for one consultation. The payment "
            "does not change; staff see a duplicate_charge event.",
            _NO_RETRY,
            "Staff refund the extra charge at the provider.",
            page_message=N_("The provider charged this payment twice."),
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
            page_message=N_("The provider reported a different amount."),
        ),
        ProblemType(
            "transaction-id-in-use",
            409,
            "That transaction id already confirmed another payment",
            "One provider transaction can confirm one payment only.",
            _NO_RETRY,
            "Check the transaction id against the provider's records.",
            page_message=N_("That transaction already paid another payment."),
        ),
        ProblemType(
            "webhook-rejected",
            400,
            "Webhook rejected",
            f"The notification could not be trusted or read. {_NOTHING}",
            _NO_RETRY,
            "Check the notification's format and signature.",
            page_message=N_("The notification was rejected."),
        ),
        ProblemType(
            "malformed-webhook",
            400,
            "The notification is not a valid event",
            "The notification is signed, but its body is not an event we can read or store. "
            "It was kept for staff, who see it on the attention page; nothing was applied.",
            _NO_RETRY,
            "Send the event as the provider's documented JSON.",
            page_message=N_("The notification was rejected."),
        ),
        ProblemType(
            "bad-signature",
            401,
            "The notification's signature is missing, wrong or too old",
            f"The signature does not match the body, or its timestamp is too old. {_NOTHING}",
            "Yes, once signed again with the current secret and time.",
            "Sign the exact body with the shared secret and send it promptly.",
            page_message=N_("The notification's signature is not valid."),
        ),
        # --- the API's own refusals, before any domain rule -------------------------------
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
            "malformed-body",
            400,
            "Bad request body",
            f"The body is not a JSON object. {_NOTHING}",
            _NO_RETRY,
            "Send a JSON object as the body.",
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
        # --- the app-wide HTTP errors (app/http_errors.py, HTTP_ERRORS) --------------------
        ProblemType(
            "bad-request",
            400,
            "Bad Request",
            f"The request could not be understood. {_NOTHING}",
            _NO_RETRY,
            "Check the request's syntax.",
            page_title=N_("Something is wrong with this request"),
            page_message=N_("The request could not be understood."),
        ),
        ProblemType(
            "page-expired",
            400,
            "Page expired",
            f"The form's CSRF token is missing or old. {_NOTHING}",
            "Yes, after reloading the page.",
            "Reload the page and send it again.",
            page_title=N_("Page expired"),
            page_message=N_(
                "This page has expired or was opened elsewhere. Reload the page and try again."
            ),
        ),
        ProblemType(
            "unauthorized",
            401,
            "Authentication required",
            "No valid API token came with the request.",
            "Yes, with a valid token.",
            "Send 'Authorization: Bearer <token>' with a token from the clinic.",
            page_title=N_("Please log in"),
            page_message=N_("Please log in."),
        ),
        ProblemType(
            "not-found",
            404,
            "Not found",
            "The page does not exist.",
            _NO_RETRY,
            "Check the address.",
            page_title=N_("Not found"),
            page_message=N_("We could not find that page."),
        ),
        ProblemType(
            "method-not-allowed",
            405,
            "Method Not Allowed",
            "This address does not accept that HTTP method.",
            _NO_RETRY,
            "Use a method the Allow header lists.",
            page_title=N_("Not allowed here"),
            page_message=N_("That action is not allowed here."),
        ),
        ProblemType(
            "request-entity-too-large",
            413,
            "Request Entity Too Large",
            f"The body is larger than the server accepts. {_NOTHING}",
            _NO_RETRY,
            "Send a smaller body.",
            page_title=N_("Too large"),
            page_message=N_("The request is too large."),
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported content type",
            f"The body was not sent as application/json. {_NOTHING}",
            _NO_RETRY,
            "Send the body with Content-Type: application/json.",
            page_title=N_("Unsupported content type"),
            page_message=N_("Unsupported content type."),
        ),
        ProblemType(
            "too-many-requests",
            429,
            "Too Many Requests",
            f"Too many requests in a short time. {_NOTHING}",
            _RETRY_LATER,
            "Slow down; wait Retry-After seconds.",
            page_title=N_("Too many requests"),
            page_message=N_("Too many requests. Please wait a moment and try again."),
        ),
        ProblemType(
            "internal-server-error",
            500,
            "Internal Server Error",
            "Something failed on our side. A payment's transaction either committed whole or "
            "not at all.",
            "Yes, with the same idempotency key: it cannot pay twice.",
            "Retry with the same key; if it keeps failing, tell the clinic.",
            page_title=N_("Something went wrong"),
            page_message=N_(
                "Something went wrong on our side. Nothing was charged; please try again."
            ),
        ),
        ProblemType(
            "service-unavailable",
            503,
            "Service Unavailable",
            f"The database is unavailable right now. {_NOTHING}",
            _RETRY_LATER,
            "Retry with the same idempotency key.",
            page_title=N_("Busy right now"),
            page_message=N_("We are busy right now. Please try again in a moment."),
        ),
    )
}

#: Each domain error's problem (a subclass without an entry takes its nearest parent's).
ERRORS: dict[type[PaymentError], str] = {
    PaymentError: "payment-error",
    errors.InvalidPaymentRequest: "invalid-request",
    errors.ConsultationNotFound: "consultation-not-found",
    errors.NotYourConsultation: "not-your-consultation",
    errors.PaymentNotFound: "payment-not-found",
    errors.Forbidden: "forbidden",
    errors.KeyReuseMismatch: "idempotency-key-reused",
    errors.PaymentInProgress: "payment-in-progress",
    errors.PaymentsBusy: "busy",
    errors.ConsultationRefunded: "consultation-refunded",
    errors.InvalidTransition: "invalid-transition",
    errors.PaymentNotDeletable: "payment-not-deletable",
    errors.StaleVersion: "stale-version",
    errors.DuplicateCharge: "duplicate-charge",
    errors.AmountMismatch: "amount-mismatch",
    errors.TransactionIdInUse: "transaction-id-in-use",
    errors.WebhookRejected: "webhook-rejected",
    errors.MalformedWebhook: "malformed-webhook",
    errors.BadSignature: "bad-signature",
}

#: The app-wide HTTP errors with words of their own, by status; others are ``about:blank``.
HTTP_ERRORS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "request-entity-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    500: "internal-server-error",
    503: "service-unavailable",
}
