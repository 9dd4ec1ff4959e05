"""Domain errors: plain nouns, no HTTP. Each interface maps them to statuses and words in
one table: the JSON API in ``app/api/problems.py``, the HTML pages in ``app/pages.py``.
"""

from __future__ import annotations

from typing import Any

from app.i18n import N_

# Details are English; each interface shows them in the reader's language
# (app.i18n.translated): constants are marked N_, details with values are Phrases.
BUSY_DETAIL = N_("Payments are busy right now. Please try again in a moment.")


class PaymentError(Exception):
    """A refusal the caller can understand; nothing was written.

    ``detail`` is one sentence for a person; ``extra`` carries fields a client can
    act on (``errors``, ``retry_after`` in seconds, ``payment_status``...).
    """

    #: Seconds after which trying again may succeed; None when it cannot.
    retry_after: int | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidPaymentRequest(PaymentError):
    """A field is missing or malformed; ``errors`` names each field."""

    def __init__(self, detail: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail, errors=errors or {})
        self.errors = errors or {}


class ConsultationNotFound(PaymentError):
    """No such consultation, or another patient's."""


class NotYourConsultation(PaymentError):
    """Staff asked to pay for a patient's consultation."""


class PaymentNotFound(PaymentError):
    """No such payment, or another patient's."""


class Forbidden(PaymentError):
    """The actor may not do this (patients may not confirm or refund)."""


class KeyReuseMismatch(PaymentError):
    """The idempotency key was already used for a different request."""


class PaymentInProgress(PaymentError):
    """A request with the same idempotency key is still running."""

    retry_after = 1


class PaymentsBusy(PaymentError):
    """The database stayed locked or unavailable past its bound; nothing was written."""

    retry_after = 2

    def __init__(self, detail: str = BUSY_DETAIL, **extra: Any) -> None:
        extra.setdefault("retry_after", self.retry_after)
        super().__init__(detail, **extra)


class CheckoutUnavailable(PaymentsBusy):
    """The provider's hosted checkout could not be created or found just now (a timeout, a
    5xx, another request still creating it). The payment is kept as it is and no URL was
    shown: trying again is safe and leads to the payment's one hosted checkout."""


CHECKOUT_PREPARING_DETAIL = N_(
    "This payment's checkout page is still being prepared; nothing was charged. "
    "Repeat the request with the same idempotency key in a second."
)


class CheckoutPreparing(CheckoutUnavailable):
    """Another request is creating this payment's hosted checkout at the provider right now.

    Answered at once instead of waited for, so a slow provider never holds a worker per
    click: the patient's page moves on by itself once the checkout exists, and an API client
    repeats the request with the same key after ``retry_after`` seconds."""

    retry_after = 1

    def __init__(self, detail: str = CHECKOUT_PREPARING_DETAIL, **extra: Any) -> None:
        super().__init__(detail, **extra)


class ConsultationRefunded(PaymentError):
    """The consultation's payment was refunded: it is closed for payment.

    The refund and a new payment both lock the consultation first, so they cannot race.
    """


class InvalidTransition(PaymentError):
    """The payment's status does not allow that change."""


class PaymentNotDeletable(InvalidTransition):
    """Only a payment that moved no money (failed, expired, cancelled) may be deleted;
    a completed one is refunded instead, and a pending one may still be paid."""


class StaleVersion(PaymentError):
    """The payment changed since the caller read it (``expected_version``)."""


class DuplicateCharge(PaymentError):
    """The provider reports a second successful charge for one consultation.

    The payment itself does not change; a ``duplicate_charge`` event tells staff
    to refund the extra charge at the provider.
    """


class AmountMismatch(PaymentError):
    """The provider reports a charge whose amount or currency is not the payment's.

    Nothing is applied; an ``amount_mismatch`` event tells staff to check it.
    """


class TransactionIdInUse(PaymentError):
    """The provider's transaction id already confirmed another payment."""


class WebhookRejected(PaymentError):
    """A notification we cannot trust or read; nothing was written."""


class MalformedWebhook(WebhookRejected):
    """Signed, but not an event we can read."""


class BadSignature(WebhookRejected):
    """The notification's signature is missing, wrong or too old."""


def most_specific(table: dict[type, Any], error: Exception) -> Any:
    """``table``'s entry for the error's class or its nearest ancestor (a mapping helper
    for the interfaces' tables)."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(type(error).__name__)
